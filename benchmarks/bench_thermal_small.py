"""Certified thermal C_l1 at small N: its cost against the dynamics alone and PIQS (issue 9, "no overhead at small N").

``solve_dicke(Atoms.dicke(N), Bath(1.0), InitialState.thermal(0.5), linspace(0, 20, 21))`` with and without
the finite-time C_l1 (``finite_time_l1=False``), best of ``--repeat`` in CPU seconds (wall beside), N = 4 ... 56:
with the default routes (the spectral enclosure, :mod:`qcharge.reference.dicke.spectral`, up to its MAX_ATOMS)
and with the per-time routes alone (the spectral route switched off in the same run), beside PIQS's own
population solver ``pisolve`` on the same problem (populations only, no C_l1).

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
from qcharge.reference.dicke import solve as solve_module  # noqa: E402
from qcharge.reference.dicke import solve_dicke  # noqa: E402

from _readme import replace_section  # noqa: E402 - benchmarks/ is the script's folder, first on sys.path

__all__ = ["main"]

README_START = "<!-- bench_thermal_small:start -->"
README_END = "<!-- bench_thermal_small:end -->"
SIZES = (4, 10, 20, 36, 40, 56)


def _best(fn, repeat: int):
    best_cpu = best_wall = np.inf
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        out = fn()
        best_cpu, best_wall = min(best_cpu, time.process_time() - c0), min(best_wall, time.perf_counter() - w0)
    return out, best_cpu, best_wall


def measure(n: int, repeat: int, per_time_only: bool) -> dict:
    saved = solve_module.SPECTRAL_MAX_ATOMS
    if per_time_only:
        solve_module.SPECTRAL_MAX_ATOMS = -1
    try:
        args = (Atoms.dicke(n), Bath(1.0), InitialState.thermal(0.5), np.linspace(0.0, 20.0, 21))
        solve_dicke(*args)  # warm-up: imports, cached Eberlein tables
        _, cpu0, wall0 = _best(lambda: solve_dicke(*args, finite_time_l1=False), repeat)
        res, cpu1, wall1 = _best(lambda: solve_dicke(*args), repeat)
    finally:
        solve_module.SPECTRAL_MAX_ATOMS = saved
    statuses = sorted(set(res.coherence_l1_status[1:]))
    return {"atoms": n, "routes": "per-time only" if per_time_only else "default", "cpu_dynamics_s": cpu0,
            "wall_dynamics_s": wall0, "cpu_with_l1_s": cpu1, "wall_with_l1_s": wall1, "ratio_cpu": cpu1 / cpu0,
            "statuses": statuses, "max_relative_bound": float(np.max(res.coherence_l1_relative_error_bound[1:]))}


def measure_pisolve(n: int, repeat: int) -> dict:
    """PIQS's population solver on the same problem (qutip.piqs.Dicke.pisolve, populations only)."""
    from qutip import piqs

    from qcharge.reference.dicke import multiplet_degeneracies
    from qcharge.states import excited_probability

    pe0 = excited_probability(0.5)
    d = multiplet_degeneracies(n)
    elements = {(n / 2 - j, k - n / 2, k - n / 2): d[j] * pe0**k * (1 - pe0) ** (n - k)
                for j in range(n // 2 + 1) for k in range(j, n - j + 1)}
    bath = Bath(1.0)

    def run():
        system = piqs.Dicke(n, collective_emission=bath.nbar + 1.0, collective_pumping=bath.nbar)
        return system.pisolve(piqs.dicke_basis(n, elements), np.linspace(0.0, 20.0, 21))

    run()
    _, cpu, wall = _best(run, repeat)
    return {"atoms": n, "cpu_s": cpu, "wall_s": wall}


def markdown(rows: list, pisolve: dict) -> str:
    lines = ["| N | routes | CPU dynamics only | CPU with certified C_l1 | ratio | PIQS `pisolve` (populations) "
             "| statuses (t > 0) | max relative bound |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        pis = pisolve.get(r["atoms"])
        pis_text = f"{1e3 * pis['cpu_s']:.1f} ms ({1e3 * pis['wall_s']:.1f})" if pis else "–"
        lines.append(f"| {r['atoms']} | {r['routes']} | {1e3 * r['cpu_dynamics_s']:.1f} ms "
                     f"({1e3 * r['wall_dynamics_s']:.1f}) | {1e3 * r['cpu_with_l1_s']:.1f} ms "
                     f"({1e3 * r['wall_with_l1_s']:.1f}) | {r['ratio_cpu']:.1f}x | {pis_text} "
                     f"| {', '.join(r['statuses'])} | {r['max_relative_bound']:.1e} |")
    return "\n".join(lines)


def _update_readme(table: str, repeat: int, spectral_max: int) -> None:
    path = Path(__file__).parent / "README.md"
    text = path.read_text()
    section = f"""{README_START}
## Certified thermal C_l1 at small N (`bench_thermal_small.py`)

`solve_dicke(Atoms.dicke(N), Bath(1.0), InitialState.thermal(0.5), linspace(0, 20, 21))`, best of {repeat},
CPU (wall in parentheses; 2 shared cores); "dynamics only" is `finite_time_l1=False`. Default routes: every
time from one refined eigendecomposition per chain (`spectral.py`, N <= {spectral_max}); per-time only: the
dense arb exponential / integer uniformisation / relaxation bound per time and chain (`thermal_l1.py`),
toggled in the same run. PIQS `pisolve` solves the same populations (no C_l1). Regenerate with
`python benchmarks/bench_thermal_small.py`.

{table}
{README_END}"""
    path.write_text(replace_section(text, README_START, README_END, section, after="<!-- bench_certified:end -->"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "thermal_small.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = parser.parse_args(argv)
    rows, pisolve = [], {}
    for n in SIZES:
        for per_time_only in (False, True):
            rows.append(measure(n, args.repeat, per_time_only))
            print(json.dumps(rows[-1]), flush=True)
        pisolve[n] = measure_pisolve(n, args.repeat)
        print(json.dumps(pisolve[n]), flush=True)
    res = {"machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                       "note": "2 cores shared with other jobs; single-threaded BLAS"},
           "repeat": args.repeat, "spectral_max_atoms": solve_module.SPECTRAL_MAX_ATOMS, "rows": rows,
           "pisolve": list(pisolve.values()), "markdown": markdown(rows, pisolve)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    print(res["markdown"])
    if not args.no_readme:
        _update_readme(res["markdown"], args.repeat, solve_module.SPECTRAL_MAX_ATOMS)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
