"""Two-qubit gates of the exact collective collision: generic synthesis versus the three-gate pair circuit.

One collision U = exp[-iθ(σ+ J- + σ- J+)] (θ = 0.9) alone, and the issue's charging run (exact ordering,
θ = 0.9, 6 collisions, purify, from ground, T = 1), transpiled to FakeFez and FakeKingston (Heron r2, cz) at
optimization levels 1-3 (seed 7). ``generic``: the dense UnitaryGate (what ``ordering='exact'`` appended
before); ``short``: :mod:`qcharge.circuits.synthesis` (what it appends now, N = 2). N = 3 has no short exact
circuit (generic only; palindromic shown for scale). Also the planner's top exact-ordering protocol per
device (exact-noisy prediction of the heat-exchange coherence, no shots).

Run:  nice python benchmarks/bench_collision_synthesis.py [--out benchmarks/results]   (~1-2 min)
Writes ``collision_synthesis.json`` / ``.md`` and the README section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from qcharge.circuits.charging import charging_circuit
from qcharge.circuits.collisions import append_collision, append_qutip_unitary, collective_collision_gate
from qcharge.execute import _device_for_noise
from qcharge.params import Atoms, Bath, Collision, InitialState
from qcharge.planner import _two_qubit_gates, plan
from qcharge.protocol import charging_plan, trotter_schedule

try:
    from _readme import replace_section
except ImportError:  # run as a module
    from benchmarks._readme import replace_section

DEVICES = ("fake_fez", "fake_kingston")
THETA, COLLISIONS, SEED = 0.9, 6, 7
START, END = "<!-- bench_collision_synthesis:start -->", "<!-- bench_collision_synthesis:end -->"


def one_collision(n: int, kind: str) -> QuantumCircuit:
    qc = QuantumCircuit(n + 1)
    atoms, anc = list(range(1, n + 1)), 0
    if kind == "generic":
        append_qutip_unitary(qc, collective_collision_gate(n, THETA), [anc, *atoms])
    elif kind == "short":
        append_collision(qc, atoms, anc, THETA, None)
    else:
        append_collision(qc, atoms, anc, THETA, trotter_schedule(n, "palindromic", 1)[0])
    return qc


def charging_run(kind: str) -> QuantumCircuit:
    cplan = charging_plan(Atoms(2), Bath(1.0), InitialState(), Collision(THETA, "exact"), COLLISIONS, seed=SEED)
    qc = charging_circuit(cplan)
    if kind == "short":
        return qc
    # The same circuit with each three-gate collision replaced by the dense gate (the former 'exact').
    generic = qc.copy_empty_like()
    gate = collective_collision_gate(2, THETA)
    data, i = list(qc.data), 0
    while i < len(data):
        inst = data[i]
        if inst.operation.name == "xx_plus_yy":
            anc, a0 = inst.qubits
            a1 = data[i + 1].qubits[1]
            append_qutip_unitary(generic, gate, [anc, a0, a1])
            i += 3
            continue
        generic.append(inst)
        i += 1
    return generic


def count(qc: QuantumCircuit, device, level: int) -> int:
    pm = generate_preset_pass_manager(optimization_level=level, backend=device, seed_transpiler=SEED)
    return _two_qubit_gates(pm.run(qc))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)
    rows, plans = [], []
    for device_name in DEVICES:
        device = _device_for_noise(f"aer-noisy:{device_name}")
        for label, circuits in (("one collision, N = 2", {k: one_collision(2, k) for k in ("generic", "short", "palindromic")}),
                                ("one collision, N = 3", {k: one_collision(3, k) for k in ("generic", "palindromic")}),
                                (f"charging N = 2, θ = {THETA} × {COLLISIONS}",
                                 {k: charging_run(k) for k in ("generic", "short")})):
            for kind, qc in circuits.items():
                rows.append({"device": device_name, "circuit": label, "kind": kind,
                             **{f"level_{lvl}": count(qc, device, lvl) for lvl in (1, 2, 3)}})
        for ordering in ("exact", "palindromic"):
            t0, c0 = time.perf_counter(), time.process_time()
            best = plan(f"aer-noisy:{device_name}", 2, 1.0, orderings=(ordering,), top=1, seed=SEED)[0]
            plans.append({"device": device_name, **best.to_dict(), "wall_s": time.perf_counter() - t0,
                          "cpu_s": time.process_time() - c0})
    machine = {"machine": platform.machine(), "python": platform.python_version(), "cores": os.cpu_count(),
               "load_average_end": os.getloadavg()[0]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "collision_synthesis.json").write_text(json.dumps({"rows": rows, "plans": plans, "machine": machine}, indent=2))
    lines = [START, "## Exact collision synthesis", "",
             "`nice python benchmarks/bench_collision_synthesis.py` → `results/collision_synthesis.{json,md}`. "
             "Two-qubit (cz) gates after transpiling (preset pass manager, seed 7). `generic`: the dense "
             "collective unitary; `short`: the exact pair circuit of `qcharge/circuits/synthesis.py` "
             "(three exchange gates with corrected angles, exact to round-off); `palindromic`: one Trotter step.",
             "", "| device | circuit | synthesis | level 1 | level 2 | level 3 |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['device']} | {r['circuit']} | {r['kind']} | {r['level_1']} | {r['level_2']} | {r['level_3']} |")
    lines += ["", "Planner top protocol per ordering (N = 2, T = 1, from ground; heat-exchange coherence, "
                  "exact-noisy prediction vs master equation at t = n Δt):", "",
              "| device | ordering | θ | n | 2q gates | predicted | exact | kept |", "|---|---|---|---|---|---|---|---|"]
    for p in plans:
        lines.append(f"| {p['device']} | {p['ordering']} | {p['theta']} | {p['collisions']} | {p['two_qubit_gates']} | "
                     f"{p['predicted']:.4f} | {p['exact']:.4f} | {100 * p['kept']:.1f} % |")
    lines += ["", f"Machine: {machine['machine']}, python {machine['python']}, {machine['cores']} cores "
                  f"(shared, loaded), load average {machine['load_average_end']:.1f} at the end.", END]
    section = "\n".join(lines)
    (out / "collision_synthesis.md").write_text(section + "\n")
    readme = Path(__file__).parent / "README.md"
    readme.write_text(replace_section(readme.read_text(), START, END, section, after="<!-- bench_sweep:end -->"))
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
