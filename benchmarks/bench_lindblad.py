"""Full-space collective master equation: qcharge (U(1) sectors + Krylov) vs ``qutip.mesolve``.

Dicke-limit collective thermal bath, T = omega, gamma = 1, output times 0, 1, 5, 10, 20 (1/gamma):

* N = 4..8 side by side with ``qutip.mesolve`` (CSR operators, atol = rtol = 1e-10), from the ground
  state and from the product thermal state at T0 = 0.5 omega (QuTiP at N = 8 only from the ground
  state: ~200 s per run here); also from a random (Ginibre, seeded) state with coherences of every
  Delta n for N = 4..7, where no symmetry of the initial state helps.
* qcharge alone at N = 9, 10; N = 12 only with ``--sizes 12`` (~12 GB, minutes per row: not in the default run).

Per row: wall time of both solvers, their maximal trace distance over the saved times, and the error of
each against a tight reference (``scipy.sparse.linalg.expm_multiply`` on each Delta n sector for
N <= 8 and the N = 9 ground/thermal rows, independent of the Krylov code; otherwise, and with --quick,
qcharge at tol = 1e-13 with another Krylov dimension), so "speedup" is at equal (or better) accuracy.
Every qcharge run is done in a fresh subprocess that reports its wall time and peak resident memory
(VmHWM, which includes the interpreter, numpy and scipy, ~60 MB).

BLAS is limited to one thread (set before numpy is imported) for both solvers: the dev machine has 2
cores shared with other jobs, where multithreaded BLAS on small matrices only adds contention.

``--permutation`` instead runs the permutation-invariant case of issue 9 (gamma = 0.9 J + 0.1 I, T = omega,
21 times t = 0..20): ``qcharge.reference.permutation`` against the full-space solver (N <= 8, 10 without
--quick) and PIQS's master equation (``qutip.piqs.Dicke(...).liouvillian()`` through ``qutip.mesolve``,
ground state, N <= 30: N = 40 took 172 s in issue 9), N = 4 ... 60; writes ``results/lindblad.permutation.{json,md}`` and
its README subsection.

Run:  nice python benchmarks/bench_lindblad.py [--quick] [--out benchmarks/results/lindblad.json]
``--quick`` skips QuTiP at N = 8, the random rows at N = 7 and 9, the N = 10 rows and the
expm_multiply references (~1 min). The full run takes ~8 min (QuTiP at N = 8: ~3 min).
``--sizes N ... [--initial KIND ...]`` runs only those rows and merges them into the JSON at --out (rows
of the same N and initial state replaced), then rewrites the table and README section as a full run does.
Writes the JSON, a Markdown table next to it (``.md``) and the section "Full-space solver" of
``benchmarks/README.md``; prints the table.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from _readme import replace_section  # noqa: E402 - benchmarks/ is the script's folder, first on sys.path

TIMES = [0.0, 1.0, 5.0, 10.0, 20.0]
T_BATH = 1.0
T0 = 0.5
TOL = 1e-10
TIGHT = 1e-13
QUTIP_TOL = 1e-10
SEED = 20170532
# max_memory_gb of the qcharge runs: the N = 12 rows (--sizes 12) need 12.1 GB by memory_estimate_gb
MAX_MEMORY_GB = 16.0
KINDS = ("ground", "thermal", "random")
README_START = "<!-- bench_lindblad:start -->"
README_END = "<!-- bench_lindblad:end -->"


def initial_state(kind: str, n: int) -> np.ndarray:
    from qcharge.states import ground_state, thermal_state

    if kind == "ground":
        return ground_state(n)
    if kind == "thermal":
        return thermal_state(n, T0)
    if kind == "random":
        rng = np.random.default_rng(SEED + n)
        g = rng.normal(size=(2**n, 2**n)) + 1j * rng.normal(size=(2**n, 2**n))
        rho = g @ g.conj().T
        return rho / np.trace(rho)
    raise ValueError(kind)


def trace_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the trace norm of a - b; block by block in the excitation number when a - b has no Delta n != 0
    entry (ground and thermal rows): at N = 12 thirteen eigvalsh of <= 924 instead of one of 4096 (minutes)."""
    diff = a - b
    diff = 0.5 * (diff + diff.conj().T)
    idx = np.arange(diff.shape[0])
    k = np.zeros_like(idx)
    for b_ in range(diff.shape[0].bit_length() - 1):
        k += (idx >> b_) & 1
    if not np.any(diff[k[:, None] != k[None, :]]):
        blocks = (np.flatnonzero(k == j) for j in range(k.max() + 1))
        return 0.5 * float(sum(np.abs(np.linalg.eigvalsh(diff[np.ix_(s, s)])).sum() for s in blocks))
    return 0.5 * float(np.abs(np.linalg.eigvalsh(diff)).sum())


