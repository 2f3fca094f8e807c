"""Heat-exchange coherence versus collisions along the noise path: theory, twin, noisy prediction, sampled, mitigated.

N = 2, T = 1, from ground, palindromic θ = 0.9, 1..8 collisions, on ``aer-noisy:fake_kingston``
(Aer with FakeKingston's noise and target), 4000 shots per tomography setting, readout mitigation
with the full 4x4 assignment matrix calibrated in the same job on the same physical qubits
(``run_charge(..., mitigate=True)``). Per point: exact theory (master equation at t = n Δt), the
ideal twin, the exact-noisy prediction (no shots), the raw and the mitigated tomographic estimates
with their 95 % intervals, and the error budget (signed parts of raw - exact theory, which
telescope exactly to the total). The master equation is also drawn as a curve in t / Δt.

Run:  nice python benchmarks/bench_noise_path.py [--out benchmarks/results] [--no-readme]   (~20 s on 2 shared cores)
Writes ``noise_path.json`` and ``noise_path.md`` in ``--out``, the figure
``docs/figures/07_coherence_vs_collisions.png`` and this script's section of ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from _readme import replace_section  # benchmarks/ is the script's folder, first on sys.path
from qcharge.coherence import heat_exchange_coherence
from qcharge.experiments import charge_reference_state, run_charge
from qcharge.params import Atoms, Bath, Collision, InitialState
from qcharge.plot import _pyplot

BACKEND = "aer-noisy:fake_kingston"
COLLISION = Collision(0.9, "palindromic", "purify")
COLLISIONS = range(1, 9)
ATOMS, TEMPERATURE, SHOTS, SEED = 2, 1.0, 4000, 7
Q = "heat_exchange_coherence"
FIGURE = Path(__file__).resolve().parents[1] / "docs" / "figures" / "07_coherence_vs_collisions.png"
README_START = "<!-- bench_noise_path:start -->"
README_END = "<!-- bench_noise_path:end -->"


def point(n: int) -> dict:
    """One run of ``n`` collisions, reduced to the heat-exchange coherence's chain and budget.

    Seed ``SEED + n``: with one seed for all points, Aer's inverse-CDF sampling reuses the same random
    numbers, and neighbouring points (whose distributions differ little) would get correlated, even
    identical, shot noise.
    """
    t0 = time.perf_counter()
    res = run_charge(Atoms(ATOMS), Bath(TEMPERATURE), InitialState("ground"), COLLISION, n,
                     backend=BACKEND, shots=SHOTS, mitigate=True, seed=SEED + n).to_dict()
    return {
        "collisions": n, "time": res["time"],
        "exact": res["reference"][Q], "twin": res["twin"][Q], "noisy_prediction": res["noisy_prediction"][Q],
        "raw": res["circuit"][Q], "raw_ci": list(res["ci"][Q]),
        "mitigated": res["mitigated"][Q], "mitigated_ci": res["mitigated"][Q + "_ci"],
        "error_budget": res["error_budget"][Q],
        "assignment_fidelity": res["mitigated"]["readout_calibration"]["assignment_fidelity"],
        "two_qubit_gates": res["resources"]["total"]["transpiled_two_qubit_gates"],
        "layout": res["layout"], "seconds": time.perf_counter() - t0,
    }


def figure(rows: list[dict], path: Path) -> None:
    plt = _pyplot()
    atoms, bath, initial = Atoms(ATOMS), Bath(TEMPERATURE), InitialState("ground")
    dt = rows[0]["time"] / rows[0]["collisions"]
    x = np.linspace(0.0, max(COLLISIONS), 161)
    me = [heat_exchange_coherence(charge_reference_state(atoms, bath, initial, float(k * dt))) if k else 0.0
          for k in x]
    n = np.array([r["collisions"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(x, me, color="k", lw=1.2, label="master equation (exact theory)")
    ax.plot(n, [r["twin"] for r in rows], "s", mfc="none", color="#1f77b4", label="ideal circuit (twin)")
    ax.plot(n, [r["noisy_prediction"] for r in rows], "^--", color="#ff7f0e", lw=0.8,
            label="exact-noisy prediction (no shots)")
    for key, color, marker, dx in (("raw", "#d62728", "o", -0.08), ("mitigated", "#9467bd", "D", 0.08)):
        y = np.array([r[key] for r in rows])
        lo = y - np.array([r[key + "_ci"][0] for r in rows])
        hi = np.array([r[key + "_ci"][1] for r in rows]) - y
        label = f"sampled, {SHOTS} shots (raw)" if key == "raw" else "sampled, readout-mitigated"
        ax.errorbar(n + dx, y, yerr=[np.clip(lo, 0, None), np.clip(hi, 0, None)], fmt=marker, color=color,
                    ms=4, capsize=2, label=label)
    ax.set_xlabel("collisions n  (t = n Δt)")
    ax.set_ylabel("heat-exchange coherence of the pair")
    ax.set_title("N = 2, T = 1, palindromic θ = 0.9 on FakeKingston (bars: 95 % intervals)", fontsize=9)
    ax.set_xlim(0, max(COLLISIONS) + 0.4)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def markdown(rows: list[dict], machine: dict) -> str:
    lines = [
        "### Heat-exchange coherence along the noise path (FakeKingston)",
        "",
        f"N = {ATOMS}, T = {TEMPERATURE}, from ground, palindromic θ = {COLLISION.theta}, `{BACKEND}`, {SHOTS} shots per "
        "tomography setting, readout mitigation (full 4x4 assignment matrix, calibrated in the same job). "
        "Budget columns: signed parts of raw - exact theory; collision = twin - ME, gates = noisy - twin, "
        "readout = raw - mitigated, shot = mitigated - noisy (± its bootstrap standard error); they telescope "
        "exactly to the total.",
        "",
        "| n | 2q gates | exact (ME) | twin | noisy prediction | raw [95 % CI] | mitigated [95 % CI] "
        "| collision | gates | readout | shot ± se | total |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        b = r["error_budget"]
        lines.append(
            f"| {r['collisions']} | {r['two_qubit_gates']} | {r['exact']:.4f} | {r['twin']:.4f} | "
            f"{r['noisy_prediction']:.4f} | {r['raw']:.4f} [{r['raw_ci'][0]:.3f}, {r['raw_ci'][1]:.3f}] | "
            f"{r['mitigated']:.4f} [{r['mitigated_ci'][0]:.3f}, {r['mitigated_ci'][1]:.3f}] | "
            f"{b['collision_model']:+.4f} | {b['gate_and_decoherence']:+.4f} | {b['readout']:+.4f} | "
            f"{b['shot_noise']:+.4f} ± {b['shot_noise_std_error']:.4f} | {b['total']:+.4f} |")
    lines += ["", f"Machine: {machine['machine']}, python {machine['python']}, {machine['cores']} cores, "
                  f"{machine['seconds']:.0f} s in all, load average {machine['load_average_end']:.1f} at the end"]
    return "\n".join(lines) + "\n"


def update_readme(table: str) -> None:
    path = Path(__file__).with_name("README.md")
    text = path.read_text()
    section = f"""{README_START}
