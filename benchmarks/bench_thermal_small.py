"""Certified thermal C_l1 at small N: its cost against the dynamics alone (issue 9, "no overhead at small N").

``solve_dicke(Atoms.dicke(N), Bath(1.0), InitialState.thermal(0.5), linspace(0, 20, 21))`` with and without
the finite-time C_l1 (``finite_time_l1=False``), best of ``--repeat`` in CPU seconds (wall beside), N = 4 ... 56;
and the same with the routes this replaced at small N (``--old-routes``: the big-integer C_l1 engine and
per-time Krylov vectors, no dense exponential; the relaxation estimates stay shared), for the before/after figure.

Usage: ``python benchmarks/bench_thermal_small.py [--repeat 3] [--out benchmarks/results/thermal_small.json]
[--no-readme]``. Writes ``.json`` and its section of benchmarks/README.md. The machine has 2 cores shared
with other jobs: CPU time is the figure to compare.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere without installing

from qcharge.params import Atoms, Bath, InitialState  # noqa: E402
from qcharge.reference.dicke import certified_l1, solve_dicke, thermal_l1  # noqa: E402

from _readme import replace_section  # noqa: E402 - benchmarks/ is the script's folder, first on sys.path

__all__ = ["main"]

README_START = "<!-- bench_thermal_small:start -->"
README_END = "<!-- bench_thermal_small:end -->"
SIZES = (4, 10, 20, 40, 56)


def _best(fn, repeat: int):
    best_cpu = best_wall = np.inf
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        best_cpu, best_wall = min(best_cpu, time.process_time() - c0), min(best_wall, time.perf_counter() - w0)
    return out, best_cpu, best_wall


def measure(n: int, repeat: int, old: bool) -> dict:
    saved = certified_l1.BALL_ENGINE_MAX_ATOMS, thermal_l1._KRYLOV_CACHE_MAX_ENTRIES, thermal_l1._EXPM_MAX_LENGTH
    if old:
        certified_l1.BALL_ENGINE_MAX_ATOMS, thermal_l1._KRYLOV_CACHE_MAX_ENTRIES, thermal_l1._EXPM_MAX_LENGTH = -1, 0, 0
    try:
        args = (Atoms.dicke(n), Bath(1.0), InitialState.thermal(0.5), np.linspace(0.0, 20.0, 21))
        solve_dicke(*args)  # warm-up: imports, cached Eberlein tables
        _, cpu0, wall0 = _best(lambda: solve_dicke(*args, finite_time_l1=False), repeat)
        res, cpu1, wall1 = _best(lambda: solve_dicke(*args), repeat)
    finally:
        certified_l1.BALL_ENGINE_MAX_ATOMS, thermal_l1._KRYLOV_CACHE_MAX_ENTRIES, thermal_l1._EXPM_MAX_LENGTH = saved
    statuses = sorted(set(res.coherence_l1_status[1:]))
    return {"atoms": n, "old_routes": old, "cpu_dynamics_s": cpu0, "wall_dynamics_s": wall0, "cpu_with_l1_s": cpu1,
            "wall_with_l1_s": wall1, "ratio_cpu": cpu1 / cpu0, "statuses": statuses,
            "max_relative_bound": float(np.max(res.coherence_l1_relative_error_bound[1:]))}


def markdown(rows: list) -> str:
    lines = ["| N | routes | CPU dynamics only | CPU with certified C_l1 | ratio | statuses (t > 0) | max relative bound |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['atoms']} | {'old' if r['old_routes'] else 'new'} | {1e3 * r['cpu_dynamics_s']:.0f} ms "
                     f"({1e3 * r['wall_dynamics_s']:.0f}) | {1e3 * r['cpu_with_l1_s']:.0f} ms ({1e3 * r['wall_with_l1_s']:.0f}) "
                     f"| {r['ratio_cpu']:.1f}x | {', '.join(r['statuses'])} | {r['max_relative_bound']:.1e} |")
    return "\n".join(lines)


def _update_readme(table: str, repeat: int) -> None:
    path = Path(__file__).parent / "README.md"
    text = path.read_text()
    section = f"""{README_START}
## Certified thermal C_l1 at small N (`bench_thermal_small.py`)

`solve_dicke(Atoms.dicke(N), Bath(1.0), InitialState.thermal(0.5), linspace(0, 20, 21))`, best of {repeat},
CPU (wall in parentheses; 2 shared, loaded cores); "dynamics only" is `finite_time_l1=False`. New routes:
the arb_mat C_l1 engine at N <= 64, each chain's integer Krylov vectors shared by the times, short chains by
the dense arb exponential; old: the big-integer engine and per-time uniformisation (toggled in the same
run). Regenerate with `python benchmarks/bench_thermal_small.py`.

{table}
{README_END}"""
    path.write_text(replace_section(text, README_START, README_END, section, after="<!-- bench_certified:end -->"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "thermal_small.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = parser.parse_args(argv)
    rows = []
    for n in SIZES:
        for old in (False, True):
            rows.append(measure(n, args.repeat, old))
            print(json.dumps(rows[-1]), flush=True)
    res = {"machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                       "note": "2 cores shared with other jobs; single-threaded BLAS"},
           "repeat": args.repeat, "rows": rows, "markdown": markdown(rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(res["markdown"])
    if not args.no_readme:
        _update_readme(res["markdown"], args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