def peak_rss_mb() -> float:
    """Peak resident memory of this process image: VmHWM (Linux; ru_maxrss would also count the parent
    that forked us, because Linux keeps the maximum across exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reference_states(n: int, kind: str, method: str) -> tuple[np.ndarray, str]:
    """Tight reference. ``expm``: ``scipy.sparse.linalg.expm_multiply`` (Al-Mohy & Higham, double
    precision) on each Delta n sector of the lab-frame Liouvillian (independent of the Krylov code);
    ``krylov``: qcharge at tol = 1e-13 with Krylov dimension 20 instead of 30 (cheap)."""
    from scipy.sparse.linalg import expm_multiply

    from qcharge import Atoms, Bath
    from qcharge.reference import lindblad

    rho0 = initial_state(kind, n)
    atoms, bath = Atoms.dicke(n), Bath(T_BATH)
    if method == "krylov":
        lindblad.KRYLOV_DIM = 20  # this subprocess only
        states = lindblad.evolve(atoms, bath, rho0, TIMES, tol=TIGHT, max_memory_gb=MAX_MEMORY_GB)
        return states, "qcharge Krylov, tol 1e-13, Krylov dimension 20"
    out = np.zeros((len(TIMES),) + rho0.shape, dtype=complex)
    for d in range(0, n + 1):
        rows, cols = lindblad.sector_indices(n, d)
        vec = rho0[rows, cols]
        if not np.any(vec):
            continue
        mat = lindblad.liouvillian(atoms, bath, delta_n=d, frame="lab", max_memory_gb=MAX_MEMORY_GB)
        t_prev = 0.0
        for i, t in enumerate(TIMES):
            if t > t_prev:
                vec = expm_multiply((t - t_prev) * mat, vec)
            t_prev = t
            out[i, rows, cols] = vec
            if d:
                out[i, cols, rows] = vec.conj()
    return out, "scipy expm_multiply per Delta n sector"


def child(n: int, kind: str, out_file: str, ref_method: str) -> None:
    """Run qcharge once (timed) in this fresh process; save states and the reference; print time/memory."""
    from qcharge import Atoms, Bath
    from qcharge.reference.lindblad import evolve

    rho0 = initial_state(kind, n)
    atoms, bath = Atoms.dicke(n), Bath(T_BATH)
    start = time.perf_counter()
    states = evolve(atoms, bath, rho0, TIMES, tol=TOL, max_memory_gb=MAX_MEMORY_GB)
    seconds = time.perf_counter() - start
    peak = peak_rss_mb()
    ref, ref_method = reference_states(n, kind, ref_method)
    np.savez(out_file, states=states, ref=ref)
    print(json.dumps({"seconds": seconds, "peak_rss_mb": peak, "reference": ref_method}))


def run_ours(n: int, kind: str, ref_method: str) -> tuple[dict, np.ndarray, np.ndarray]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "states.npz")
        proc = subprocess.run(
            [sys.executable, __file__, "--child", str(n), kind, path, ref_method],
            check=True,
            capture_output=True,
            text=True,
        )
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        data = np.load(path)
        return info, data["states"], data["ref"]


def run_qutip(n: int, kind: str) -> tuple[float, list[np.ndarray]]:
    import qutip

    nbar = 1.0 / np.expm1(1.0 / T_BATH)
    sm, eye = qutip.destroy(2).to("CSR"), qutip.qeye(2).to("CSR")  # sigma_- = destroy(2), never sigmam
    ops = [qutip.tensor([sm if q == i else eye for q in range(n)]).to("CSR") for i in range(n)]
    jm = sum(ops[1:], ops[0]).to("CSR")
    h = sum((o.dag() * o for o in ops[1:]), ops[0].dag() * ops[0]).to("CSR")
    c_ops = [(np.sqrt(nbar + 1) * jm).to("CSR"), (np.sqrt(nbar) * jm.dag()).to("CSR")]
    rho0 = qutip.Qobj(initial_state(kind, n), dims=[[2] * n] * 2).to("CSR")
    start = time.perf_counter()
    res = qutip.mesolve(
        h, rho0, TIMES, c_ops, options={"atol": QUTIP_TOL, "rtol": QUTIP_TOL, "nsteps": 10**7}
    )
    seconds = time.perf_counter() - start
    return seconds, [s.full() for s in res.states]


def plan(quick: bool, sizes: list[int] | None = None, kinds=KINDS) -> list[tuple[int, str, bool]]:
    """(N, initial state, run QuTiP too); ``sizes``: only these N, where N > 10 adds qcharge-only ground and
    thermal rows; ``kinds``: only these initial states."""
    rows = []
    for n in range(4, 9):
        for kind in ("ground", "thermal"):
            with_qutip = n < 8 or (kind == "ground" and not quick)
            rows.append((n, kind, with_qutip))
    for n in range(4, 8 if not quick else 7):
        rows.append((n, "random", True))
    rows.append((8, "random", False))
    for n in (9, 10) if not quick else (9,):
        for kind in ("ground", "thermal"):
            rows.append((n, kind, False))
    if not quick:
        rows.append((9, "random", False))
    if sizes is not None:
        rows = [r for r in rows if r[0] in sizes] + [(n, kind, False) for n in sizes if n > 10 for kind in ("ground", "thermal")]
    return [r for r in rows if r[1] in kinds]


def fmt(x, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def markdown(rows: list[dict]) -> str:
    lines = [
        "| N | ρ(0) | QuTiP mesolve [s] | qcharge [s] | speedup | max D_tr(qcharge, QuTiP) | "
        "err qcharge | err QuTiP | qcharge peak RSS [MB] |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['initial']} | {fmt(r['qutip_s'], '.3g')} | {r['qcharge_s']:.3g} | "
            f"{fmt(r['speedup'], '.3g')} | {fmt(r['max_trace_distance'], '.1e')} | "
            f"{r['err_qcharge']:.1e} | {fmt(r['err_qutip'], '.1e')} | {r['peak_rss_mb']:.0f} |"
        )
    return "\n".join(lines)


def update_readme(table: str, quick: bool, machine: str) -> None:
    from qcharge.reference.lindblad import _sector_nnz_bound, memory_estimate_gb

    nnz12 = _sector_nnz_bound(12, 0)
    csr12, need12, need12_2 = nnz12 * 20 / 1e9, memory_estimate_gb(12, n_times=len(TIMES)), memory_estimate_gb(12, n_times=2)
    path = Path(__file__).with_name("README.md")
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"""{README_START}
## Full-space solver