## Noise path and error budget

`nice python benchmarks/bench_noise_path.py` → `results/noise_path.json`, `results/noise_path.md` and the
figure `docs/figures/07_coherence_vs_collisions.png` (~20 s on the shared 2-core dev machine). One
`run_charge(..., backend="aer-noisy:fake_kingston", shots=4000, mitigate=True)` per number of collisions:
every number of the chain exact theory → twin → noisy prediction → mitigated → raw, and the error budget
whose signed parts add up to raw - exact theory.

![coherence versus collisions](../docs/figures/07_coherence_vs_collisions.png)

What the figure shows: the master equation rises to the Dicke plateau (~0.245) within a few collisions;
the ideal circuit reaches it from n = 3 on (at n = 1-2 the large θ = 0.9 over- and undershoots the
continuous-time curve: the collision-model part). The exact-noisy prediction falls below the twin by
7 two-qubit gates' worth of gate and decoherence error per collision, so the gate part grows linearly
with n and dominates from n ≈ 5. The raw sampled estimates lie a further ~0.013-0.02 below (readout,
6-9 % of the coherence on FakeKingston's qubits) and the mitigated ones return to the noisy prediction
within their intervals: mitigation recovers the readout part, not the gate part. The shot parts are
single draws, each within ~2 standard errors of zero (largest: n = 4, −0.022 ± 0.012; seed 7 + n,
hashed: independent draws per point).

{table}
{README_END}"""
    path.write_text(replace_section(text, README_START, README_END, section))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for n in COLLISIONS:
        rows.append(point(n))
        r = rows[-1]
        print(f"n={n}: exact {r['exact']:.4f} twin {r['twin']:.4f} noisy {r['noisy_prediction']:.4f} "
              f"raw {r['raw']:.4f} mitigated {r['mitigated']:.4f} ({r['seconds']:.1f} s)", file=sys.stderr)
    machine = {"machine": platform.machine(), "python": platform.python_version(), "cores": os.cpu_count(),
               "seconds": time.perf_counter() - t0, "load_average_end": os.getloadavg()[0]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    settings = {"backend": BACKEND, "atoms": ATOMS, "temperature": TEMPERATURE, "theta": COLLISION.theta,
                "ordering": COLLISION.ordering, "shots": SHOTS, "seed": f"{SEED} + collisions",
                "initial": "ground"}
    (out / "noise_path.json").write_text(json.dumps({"settings": settings, "rows": rows, "machine": machine},
                                                    indent=2))
    figure(rows, FIGURE)
    text = markdown(rows, machine)
    (out / "noise_path.md").write_text(text)
    if not args.no_readme:
        update_readme(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
