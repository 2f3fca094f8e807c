"""Sampled check of the planned harvesting gap: 1e4 shots per cluster kind against the exact-noisy prediction.

The best ``plan(target='teff')`` protocol of bench_planner (θ = 1.2, 3 exact collisions per pair, purify) on
FakeFez and FakeKingston, with the planner's Poisson instances and Z draws (seed 7, TEFF_INSTANCES):
the probe measured in Z, 1e4 shots per cluster kind pooled over the instances (1e4 / instances each),
``REPS`` repetitions, each with its own seed for routing and sampling. Per repetition the sampled gap is
compared with the raw exact-noisy gap of the same routed circuits (Aer density matrices, what the samples
estimate); the spread of the differences should be the planner's shot-noise standard error.

Run:  nice python benchmarks/bench_teff_sampled.py [--reps 5] [--out benchmarks/results]   (~1 min per rep and device)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from qcharge.circuits.harvesting import ChargedCluster, harvesting_instances
from qcharge.execute import choose_layout, run_counts, run_density_matrix
from qcharge.params import Atoms, Bath, Collision, Harvest, InitialState
from qcharge.planner import TEFF_HARVEST_THETA, TEFF_INSTANCES, TEFF_RATE, TEFF_SHOTS, TEFF_TIME, _teff_std_error
from qcharge.protocol import harvesting_plan
from qcharge.thermo import effective_temperature

try:
    from _readme import replace_section
except ImportError:  # run as a module
    from benchmarks._readme import replace_section

DEVICES = ("fake_fez", "fake_kingston")
PROTOCOL, COLLISIONS, SEED = Collision(1.2, "exact", "purify"), 3, 7
START, END = "<!-- bench_teff_sampled:start -->", "<!-- bench_teff_sampled:end -->"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args(argv)
    streams = harvesting_plan(Harvest(theta=TEFF_HARVEST_THETA, rate=TEFF_RATE), TEFF_TIME, TEFF_INSTANCES, SEED)
    charged = ChargedCluster(Atoms.dicke(2), Bath(1.0), InitialState(), PROTOCOL, COLLISIONS, SEED)
    rows = []
    for device in DEVICES:
        backend = f"aer-noisy:{device}"
        t0, c0 = time.perf_counter(), time.process_time()
        circ = {k: harvesting_instances(streams, replace(charged, dephase=k == "dephased"), measure=True)
                for k in ("charged", "dephased")}
        layout = choose_layout(circ["charged"][0], backend, seed=SEED)
        both = [circ["charged"], circ["dephased"]]
        gaps, preds, pe_pred = [], [], None
        for rep in range(args.reps):
            # One seed per repetition: the transpiler (routing) and the simulator. The exact-noisy prediction of the
            # same measured circuits with the same seed (its saves precede the measurement) is the same routed circuit.
            seed = SEED + rep
            pe = [float(np.mean([st["probe_0"][1, 1].real for st in run_density_matrix(
                cs, backend=backend, seed=seed, initial_layout=layout)])) for cs in both]
            # Both kinds in one call: independent shot streams, the same transpiler seed.
            counts = run_counts(both, backend=backend, shots=TEFF_SHOTS // TEFF_INSTANCES, seed=seed, initial_layout=layout)
            t = [effective_temperature(c.get("1", 0) / sum(c.values())) for c in counts]
            preds.append(effective_temperature(pe[0]) - effective_temperature(pe[1]))
            gaps.append(t[0] - t[1])
            pe_pred = pe_pred or {"charged": pe[0], "dephased": pe[1]}
        gap_pred = float(np.mean(preds))
        se = float(np.hypot(*(_teff_std_error(p, 1.0, TEFF_SHOTS) for p in pe_pred.values())))
        diffs = np.array(gaps) - np.array(preds)
        rows.append({"device": device, "layout": layout, "predicted_pe_seed_7": pe_pred, "predicted_gaps": preds,
                     "predicted_gap": gap_pred, "std_error": se, "sampled_gaps": gaps,
                     "sampled_minus_predicted_mean": float(diffs.mean()),
                     "sampled_minus_predicted_std": float(diffs.std(ddof=1)) if len(diffs) > 1 else None,
                     "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0})
    machine = {"machine": platform.machine(), "python": platform.python_version(), "cores": os.cpu_count(),
               "load_average_end": os.getloadavg()[0]}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "teff_sampled.json").write_text(json.dumps({"rows": rows, "reps": args.reps, "machine": machine}, indent=2))
    lines = [START, "### Planned harvesting gap, sampled", "",
             f"`nice python benchmarks/bench_teff_sampled.py --reps {args.reps}` → `results/teff_sampled.json`. Best teff "
             f"plan (θ = {PROTOCOL.theta}, {COLLISIONS} exact collisions per pair), the planner's {TEFF_INSTANCES} instances; "
             f"probe Z counts, {TEFF_SHOTS} shots per cluster kind pooled over the instances, {args.reps} repetitions "
             "(seeds 7, 8, ...: routing and sampling). Raw noisy gap = exact-noisy prediction of *these* instances and "
             "routed circuits (no control variate: what the samples "
             "estimate, up to the probe's readout error, which the counts carry and the saved states do not: no "
             "mitigation here); SE = the planner's shot-noise standard error.", "",
             "| device | raw noisy gap (mean over seeds) | sampled − predicted, mean ± std over repetitions | SE "
             "| raw gap / SE | wall / CPU (s) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        spread = "" if r["sampled_minus_predicted_std"] is None else f" ± {r['sampled_minus_predicted_std']:.4f}"
        lines.append(f"| {r['device']} | {r['predicted_gap']:.4f} | {r['sampled_minus_predicted_mean']:+.4f}{spread} | "
                     f"{r['std_error']:.4f} | {r['predicted_gap'] / r['std_error']:.1f} | {r['wall_s']:.0f} / {r['cpu_s']:.0f} |")
    lines += ["", f"Machine: {machine['machine']}, {machine['cores']} cores (shared, loaded), load average "
                  f"{machine['load_average_end']:.1f} at the end.", END]
    section = "\n".join(lines)
    readme = Path(__file__).parent / "README.md"
    readme.write_text(replace_section(readme.read_text(), START, END, section))
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