`nice python benchmarks/bench_lindblad.py [--quick] [--out benchmarks/results/lindblad.json]`
→ `results/lindblad.json`, `results/lindblad.md`. `qcharge.reference.lindblad.evolve` (U(1) Δn sectors,
sparse CSR sector Liouvillian, adaptive Krylov exponential with dense output, tol = {TOL:g}) against
`qutip.mesolve` (CSR operators, atol = rtol = {QUTIP_TOL:g}). Dicke-limit collective bath at T = ω, γ = 1,
states saved at γt = {', '.join(f'{t:g}' for t in TIMES)}; ρ(0) = |g…g⟩ (ground), product thermal at
T0 = 0.5ω (thermal), or a seeded Ginibre random state with coherences of every Δn (random).
*err* = max trace distance over the saved times to a tight reference: scipy `expm_multiply` on each Δn
sector (independent of the Krylov code) for N ≤ 8 and the N = 9 ground/thermal rows, otherwise qcharge at
tol = {TIGHT:g} with Krylov dimension 20 (the method of each row is in the JSON). Peak RSS (VmHWM) of
the qcharge subprocess includes the interpreter with numpy/scipy (~60 MB). Measured on {machine}:
**2 cores shared with other jobs**, BLAS limited to one thread for both solvers; wall times are noisy
(±30 %).{' Run with --quick (no QuTiP at N = 8).' if quick else ''}

{table}

Why it is fast: the Δn = 0 sector has C(2N, N) entries (12 870 at N = 8 instead of 65 536), only the
sectors present in ρ(0) are evolved, and the Krylov space of a permutation-symmetric ρ(0) is small —
from the ground state Arnoldi meets an invariant subspace (the N+1 Dicke populations) and one step
covers all times, so those rows mostly time the Liouvillian assembly. The random-state rows show the
generic case (all sectors, ~200–300 matrix-vector products per sector). QuTiP at atol = rtol = 1e-10 is
~1e-9–3e-8 (trace distance) from the reference while qcharge at tol = 1e-10 stays ≤ 1e-13, so the
speedups are at better-than-equal accuracy (err = 0 for N = 10 and 12 ground: the Krylov reference takes the
same single invariant-subspace step there). At N = 4–5 both take ≤ 0.1 s and the ratio means little.

