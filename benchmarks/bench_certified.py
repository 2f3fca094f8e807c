"""Certified C_l1 of product thermal states (qcharge.reference.dicke): finite time N x t, and the long-time state.

1. Finite time, T0 = 0.5 -> T = 1 (Dicke limit): N = 200, 500, 1000 at gamma t = 0.001, 0.01, 0.1, 1 through
   ``thermal_l1_certified`` (routes per chain: integer uniformisation, slow-mode enclosure, relaxation
   bound), with solve_dicke's estimate as the first guess and a CPU budget per time (``--budget``, default
   3600 s, so every row is certified; solve_dicke's default is 60 s): log10 C_l1, relative bound, status
   ('certified', or 'not certified' where the plan exceeds the budget), the planned and the measured CPU time.
2. Long-time state: N = 1000 ... 4000, log10 C_l1, relative bound, CPU and wall time, fitted CPU exponent.

Usage: ``python benchmarks/bench_certified.py [--quick] [--out benchmarks/results/certified.json] [--no-readme]``
(``--quick``: N <= 500 and long time to N = 2000). Writes ``.json`` and ``.md`` and its section of
benchmarks/README.md. Times: the machine has 2 cores shared with other jobs, so wall times are several
times the CPU times; the CPU time is the figure to compare.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from qcharge.params import Atoms, Bath, InitialState  # noqa: E402
from qcharge.reference.dicke import solve_dicke  # noqa: E402
from qcharge.reference.dicke.certified_l1 import _certified_l1_long_time  # noqa: E402
from qcharge.reference.dicke.thermal_l1 import thermal_l1_certified  # noqa: E402
from qcharge.states import excited_probability  # noqa: E402

from _readme import replace_section  # noqa: E402 - benchmarks/ is the script's folder, first on sys.path

__all__ = ["main"]

README_START = "<!-- bench_certified:start -->"
README_END = "<!-- bench_certified:end -->"
TEMPERATURE, T0, REL_TOL = 1.0, 0.5, 1e-12


def _timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def finite_time(sizes, times, budget_s: float) -> list:
    bath, pe0 = Bath(TEMPERATURE), excited_probability(T0)
    rows = []
    for n in sizes:
        # solve_dicke's own first guess of ln C_l1 (its estimate, O(N) per time): it sizes the plan as in a run
        est = solve_dicke(Atoms.dicke(n), bath, InitialState.thermal(T0), list(times), l1_budget_s=0.0)
        for t, log10_guess in zip(times, est.log10_coherence_l1):
            planned: list = []
            (res,), cpu, wall = _timed(
                lambda: thermal_l1_certified(n, bath.x, bath.nbar, pe0, [t], REL_TOL, [log10_guess * math.log(10.0)],
                                             budget_s=budget_s, planned=planned)
            )
            row = {"atoms": n, "gamma_t": t, "cpu_s": cpu, "wall_s": wall, "planned_s": float(planned[0]),
                   "status": "certified" if res is not None else "not certified",
                   "log10_coherence_l1": None if res is None else res.log10,
                   "relative_error_bound": None if res is None else res.rel_bound}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def long_time(sizes) -> dict:
    bath, pe0 = Bath(TEMPERATURE), excited_probability(T0)
    rows = []
    for n in sizes:
        res, cpu, wall = _timed(lambda: _certified_l1_long_time(n, bath.x, pe0, REL_TOL))
        row = {"atoms": n, "log10_coherence_l1": res.log10, "relative_error_bound": res.rel_bound,
               "cpu_s": cpu, "wall_s": wall}
        rows.append(row)
        print(json.dumps(row), flush=True)
    ns = np.array([r["atoms"] for r in rows], dtype=float)
    cpu = np.array([r["cpu_s"] for r in rows])
    exponent = float(np.polyfit(np.log(ns), np.log(cpu), 1)[0]) if ns.size >= 2 else None
    return {"rows": rows, "cpu_exponent": exponent}


def markdown(res: dict) -> str:
    lines = [
        f"Thermal start T0 = {T0} -> bath T = {TEMPERATURE} (Dicke limit), requested relative bound {REL_TOL:g}. "
        "CPU seconds (wall in parentheses; 2 shared, loaded cores).",
        "",
        "| N | gamma t | status | log10 C_l1 | relative bound | planned CPU | CPU (wall) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in res["finite_time"]:
        value = f"{r['log10_coherence_l1']:.12f}" if r["log10_coherence_l1"] is not None else "-"
        bound = f"{r['relative_error_bound']:.1e}" if r["relative_error_bound"] is not None else "-"
        lines.append(f"| {r['atoms']} | {r['gamma_t']:g} | {r['status']} | {value} | {bound} "
                     f"| {r['planned_s']:.0f} s | {r['cpu_s']:.1f} s ({r['wall_s']:.0f} s) |")
    lt = res["long_time"]
    lines += ["", "| N | t | log10 C_l1 | relative bound | CPU (wall) |", "|---|---|---|---|---|"]
    for r in lt["rows"]:
        lines.append(f"| {r['atoms']} | inf | {r['log10_coherence_l1']:.12f} | {r['relative_error_bound']:.1e} "
                     f"| {r['cpu_s']:.1f} s ({r['wall_s']:.0f} s) |")
    if lt["cpu_exponent"] is not None:
        lines.append(f"| fitted CPU cost | | | | N^{lt['cpu_exponent']:.2f} |")
    return "\n".join(lines)


def _update_readme(table: str, budget: float) -> None:
    path = Path(__file__).parent / "README.md"
    text = path.read_text()
    section = f"""{README_START}
## Certified C_l1 of thermal states (`bench_certified.py`)

Finite-time C_l1(t) needs the chain populations q_j,k(t) as rigorous enclosures to the absolute accuracy
the cancellation in (2.7) demands (~10^-230 at N = 1000); per chain the cheapest of integer
uniformisation, the slow-mode (Rayleigh-Ritz) enclosure and the relaxation bound. Each time is planned
before any work; `solve_dicke` / `qcharge charge` certify where the plan fits `l1_budget_s` / `--l1-budget`
(default 60 s) and print the estimate with the planned cost elsewhere. The rows below ran with a budget of
{budget:g} s. The long-time value uses the fixed-point Taylor-shift engine. Regenerate with
`python benchmarks/bench_certified.py`.

{table}
{README_END}"""
    path.write_text(replace_section(text, README_START, README_END, section, after="<!-- bench_dicke:end -->"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N <= 500, long time to N = 2000")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "certified.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    parser.add_argument("--budget", type=float, default=3600.0,
                        help="CPU seconds per certified time (solve_dicke's l1_budget_s; default 3600: every row certified)")
    args = parser.parse_args(argv)
    sizes = (200, 500) if args.quick else (200, 500, 1000)
    res = {
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                    "note": "2 cores shared with other jobs; single-threaded BLAS"},
        "quick": args.quick,
        "budget_s": args.budget,
        "finite_time": finite_time(sizes, (0.001, 0.01, 0.1, 1.0), args.budget),
        "long_time": long_time((1000, 2000) if args.quick else (1000, 2000, 3000, 4000)),
    }
    table = markdown(res)
    res["markdown"] = table
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2))
    args.out.with_suffix(".md").write_text(table + "\n")
    if not args.no_readme:
        _update_readme(table, args.budget)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
