"""Circuit resources and Aer run times of the collective charging circuit, side by side.

1. Two-qubit gates and depth **per collision** of the palindromic charging circuit, N = 2..8,
   against the minimum 2(2N-1) + 1 CX (2N-1 exchange gates at 2 CX each, 1 CX for the purified
   ancilla): logical (basis cx+u, no connectivity) and after transpiling to a heavy-hex fake IBM
   backend (routing included). Per collision = [count(n=5) - count(n=1)] / 4, which removes the
   one-off state preparation and final-layer effects (routing makes the heavy-hex numbers vary a
   little from one collision count to the next).
2. Aer wall time per collision, N = 2..10: exact density matrix (width N+2, resets) vs 1000-shot
   sampling (SamplerV2 through run_counts: density-matrix method while 2^width <= shots, else automatic) vs a naive build with a fresh ancilla + partner per
   collision and no reset (width N+2n: only as far as memory allows).
3. Target check: 100 collisions at N = 4, exact density matrix, < 2 s (build + run).
4. ``--noisy``: the exact noisy density matrix (transpiled circuit on a 156-qubit fake device's
   noise model, Aer density-matrix method) with the noise model restricted to the used qubits
   (:func:`qcharge.execute.restricted_noise_model`) against Aer's full ``NoiseModel.from_backend``
   on the same transpiled circuit: wall times and the largest difference of the two states; and
   the wall time of a cold ``qcharge run charge --exact`` process.

Run:  nice python benchmarks/bench_circuits.py [--quick] [--out benchmarks/results]
      nice python benchmarks/bench_circuits.py --noisy [--out benchmarks/results]
Writes ``circuits.json`` and ``circuits.md`` (or ``circuits_noisy.json`` / ``.md``) in ``--out`` and
prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from qiskit import QuantumCircuit

from qcharge.circuits.charging import charging_circuit
from qcharge.circuits.collisions import append_collision, append_save_marker
from qcharge.protocol import charging_plan, trotter_schedule
from qcharge.circuits.thermal import thermal_angle
from qcharge.execute import fake_backend, resources, run_counts, run_density_matrix
from qcharge.params import Atoms, Bath, Collision, InitialState

THETA, TEMPERATURE = 0.3, 1.0
# Density-matrix memory is 16 * 4^width bytes: width 12 -> 256 MiB (the shared machine's limit here).
MAX_DM_WIDTH = 12
# Statevector (shots) memory 16 * 2^width: width 22 -> 64 MiB, but 1000 shots x many gates is slow.
MAX_SV_WIDTH = 20
# Collisions between the two builds whose difference gives the per-collision gate counts.
SPAN = 4


def charging(n: int, n_coll: int, *, measure: bool = False, ordering: str = "palindromic") -> QuantumCircuit:
    plan = charging_plan(Atoms(n), Bath(TEMPERATURE), InitialState(), Collision(THETA, ordering), n_coll, seed=1)
    return charging_circuit(plan, measure=measure)


def naive(n: int, n_coll: int, *, measure: bool = False) -> QuantumCircuit:
    """Fresh ancilla + partner qubits for every collision, no reset: width N + 2 n."""
    pe = Bath(TEMPERATURE).excited_probability
    qc = QuantumCircuit(n + 2 * n_coll, n if measure else 0)
    sched = trotter_schedule(n, "palindromic", n_coll)
    for c in range(n_coll):
        a, b = n + 2 * c, n + 2 * c + 1
        qc.ry(thermal_angle(pe), a)
        qc.cx(a, b)
        append_collision(qc, range(n), a, THETA, sched[c])
    append_save_marker(qc, f"rho_{n_coll}", list(range(n)))
    if measure:
        qc.measure(range(n), range(n))
        qc.metadata = {"counts_register": None}
    return qc


def timed(fn, repeat: int = 1) -> float:
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def gate_table(ns, backend_name: str) -> list[dict]:
    backend = fake_backend(backend_name)
    rows = []
    for n in ns:
        row = {"N": n, "min_2q": 2 * (2 * n - 1) + 1}
        r1, r3 = resources(charging(n, 1)), resources(charging(n, 1 + SPAN))
        h1 = resources(charging(n, 1), backend, seed=1)
        h3 = resources(charging(n, 1 + SPAN), backend, seed=1)
        row["logical_2q"] = (r3["transpiled_two_qubit_gates"] - r1["transpiled_two_qubit_gates"]) / SPAN
        row["logical_depth"] = (r3["transpiled_depth"] - r1["transpiled_depth"]) / SPAN
        row["logical_2q_depth"] = (r3["transpiled_two_qubit_depth"] - r1["transpiled_two_qubit_depth"]) / SPAN
        row["hw_2q"] = (h3["transpiled_two_qubit_gates"] - h1["transpiled_two_qubit_gates"]) / SPAN
        row["hw_depth"] = (h3["transpiled_depth"] - h1["transpiled_depth"]) / SPAN
        row["hw_2q_depth"] = (h3["transpiled_two_qubit_depth"] - h1["transpiled_two_qubit_depth"]) / SPAN
        row["hw_transpile_s"] = h1["transpile_seconds"] + h3["transpile_seconds"]
        rows.append(row)
        print(f"  gates N={n}: {row}", flush=True)
    return rows


def timing_table(ns, shots: int, quick: bool) -> list[dict]:
    rows = []
    for n in ns:
        width = n + 2
        n_dm = 100 if width <= 8 else (20 if width <= 10 else (4 if width <= 11 else 2))
        rep = 2 if width <= 8 else 1  # best of 2 where cheap: the machine is shared
        n_sh = 20 if not quick else 5
        if quick:
            n_dm = min(n_dm, 20)
        row = {"N": n, "width": width, "dm_collisions": n_dm, "shot_collisions": n_sh, "shots": shots}
        row["dm_s_per_collision"] = timed(lambda: run_density_matrix(charging(n, n_dm)), rep) / n_dm
        row["shots_s_per_collision"] = timed(
            lambda: run_counts(charging(n, n_sh, measure=True), shots=shots, seed=1), rep) / n_sh
        k_dm = (MAX_DM_WIDTH - n) // 2
        if k_dm >= 1:
            row["naive_dm_collisions"] = k_dm
            row["naive_dm_width"] = n + 2 * k_dm
            row["naive_dm_s_per_collision"] = timed(lambda: run_density_matrix(naive(n, k_dm))) / k_dm
        k_sv = min((MAX_SV_WIDTH - n) // 2, n_sh)
        if k_sv >= 1:
            row["naive_shots_collisions"] = k_sv
            row["naive_shots_width"] = n + 2 * k_sv
            row["naive_shots_s_per_collision"] = timed(
                lambda: run_counts(naive(n, k_sv, measure=True), shots=shots, seed=1)) / k_sv
        rows.append(row)
        print(f"  timing N={n}: {row}", flush=True)
    return rows


def target_check() -> dict:
    t_first = timed(lambda: run_density_matrix(charging(4, 100)))
    t_warm = timed(lambda: run_density_matrix(charging(4, 100)), repeat=3)
    t_build = timed(lambda: charging(4, 100), repeat=3)
    return {"N": 4, "collisions": 100, "first_call_s": t_first, "warm_s": t_warm, "build_s": t_build,
            "target_s": 2.0, "met": bool(t_first < 2.0 and t_warm < 2.0)}


def noisy_table(devices, n_collisions: int = 24) -> list[dict]:
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel

    from qcharge.coherence import heat_exchange_coherence
    from qcharge.execute import prepare_for_aer
    from qcharge.states import from_qiskit_order

    rows = []
    label = f"rho_{n_collisions}"
    for name in devices:
        device = fake_backend(name)
        qc = charging(2, n_collisions)
        ideal = run_density_matrix(qc)[0][label]
        t_first = timed(lambda: run_density_matrix(qc, backend=device, seed=1))
        t_warm = timed(lambda: run_density_matrix(qc, backend=device, seed=1), repeat=2)
        restricted = run_density_matrix(qc, backend=device, seed=1)[0][label]
        tq = generate_preset_pass_manager(optimization_level=1, backend=device, seed_transpiler=1).run(qc)
        prepared = prepare_for_aer(tq)
        t0 = time.perf_counter()
        model = NoiseModel.from_backend(device)
        t_model = time.perf_counter() - t0
        sim = AerSimulator(method="density_matrix", noise_model=model)
        t0 = time.perf_counter()
        data = sim.run(prepared, shots=1, seed_simulator=1).result().data(0)
        t_run = time.perf_counter() - t0
        full = from_qiskit_order(np.asarray(data[label]))
        rows.append({
            "device": device.name, "device_qubits": device.num_qubits, "collisions": n_collisions,
            "transpiled_two_qubit_gates": resources(qc, device, seed=1)["transpiled_two_qubit_gates"],
            "restricted_first_s": t_first, "restricted_warm_s": t_warm,
            "full_model_build_s": t_model, "full_model_run_s": t_run,
            "max_abs_difference": float(np.abs(full - restricted).max()),
            "heat_exchange_ideal": float(heat_exchange_coherence(ideal)),
            "heat_exchange_noisy": float(heat_exchange_coherence(restricted)),
        })
        print(f"  noisy {name}: {rows[-1]}", flush=True)
    return rows


def cold_exact_run(repeat: int = 3) -> dict:
    """Wall time of fresh ``qcharge run charge --exact`` processes (imports included), best of ``repeat``."""
    root = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", "qcharge.cli", "run", "charge", "-N", "2", "-T", "1", "--theta", "0.3",
           "--collisions", "24", "--exact", "--json"]
    env = {**os.environ, "PYTHONPATH": str(root)}
    best = timed(lambda: subprocess.run(cmd, check=True, capture_output=True, cwd=root, env=env), repeat)
    return {"command": "qcharge " + " ".join(cmd[3:]), "best_s": best, "repeat": repeat}


def noisy_markdown(res: dict) -> str:
    out = ["### Exact noisy density matrix: noise model restricted to the used qubits vs the full device model",
           "", f"N = 2, palindromic θ = {THETA}, {res['noisy'][0]['collisions']} collisions, from ground, T = "
           f"{TEMPERATURE}; the same transpiled circuit (opt. level 1, seed 1) on both models. The first call includes "
           "loading the transpiler plugins and the fake device; warm calls reuse the cached restricted model.", "",
           "| device | 2q gates | restricted: first call (s) | restricted: warm (s) | full: build model (s) | "
           "full: run (s) | max abs diff | heat-exchange ideal | heat-exchange noisy |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in res["noisy"]:
        out.append(f"| {r['device']} ({r['device_qubits']} q) | {r['transpiled_two_qubit_gates']} | "
                   f"{fmt(r['restricted_first_s'])} | {fmt(r['restricted_warm_s'])} | {fmt(r['full_model_build_s'])} | "
                   f"{fmt(r['full_model_run_s'])} | {fmt(r['max_abs_difference'])} | {r['heat_exchange_ideal']:.4f} | "
                   f"{r['heat_exchange_noisy']:.4f} |")
    c = res["cold"]
    out += ["", f"Cold process `{c['command']}`: best of {c['repeat']} {c['best_s']:.2f} s (imports included).",
            "", f"Machine: {res['machine']}"]
    return "\n".join(out)


def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def markdown(res: dict) -> str:
    out = [f"### Gates per palindromic collision (θ = {THETA}, logical cx+u vs {res['backend']}, opt. level 1)", "",
           "| N | minimum 2q | logical 2q | logical depth | heavy-hex 2q | heavy-hex 2q depth | heavy-hex depth |",
           "|---|---|---|---|---|---|---|"]
    for r in res["gates"]:
        out.append(f"| {r['N']} | {r['min_2q']} | {fmt(r['logical_2q'])} | {fmt(r['logical_depth'])} | "
                   f"{fmt(r['hw_2q'])} | {fmt(r['hw_2q_depth'])} | {fmt(r['hw_depth'])} |")
    out += ["", f"### Aer wall time per collision (s; {res['shots']} shots; best of 2 for width <= 8, else 1)", "",
            "| N | width | exact DM (reset) | shots (reset) | naive DM (width) | naive shots (width) |",
            "|---|---|---|---|---|---|"]
    for r in res["timing"]:
        ndm = (f"{fmt(r['naive_dm_s_per_collision'])} ({r['naive_dm_width']})"
               if "naive_dm_s_per_collision" in r else "– (memory)")
        nsh = (f"{fmt(r['naive_shots_s_per_collision'])} ({r['naive_shots_width']})"
               if "naive_shots_s_per_collision" in r else "–")
        out.append(f"| {r['N']} | {r['width']} | {fmt(r['dm_s_per_collision'])} | {fmt(r['shots_s_per_collision'])} | "
                   f"{ndm} | {nsh} |")
    t = res["target"]
    out += ["", f"Target: 100 collisions, N = 4, exact DM: first call {t['first_call_s']:.3f} s, warm "
            f"{t['warm_s']:.3f} s (build alone {t['build_s']:.3f} s) -> {'met' if t['met'] else 'NOT met'} (< 2 s).",
            "", f"Machine: {res['machine']}"]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument("--backend", default="sherbrooke", help="heavy-hex fake backend (sherbrooke, torino, ...)")
    parser.add_argument("--shots", type=int, default=1000)
    parser.add_argument("--noisy", action="store_true", help="only section 4 (exact noisy density matrices)")
    args = parser.parse_args(argv)
    machine = f"{platform.processor() or platform.machine()}, python {platform.python_version()}"
    if args.noisy:
        res = {"noisy": noisy_table(["fez", "kingston"]), "cold": cold_exact_run(),
               "machine": f"{machine}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end"}
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "circuits_noisy.json").write_text(json.dumps(res, indent=1))
        md = noisy_markdown(res)
        (out / "circuits_noisy.md").write_text(md + "\n")
        print(md)
        return 0
    gate_ns = range(2, 5) if args.quick else range(2, 9)
    time_ns = range(2, 5) if args.quick else range(2, 11)
    res = {"theta": THETA, "temperature": TEMPERATURE, "shots": args.shots,
           "machine": machine}
    res["target"] = target_check()  # first: includes the cold first call
    print("target:", res["target"], flush=True)
    res["backend"] = fake_backend(args.backend).name
    res["gates"] = gate_table(gate_ns, args.backend)
    res["timing"] = timing_table(time_ns, args.shots, args.quick)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "circuits.json").write_text(json.dumps(res, indent=1))
    md = markdown(res)
    (out / "circuits.md").write_text(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