N = 12 (issue 9) is not in the default run: `--sizes 12` adds its rows (ground ~3 min, thermal ~20 min
with their references). The Δn = 0 sector has C(24, 12) = 2 704 156 entries and its Liouvillian {nnz12:.3g} stored
entries ({csr12:.1f} GB), so the run needs `max_memory_gb` ≥ {need12:.1f} (`memory_estimate_gb(12, n_times=5)`,
an upper bound: from the ground state the Krylov basis is never filled, and the peak is the assembly).
From the product thermal state (T0 = 0.5ω) to γt = 0.5 and 2, `qcharge charge -N 12 --method full`
measured 9.8 GB peak RSS (GB = 1e9 bytes; the table's MB are MiB) against an estimate of {need12_2:.1f} GB,
with ~6 min of Krylov propagation and ~1 min of assembly.
{README_END}"""
    path.write_text(replace_section(text, README_START, README_END, section))


PERM_G12 = 0.9
PERM_TIMES = np.linspace(0.0, 20.0, 21)
PERM_START = "<!-- bench_lindblad_perm:start -->"
PERM_END = "<!-- bench_lindblad_perm:end -->"


def perm_atoms(n: int):
    from qcharge import Atoms

    return Atoms(n, gamma_matrix=PERM_G12 * np.ones((n, n)) + (1 - PERM_G12) * np.eye(n))


def perm_initial(kind: str):
    from qcharge import InitialState

    return InitialState() if kind == "ground" else InitialState.thermal(T0)


def run_piqs(n: int) -> tuple[float, np.ndarray]:
    """PIQS's master equation from the ground state: <N>(t) = <J_z> + N/2."""
    import qutip
    from qutip import piqs  # qutip binds qutip.piqs.piqs here

    nbar = 1.0 / np.expm1(1.0 / T_BATH)
    start = time.perf_counter()
    system = piqs.Dicke(
        n,
        emission=(1 - PERM_G12) * (nbar + 1),
        pumping=(1 - PERM_G12) * nbar,
        collective_emission=PERM_G12 * (nbar + 1),
        collective_pumping=PERM_G12 * nbar,
    )
    jz = piqs.jspin(n, "z")
    system.hamiltonian = jz
    res = qutip.mesolve(
        system.liouvillian(), piqs.ground(n), PERM_TIMES, [], e_ops=[jz],
        options={"atol": QUTIP_TOL, "rtol": QUTIP_TOL, "nsteps": 10**7},
    )
    return time.perf_counter() - start, np.asarray(res.expect[0]) + n / 2


def permutation_rows(quick: bool) -> list[dict]:
    from qcharge import Bath
    from qcharge.reference.charging import charge
    from qcharge.reference.permutation import solve_permutation

    rows = []
    sizes = (4, 6, 8, 10, 20, 40) if quick else (4, 6, 8, 10, 20, 30, 40, 60)
    piqs_slow = False
    for n in sizes:
        for kind in ("ground", "thermal"):
            atoms, bath, init = perm_atoms(n), Bath(T_BATH), perm_initial(kind)
            start = time.perf_counter()
            ours = solve_permutation(atoms, bath, init, PERM_TIMES)
            row = {"n": n, "initial": kind, "perm_s": time.perf_counter() - start, "sector_dim": ours.sector_dim,
                   "log10_l1_t2": ours.log10_coherence_l1[2], "c_re_t2": ours.coherence_re[2],
                   "full_s": None, "err_full_l1": None, "err_full_energy": None, "piqs_s": None, "err_piqs_energy": None}
            if n <= (8 if quick else 10):
                start = time.perf_counter()
                full = charge(atoms, bath, init, PERM_TIMES, method="full")
                row["full_s"] = time.perf_counter() - start
                row["err_full_l1"] = float(np.max(np.abs(np.array(ours.coherence_l1) / np.maximum(full["coherence_l1"], 1e-300) - 1)[1:]))
                row["err_full_energy"] = float(np.max(np.abs(np.subtract(ours.energy, full["energy"]))))
            if kind == "ground" and not piqs_slow and n <= (20 if quick else 30):
                seconds, energy = run_piqs(n)
                row["piqs_s"] = seconds
                row["err_piqs_energy"] = float(np.max(np.abs(energy - ours.energy)))
                piqs_slow = seconds > 300
            rows.append(row)
            print(
                f"N={n} {kind:8s} perm {row['perm_s']:.3g} s"
                + (f"  full {row['full_s']:.3g} s" if row["full_s"] is not None else "")
                + (f"  PIQS {row['piqs_s']:.3g} s" if row["piqs_s"] is not None else ""),
                flush=True,
            )
    return rows


def permutation_markdown(rows: list[dict]) -> str:
    lines = [
        "| N | ρ(0) | classes (Δn = 0) | qcharge permutation [s] | full space [s] | PIQS master eq. [s] | "
        "rel. err C_l1 vs full | err E vs full | err E vs PIQS | log10 C_l1 (γt = 2) | C_re (γt = 2) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {r['initial']} | {r['sector_dim']} | {r['perm_s']:.3g} | {fmt(r['full_s'], '.3g')} | "
            f"{fmt(r['piqs_s'], '.3g')} | {fmt(r['err_full_l1'], '.1e')} | {fmt(r['err_full_energy'], '.1e')} | "
            f"{fmt(r['err_piqs_energy'], '.1e')} | {r['log10_l1_t2']:.6f} | {r['c_re_t2']:.6f} |"
        )
    return "\n".join(lines)


def update_readme_permutation(table: str, quick: bool, machine: str) -> None:
    path = Path(__file__).with_name("README.md")
    text = path.read_text()
    section = f"""{PERM_START}
### Permutation-invariant case (γ = 0.9·J + 0.1·I)

`nice python benchmarks/bench_lindblad.py --permutation [--quick]` → `results/lindblad.permutation.json`,
`.md`. Uniform off-diagonal γ_ij = {PERM_G12:g}, Ω = 0, T = ω, 21 times γt = 0…20, ρ(0) = |g…g⟩ or product
thermal at T0 = 0.5ω. `qcharge.reference.permutation.solve_permutation` (orbit basis of the permutation
commutant, Δn = 0 sector, dense expm per distinct step) against the full-space solver (`method='full'`)
and PIQS's master equation (`qutip.piqs.Dicke(...).liouvillian()` through `qutip.mesolve`, atol = rtol =
{QUTIP_TOL:g}, ground state only). Times include C_l1, C_re and the energy at every saved time for qcharge,
only ⟨J_z⟩ for PIQS. Measured on {machine}, **shared with other jobs** (wall times ±30 %), BLAS one thread.{' Run with --quick.' if quick else ''}

{table}

The two qcharge solvers agree to ~1e-13 (energy, absolute) and ~1e-12 (C_l1, relative) wherever both run;
the permutation solver's dense-expm and sparse `expm_multiply` paths agree to 6e-14 at N = 20. PIQS keeps
its rates in 32-bit C floats (`qutip/piqs/_piqs.pyx`), and its deviation grows with N (1e-7 at N = 10,
2e-5 at N = 30); with rates exactly representable in float32 (γ12 = 0.875, n̄ = 0.5) it drops to 6e-9 at
N = 10 and 1.1e-7 at N = 20, so the difference is PIQS's round-off. C_l1 is a sum of absolute class weights
(no cancellation), so it is accurate to the propagator's round-off relative to itself at every N. PIQS's
master equation costs ~N^6 (Liouvillian of dimension ~N^4/16: 220 s at N = 30 here); ours ~N^6 dense
expm on N^2/4 classes but at 441 classes for N = 40 that is 0.3 s.
{PERM_END}"""
    path.write_text(replace_section(text, PERM_START, PERM_END, section, after=README_END))


def main_permutation(args) -> int:
    import qutip

    import qcharge

    out = Path(args.out).with_name("lindblad.permutation.json") if args.out == DEFAULT_OUT else Path(args.out)
    if args.from_json:
        result = json.loads(out.read_text())
        rows = result["rows"]
    else:
        rows = permutation_rows(args.quick)
        result = {
            "benchmark": "permutation-invariant master equation: qcharge.reference.permutation vs full space and PIQS",
            "settings": {"gamma12": PERM_G12, "bath_temperature": T_BATH, "initial_thermal_temperature": T0,
                         "times": PERM_TIMES.tolist(), "piqs_atol_rtol": QUTIP_TOL, "quick": args.quick,
                         "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "scipy": __import__("scipy").__version__, "qutip": qutip.__version__,
                         "qcharge": qcharge.__version__},
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, {platform.system()}",
            "rows": rows,
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2))
    table = permutation_markdown(rows)
    out.with_suffix(".md").write_text(table + "\n")
    if not args.no_readme:
        update_readme_permutation(table, result["settings"]["quick"], result["machine"])
    print(table)
    return 0


