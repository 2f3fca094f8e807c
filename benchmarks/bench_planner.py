"""Default versus planned charging protocol on three fake IBM devices (exact-noisy prediction, no shots).

For FakeFez and FakeKingston (Heron r2, cz) and FakeBrisbane (Eagle r3, ecr), N = 2 and 3, T = 1,
from ground: the README's default protocol (palindromic θ = 0.3, 120 collisions) and the top
protocol of :func:`qcharge.planner.plan`. Per row: the heat-exchange coherence of the atoms from
exact theory (master equation at t = n Δt), the exact-noisy prediction (the transpiled circuit on
the device's noise model restricted to the used qubits, Aer density matrix), the fraction kept,
the two-qubit gates after transpiling, the layout, and the wall time of the planner.

Target (issue 7): the planned charging keeps >= 85 % of the exact heat-exchange coherence on
FakeKingston and FakeFez (N = 2 and 3).

``--teff``: also ``plan(target='teff')`` on FakeFez and FakeKingston (θ grid ``TEFF_THETAS``, palindromic and
exact): the top protocols' predicted charged-minus-dephased T_eff gap (both pairs charged in the circuit),
its exact value and its shot-noise standard error at 1e4 shots per setting (target: >= 5 standard errors).

Run:  nice python benchmarks/bench_planner.py [--out benchmarks/results]   (~2-4 min on 2 shared cores)
Writes ``planner.json`` and ``planner.md`` in ``--out`` and prints the Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from qcharge.circuits.charging import charging_circuit
from qcharge.coherence import heat_exchange_coherence
from qcharge.execute import _device_for_noise, _transpile_with_markers, layout_of, run_density_matrix
from qcharge.experiments import charge_reference_state
from qcharge.params import Atoms, Bath, Collision, InitialState
from qcharge.planner import TEFF_INSTANCES, TEFF_SHOTS, _two_qubit_gates, plan
from qcharge.protocol import charging_plan

DEVICES = ("fake_fez", "fake_kingston", "fake_brisbane")
DEFAULT = Collision(0.3, "palindromic", "purify")
DEFAULT_COLLISIONS = 120
TEMPERATURE, SEED = 1.0, 7
TEFF_THETAS = (0.6, 0.9, 1.2)


def evaluate(backend: str, n: int, collision: Collision, n_coll: int) -> dict:
    """Exact theory, noisy prediction and 2q gates of one protocol (same transpiler seed as the planner)."""
    atoms, bath, initial = Atoms.dicke(n), Bath(TEMPERATURE), InitialState()
    qc = charging_circuit(charging_plan(atoms, bath, initial, collision, n_coll, seed=SEED))
    tq = _transpile_with_markers([qc], _device_for_noise(backend), SEED, 1)[0]
    layout = layout_of(tq)
    rho = run_density_matrix([qc], backend=backend, seed=SEED, initial_layout=layout)[0][f"rho_{n_coll}"]
    t = n_coll * collision.time_step(bath, atoms.gamma)
    exact = float(heat_exchange_coherence(charge_reference_state(atoms, bath, initial, t)))
    predicted = float(heat_exchange_coherence(rho))
    return {"theta": collision.theta, "collisions": n_coll, "ordering": collision.ordering,
            "ancilla": collision.ancilla, "time": t,
            "two_qubit_gates": _two_qubit_gates(tq), "layout": layout, "exact": exact, "predicted": predicted,
            "kept": predicted / exact}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--teff", action="store_true", help="also plan target='teff' on FakeFez and FakeKingston")
    args = ap.parse_args(argv)
    rows, teff_rows = [], []
    if args.teff:
        for device in DEVICES[:2]:
            t0, c0 = time.perf_counter(), time.process_time()
            found = plan(f"aer-noisy:{device}", 2, TEMPERATURE, target="teff", thetas=TEFF_THETAS, top=3, seed=SEED)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            for rank, p in enumerate(found):
                teff_rows.append({"device": device, "rank": rank + 1, **p.to_dict(), "plan_wall_s": wall, "plan_cpu_s": cpu})
            print(f"{device} teff: best gap {found[0].predicted:.4f} +- {found[0].std_error:.4f} (exact "
                  f"{found[0].exact:.4f}) in {wall:.0f} s wall / {cpu:.0f} s CPU", file=sys.stderr)
    for device in DEVICES:
        backend = f"aer-noisy:{device}"
        for n in (2, 3):
            default = evaluate(backend, n, DEFAULT, DEFAULT_COLLISIONS)
            t0 = time.perf_counter()
            best = plan(backend, n, TEMPERATURE, top=1, seed=SEED)[0]
            seconds = time.perf_counter() - t0
            planned = {**best.to_dict(), "plan_seconds": seconds}
            plateau = float(heat_exchange_coherence(charge_reference_state(Atoms.dicke(n), Bath(TEMPERATURE),
                                                                          InitialState(), 30.0)))
            for p in (default, planned):
                p["kept_of_plateau"] = p["predicted"] / plateau
            rows.append({"device": device, "atoms": n, "plateau": plateau, "default": default, "planned": planned})
            print(f"{device} N={n}: default {default['predicted']:.4f}/{default['exact']:.4f} "
                  f"({default['two_qubit_gates']} 2q), planned {best.predicted:.4f}/{best.exact:.4f} "
                  f"({best.two_qubit_gates} 2q) in {seconds:.1f} s", file=sys.stderr)
    machine = {"machine": platform.machine(), "python": platform.python_version(), "cores": os.cpu_count(),
               "load_average_end": os.getloadavg()[0]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "planner.json").write_text(json.dumps({"rows": rows, "teff": teff_rows, "machine": machine}, indent=2))
    lines = [
        "### Default vs planned charging protocol (exact-noisy prediction)",
        "",
        f"T = {TEMPERATURE}, from ground, heat-exchange coherence of the atoms. Default: palindromic θ = 0.3, "
        f"{DEFAULT_COLLISIONS} collisions. Planned: top protocol of `qcharge plan` (θ grid 0.3-1.2, collisions 2-24 "
        "around the plateau, orderings palindromic / fitted (N >= 3) / exact, ancillas purify / enumerate (n <= 6), "
        "ranked by the fraction kept). Exact = master equation at t = n Δt; noisy = Aer density "
        "matrix of the transpiled circuit on the device's noise model (restricted to the used qubits, no shots); "
        "2q = two-qubit gates after transpiling (level 1, seed 7). Kept = noisy / exact at the same t; "
        "of plateau = noisy / the long-time exact value (γt = 30).",
        "",
        "| device | N | protocol | θ | n | ordering | ancilla | 2q gates | exact | noisy prediction | kept | of plateau | "
        "layout | plan (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for kind in ("default", "planned"):
            p = r[kind]
            lines.append(
                f"| {r['device']} | {r['atoms']} | {kind} | {p['theta']} | {p['collisions']} | {p['ordering']} | "
                f"{p['ancilla']} | {p['two_qubit_gates']} | {p['exact']:.4f} | {p['predicted']:.4f} | {100 * p['kept']:.1f} % | "
                f"{100 * p['kept_of_plateau']:.1f} % | "
                f"{p['layout']} | {p.get('plan_seconds', float('nan')):.1f} |".replace("| nan |", "| - |"))
    if teff_rows:
        lines += ["", "### Planned harvesting: charged vs dephased T_eff gap (exact-noisy prediction)", "",
                  f"`plan(target='teff')`, N = 2, T = {TEMPERATURE}, from ground, θ grid {list(TEFF_THETAS)}, palindromic "
                  f"and exact, {TEFF_INSTANCES} Poisson instances (probe θ = 0.5, rate 1, γt = 10). Both pairs are "
                  "charged in the circuit; the dephased one gets random virtual Z gates. Predicted = noisy gap with the "
                  "instances' finite sampling replaced by the Poisson average (control variate); exact = master-equation "
                  f"pairs; SE = shot noise of the gap at {TEFF_SHOTS} shots per setting and cluster kind; "
                  "gap/SE is the separation at 1e4 shots (target >= 5).", "",
                  "| device | rank | θ | n | ordering | 2q gates / instance | exact gap | predicted gap | SE (1e4 shots) "
                  "| gap / SE | plan wall / CPU (s) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in teff_rows:
            lines.append(f"| {r['device']} | {r['rank']} | {r['theta']} | {r['collisions']} | {r['ordering']} | "
                         f"{r['two_qubit_gates']} | {r['exact']:.4f} | {r['predicted']:.4f} | {r['std_error']:.4f} | "
                         f"{r['predicted'] / r['std_error']:.1f} | {r['plan_wall_s']:.0f} / {r['plan_cpu_s']:.0f} |")
    lines += ["", f"Machine: {machine['machine']}, python {machine['python']}, {machine['cores']} cores, "
                  f"load average {machine['load_average_end']:.1f} at the end"]
    text = "\n".join(lines) + "\n"
    (out / "planner.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