DEFAULT_OUT = str(Path(__file__).parent / "results" / "lindblad.json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip QuTiP at N = 8 and the largest rows")
    parser.add_argument("--out", default=DEFAULT_OUT)
    parser.add_argument("--permutation", action="store_true", help="the permutation-invariant case (issue 9)")
    parser.add_argument("--child", nargs=4, metavar=("N", "KIND", "FILE", "REF"), help=argparse.SUPPRESS)
    parser.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    parser.add_argument("--from-json", action="store_true", help="only rebuild table/README from --out")
    parser.add_argument("--sizes", type=int, nargs="+", metavar="N",
                        help="only the rows of these N, merged into --out (N > 10: qcharge-only ground and "
                             "thermal rows, not in the default run; N = 12 needs ~12 GB)")
    parser.add_argument("--initial", nargs="+", choices=KINDS, default=list(KINDS),
                        help="only rows from these initial states, merged into --out")
    args = parser.parse_args(argv)
    if args.permutation:
        return main_permutation(args)
    if args.from_json:
        return write_results(json.loads(Path(args.out).read_text()), Path(args.out), args.no_readme)
    if args.child:
        n, kind, out_file, ref_method = args.child
        child(int(n), kind, out_file, ref_method)
        return 0

    import qutip

    import qcharge

    rows = []
    for n, kind, with_qutip in plan(args.quick, args.sizes, args.initial):
        # expm_multiply reference: ~1 min at N = 9; --quick and N = 10 use the cheap Krylov reference
        ref_method = "expm" if (not args.quick and (n <= 8 or (n == 9 and kind != "random"))) else "krylov"
        info, states, ref = run_ours(n, kind, ref_method)
        row = {
            "n": n,
            "initial": kind,
            "qcharge_s": info["seconds"],
            "peak_rss_mb": info["peak_rss_mb"],
            "reference": info["reference"],
            "err_qcharge": max(trace_distance(a, b) for a, b in zip(states, ref)),
            "qutip_s": None,
            "speedup": None,
            "max_trace_distance": None,
            "err_qutip": None,
        }
        if with_qutip:
            seconds, qstates = run_qutip(n, kind)
            row.update(
                qutip_s=seconds,
                speedup=seconds / info["seconds"],
                max_trace_distance=max(trace_distance(a, b) for a, b in zip(states, qstates)),
                err_qutip=max(trace_distance(a, b) for a, b in zip(qstates, ref)),
            )
        rows.append(row)
        print(
            f"N={n} {kind:8s} qcharge {row['qcharge_s']:.3g} s ({row['peak_rss_mb']:.0f} MB)"
            + (f"  qutip {row['qutip_s']:.3g} s  speedup {row['speedup']:.3g}" if with_qutip else ""),
            flush=True,
        )
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, {platform.system()}"
    out = Path(args.out)
    if args.sizes is not None or set(args.initial) != set(KINDS):
        # a partial run: its rows replace those of the same (N, initial state) in --out, others are added
        result = json.loads(out.read_text())
        new = {(r["n"], r["initial"]): r for r in rows}
        result["rows"] = [new.pop((r["n"], r["initial"]), r) for r in result["rows"]] + list(new.values())
        return write_results(result, out, args.no_readme)
    result = {
        "benchmark": "full-space collective master equation: qcharge.reference.lindblad.evolve vs qutip.mesolve",
        "settings": {
            "model": "Dicke limit gamma_ij = 1, Omega = 0, H0 = omega N, omega = 1",
            "bath_temperature": T_BATH,
            "initial_thermal_temperature": T0,
            "times": TIMES,
            "qcharge_tol": TOL,
            "reference_tol": TIGHT,
            "qutip_atol_rtol": QUTIP_TOL,
            "qutip_format": "CSR",
            "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "quick": args.quick,
        },
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": __import__("scipy").__version__,
            "qutip": qutip.__version__,
            "qcharge": qcharge.__version__,
        },
        "machine": machine,
        "rows": rows,
    }
    return write_results(result, out, args.no_readme)


def write_results(result: dict, out: Path, no_readme: bool) -> int:
    """Write the JSON, its Markdown table and (unless ``no_readme``) the README section; print the table."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    table = markdown(result["rows"])
    out.with_suffix(".md").write_text(table + "\n")
    if not no_readme:
        update_readme(table, result["settings"]["quick"], result["machine"])
    print()
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
