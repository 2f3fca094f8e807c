"""Dicke-limit solver benchmark (qcharge.reference.dicke), side by side in one run.

1. Dynamics vs ``qutip.piqs`` (collective_emission = gamma(nbar+1), collective_pumping = gamma nbar), N = 10,
   20, 40, ground and thermal starts, gamma t = 0..20 (21 points): wall times and max deviations of the
   energy, the populations W_k and C_l1 (PIQS's Dicke-basis state gives q_{j,k}, evaluated with the same
   certified routine). The convention is first checked at N = 4 against the dense master equation.
2. Our dynamics at N = 1000 (wall time).
3. Certified C_l1 at N = 1000 from thermal states vs the docs/physics.md §2.6 baseline (pure Python ints +
   Decimal), implemented here.
4. C_re, energy and heat of the long-time state at N = 10^5.

Usage: ``python benchmarks/bench_dicke.py [--quick] [--out benchmarks/results/dicke.json]`` (also writes ``.md``)
(``--quick`` skips PIQS at N = 40 and runs the baseline for one temperature pair only).
"""

from __future__ import annotations

import os

# Single-threaded BLAS: the benchmark machine has 2 shared cores, where OpenBLAS threads fight each other
# (N = 1000 dynamics: 17 s with threads vs 8 s without, same machine). Set before numpy is imported.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from decimal import Decimal, localcontext  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from qcharge import Atoms, Bath, InitialState  # noqa: E402
from qcharge.reference.dicke import (  # noqa: E402
    block_probabilities,
    certified_coherence_l1,
    dicke_density_matrix,
    long_time_observables,
    multiplet_degeneracies,
    solve_dicke,
)
from qcharge.reference.dicke.certified_l1 import _certified_l1_long_time  # noqa: E402
from qcharge.states import excitation_numbers, excited_probability, mean_occupation  # noqa: E402

__all__ = ["baseline_coherence_l1", "main"]

TIMES = np.linspace(0.0, 20.0, 21)


# ----------------------------------------------------------------------------------------- baseline (docs/physics.md §2.6)
def baseline_coherence_l1(n: int, x: float, pe0: float, extra_digits: int = 25) -> tuple[float, float]:
    r"""docs/physics.md §2.6 baseline: exact integer Eberlein rows by (2.6), q in Decimal, integer dot products.

    digits >= log10(sum_k W_k (C(N,k)-1)(D_k+1)) + 25; :math:`B_j = \mathrm{round}(10^{digits} q_{j,k}/W_k)`;
    error <= sum_k W_k (D_k+1)(C(N,k)-1) / (2 10^digits). O(N^3) big-integer operations in pure Python
    (the rows of P are shared by the sectors k and N - k). Returns (log10 C_l1, relative error bound).
    """
    jmax = n // 2
    with localcontext() as ctx:
        # Pass 1 (60 digits) only to size the working precision.
        ctx.prec = 60
        w_sector = _baseline_weights(n, x, pe0)[1]
        size = sum(w_sector[k] * (math.comb(n, k) - 1) * (min(k, n - k) + 1) for k in range(1, n))
        digits = int(size.log10()) + 1 + extra_digits
        ctx.prec = digits + 30
        q, w_sector = _baseline_weights(n, x, pe0)
        scale = Decimal(10) ** digits
        total = Decimal(0)
        bound = Decimal(0)
        for kk in range(1, jmax + 1):
            sectors = [kk] if n - kk == kk else [kk, n - kk]
            vecs = [[int((q[j][k] / w_sector[k] * scale).to_integral_value()) for j in range(kk + 1)] for k in sectors]
            sums = [0] * len(sectors)
            theta = [(kk - j) * (n - kk - j) - j for j in range(kk + 1)]
            prev, cur = [0] * (kk + 1), [1] * (kk + 1)
            for i in range(kk):
                a_i = kk * (n - kk) - (kk - i) * (n - kk - i) - i * i
                b_im1 = (kk - i + 1) * (n - kk - i + 1) if i else 0
                c_ip1 = (i + 1) ** 2
                prev, cur = cur, [((theta[j] - a_i) * cur[j] - b_im1 * prev[j]) // c_ip1 for j in range(kk + 1)]
                for s, vec in enumerate(vecs):
                    sums[s] += abs(sum(b * p for b, p in zip(vec, cur)))
            for s, k in enumerate(sectors):
                total += w_sector[k] * Decimal(sums[s]) / scale
                bound += w_sector[k] * (kk + 1) * (math.comb(n, k) - 1) / (2 * scale)
        value_log10 = float(total.log10()) if total > 0 else -math.inf
        rel = float(bound / (total - bound)) if total > bound else math.inf
    return value_log10, rel


def _baseline_weights(n: int, x: float, pe0: float):
    """q_{j,k} (2.1) and W_k in Decimal at the current context precision, from the exact float inputs."""
    xd, pe = Decimal(x), Decimal(pe0)
    pg = 1 - pe
    w = [pe**k * pg ** (n - k) for k in range(n + 1)]
    q = [[Decimal(0)] * (n + 1) for _ in range(n // 2 + 1)]
    w_sector = [Decimal(0)] * (n + 1)
    for j in range(n // 2 + 1):
        d = math.comb(n, j) - (math.comb(n, j - 1) if j else 0)
        weight = d * sum(w[j : n - j + 1])
        length = n - 2 * j + 1
        norm = Decimal(1) / length if xd == 1 else (1 - xd) / (1 - xd**length)
        power = Decimal(1)
        for k in range(j, n - j + 1):
            q[j][k] = weight * power * norm
            w_sector[k] += q[j][k]
            power *= xd
    return q, w_sector


# ----------------------------------------------------------------------------------------- PIQS helpers
def _piqs_setup(n: int, bath: Bath, pe0: float):
    from qutip import piqs

    d = multiplet_degeneracies(n)
    # PIQS stores the degeneracy inside its Dicke-basis elements: rho[J, m, m] = q_{j,k} (checked below).
    elements = {}
    for j in range(n // 2 + 1):
        for k in range(j, n - j + 1):
            elements[(n / 2 - j, k - n / 2, k - n / 2)] = d[j] * pe0**k * (1 - pe0) ** (n - k)
    rho0 = piqs.dicke_basis(n, elements)
    nbar = bath.nbar
    liouvillian = piqs.Dicke(n, collective_emission=nbar + 1.0, collective_pumping=nbar).liouvillian()
    return rho0, liouvillian


def _piqs_q(n: int, rho) -> np.ndarray:
    """q_{j,k} from PIQS's Dicke-basis diagonal (blocks J = N/2, N/2 - 1, ...; m descending)."""
    diag = np.real(np.diag(rho.full()))
    q = np.zeros((n // 2 + 1, n + 1))
    pos = 0
    for j in range(n // 2 + 1):
        length = n - 2 * j + 1
        q[j, j : j + length] = diag[pos : pos + length][::-1]
        pos += length
    return q


def _dense_dicke_expm(n: int, bath: Bath, rho0: np.ndarray, t: float) -> np.ndarray:
    """Reference: dense Dicke master equation, Liouvillian exponentiated (row-major vectorisation)."""
    from scipy.linalg import expm

    from qcharge.states import collective_lowering

    jm = collective_lowering(n)
    eye = np.eye(2**n)

    def dissipator(a):
        ada = a.conj().T @ a
        return np.kron(a, a.conj()) - 0.5 * np.kron(ada, eye) - 0.5 * np.kron(eye, ada.T)

    gen = (bath.nbar + 1) * dissipator(jm) + bath.nbar * dissipator(jm.conj().T)
    return (expm(gen * t) @ rho0.reshape(-1)).reshape(2**n, 2**n)


def _dense_q(n: int, rho: np.ndarray) -> np.ndarray:
    """q_{j,k} = Tr(Pi_J Pi_k rho) of a dense state, Pi_J from the spectrum of J^2 = J+J- + Jz^2 - Jz."""
    from qcharge.states import collective_lowering

    jm = collective_lowering(n)
    pops = excitation_numbers(n)
    jz = np.diag(pops - n / 2).astype(complex)
    vals, vecs = np.linalg.eigh(jm.conj().T @ jm + jz @ jz - jz)
    q = np.zeros((n // 2 + 1, n + 1))
    for j in range(n // 2 + 1):
        big_j = n / 2 - j
        v = vecs[:, np.abs(vals - big_j * (big_j + 1)) < 1e-8]
        proj = v @ v.conj().T
        for k in range(n + 1):
            sel = pops == k
            q[j, k] = float(np.real(np.trace(proj[np.ix_(sel, sel)] @ rho[np.ix_(sel, sel)])))
    return q


def convention_check() -> dict:
    """N = 4, T = omega, thermal T0 = 0.5: PIQS and our solver against the dense master equation (expm).

    PIQS's ``Dicke(N, collective_emission=gamma(nbar+1), collective_pumping=gamma nbar)`` is our
    gamma(nbar+1) D[J-] + gamma nbar D[J+]; its Cython kernel stores the rates as C ``float`` (32-bit,
    qutip/piqs/_piqs.pyx), which limits it to ~1e-7 relative accuracy.
    """
    import qutip

    n, bath, init = 4, Bath(1.0), InitialState.thermal(0.5)
    pe0 = excited_probability(0.5)
    rho0_piqs, liouvillian = _piqs_setup(n, bath, pe0)
    out = {"atoms": n, "times": [0.3, 1.0, 3.0], "max_abs_dq_piqs_vs_dense": [], "max_abs_dq_ours_vs_dense": [],
           "max_abs_drho_ours_vs_dense": []}
    res = qutip.mesolve(liouvillian, rho0_piqs, [0.0] + out["times"], [], options={"atol": 1e-12, "rtol": 1e-12})
    for t, state in zip(out["times"], res.states[1:]):
        dense = _dense_dicke_expm(n, bath, init.density_matrix(n), t)
        dense_q = _dense_q(n, dense)
        ours_q = block_probabilities(n, bath.x, pe0, t, bath.nbar)
        ours_rho = dicke_density_matrix(Atoms.dicke(n), bath, init, t)
        out["max_abs_dq_piqs_vs_dense"].append(float(np.max(np.abs(_piqs_q(n, state) - dense_q))))
        out["max_abs_dq_ours_vs_dense"].append(float(np.max(np.abs(ours_q - dense_q))))
        out["max_abs_drho_ours_vs_dense"].append(float(np.max(np.abs(ours_rho - dense))))
    return out


def piqs_comparison(n: int, kind: str, run_piqs: bool) -> dict:
    import qutip

    bath = Bath(1.0)
    init = InitialState("ground") if kind == "ground" else InitialState.thermal(0.5)
    pe0 = 0.0 if kind == "ground" else excited_probability(0.5)
    start = time.perf_counter()
    ours = solve_dicke(Atoms.dicke(n), bath, init, TIMES)
    ours_s = time.perf_counter() - start
    row = {"atoms": n, "initial": kind, "temperature": 1.0, "ours_s": ours_s, "piqs_s": None}
    if not run_piqs:
        return row
    start = time.perf_counter()
    rho0, liouvillian = _piqs_setup(n, bath, pe0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # QuTiP default tolerances (atol 1e-8, rtol 1e-6); nsteps raised because the N = 40 problem is stiff
        # (rates ~ gamma N^2) and exceeds the default 1000 internal steps per output interval.
        res = qutip.mesolve(liouvillian, rho0, TIMES, [], options={"nsteps": 10**7})
    row["piqs_s"] = time.perf_counter() - start
    k = np.arange(n + 1)
    dev_e = dev_w = dev_l1 = 0.0
    for it, state in enumerate(res.states):
        q = _piqs_q(n, state)
        w = q.sum(axis=0)
        dev_e = max(dev_e, abs(float(w @ k) - ours.energy[it]))
        dev_w = max(dev_w, float(np.max(np.abs(w - ours.excitation_probabilities[it]))))
        if TIMES[it] > 0:
            log10_piqs, _ = certified_coherence_l1(n, q)
            dev_l1 = max(dev_l1, abs(10 ** (log10_piqs - ours.log10_coherence_l1[it]) - 1))
    row.update(
        max_dev_energy=dev_e,
        max_dev_populations=dev_w,
        max_rel_dev_coherence_l1=dev_l1,
        ours_max_rel_bound_coherence_l1=float(np.max(ours.coherence_l1_relative_error_bound)),
        speedup=row["piqs_s"] / ours_s,
    )
    return row


# ----------------------------------------------------------------------------------------- sections
def dynamics_n1000() -> list[dict]:
    rows = []
    for temperature, kind, t0 in ((1.0, "ground", 0.0), (2.0, "thermal", 1.5), (1.0, "thermal", 0.5)):
        init = InitialState("ground") if kind == "ground" else InitialState.thermal(t0)
        start = time.perf_counter()
        res = solve_dicke(Atoms.dicke(1000), Bath(temperature), init, TIMES)
        wall = time.perf_counter() - start
        pe0 = 0.0 if kind == "ground" else excited_probability(t0)
        final = long_time_observables(1000, Bath(temperature).x, pe0)["heat"]
        rows.append(
            {
                "atoms": 1000,
                "temperature": temperature,
                "initial": kind,
                "initial_temperature": t0,
                "n_times": len(TIMES),
                "wall_s": wall,
                "max_abs_sum_w_minus_1": float(np.max(np.abs(res.excitation_probabilities.sum(axis=1) - 1))),
                "heat_t20_minus_long_time": float(res.heat[-1] - final),
            }
        )
    return rows


def certified_n1000(run_baseline: list[bool]) -> list[dict]:
    rows = []
    for (temperature, t0), base in zip(((2.0, 1.5), (1.0, 0.5)), run_baseline):
        x, pe0 = Bath(temperature).x, excited_probability(t0)
        start = time.perf_counter()
        res = _certified_l1_long_time(1000, x, pe0, 1e-12)
        ours_s = time.perf_counter() - start
        row = {
            "atoms": 1000,
            "temperature": temperature,
            "initial_temperature": t0,
            "ours_s": ours_s,
            "log10_coherence_l1": res.log10,
            "relative_error_bound": res.rel_bound,
            "baseline_s": None,
        }
        if base:
            start = time.perf_counter()
            b_log10, b_rel = baseline_coherence_l1(1000, x, pe0)
            row.update(
                baseline_s=time.perf_counter() - start,
                baseline_log10_coherence_l1=b_log10,
                baseline_relative_error_bound=b_rel,
                abs_diff_log10=abs(b_log10 - res.log10),
            )
        rows.append(row)
    return rows


def closed_forms_n1e5() -> list[dict]:
    rows = []
    for t0 in (0.0, 0.5):
        pe0 = excited_probability(t0)
        start = time.perf_counter()
        out = long_time_observables(100_000, Bath(1.0).x, pe0)
        wall = time.perf_counter() - start
        rows.append(
            {
                "atoms": 100_000,
                "temperature": 1.0,
                "initial_temperature": t0,
                "wall_s": wall,
                "coherence_re": out["coherence_re"],
                "energy": out["energy"],
                "heat": out["heat"],
                "heat_minus_bosonic_limit": out["heat"] - (mean_occupation(1.0) - mean_occupation(t0)),
            }
        )
    return rows


def _timed(fn):
    """(result, wall seconds, peak traced MB) of fn()."""
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    try:
        out = fn()
        wall = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    return out, wall, peak


def _plain_chain_bdf(n: int, bath: Bath) -> np.ndarray:
    """A plain birth-death chain integrator (scipy BDF, sparse Jacobian) for the symmetric multiplet from ground."""
    import scipy.sparse as sp
    from scipy.integrate import solve_ivp

    m = np.arange(n + 1, dtype=float)
    up, down = bath.nbar * (n - m) * (m + 1), (bath.nbar + 1) * m * (n - m + 1)
    gen = sp.diags([-(up + down), up[:-1], down[1:]], [0, -1, 1], format="csc")
    q0 = np.eye(n + 1)[0]
    sol = solve_ivp(lambda _t, q: gen @ q, (0, TIMES[-1]), q0, method="BDF", t_eval=TIMES, jac=gen,
                    rtol=1e-10, atol=1e-14)
    return sol.y.T


def _fit_exponent(ns: list, walls: list) -> float | None:
    """Least-squares slope of log(wall) against log(N)."""
    pts = [(math.log(a), math.log(b)) for a, b in zip(ns, walls) if b]
    if len(pts) < 2:
        return None
    return float(np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0])


def scaling(quick: bool) -> dict:
    """Ground state (21 times, T = 1) at N = 10^3..10^5, and a thermal state at N = 10^4 (skipped with --quick)."""
    bath, rows = Bath(1.0), []
    ns = (1000, 10_000, 100_000)
    for n in ns:
        row = {"atoms": n}
        res, row["dynamics_s"], row["dynamics_peak_mb"] = _timed(
            lambda n=n: solve_dicke(Atoms.dicke(n), bath, InitialState("ground"), TIMES, finite_time_l1=False))
        row["energy_t20"] = float(res.energy[-1])
        if n <= 10_000 or not quick:
            res, row["with_l1_s"], row["with_l1_peak_mb"] = _timed(
                lambda n=n: solve_dicke(Atoms.dicke(n), bath, InitialState("ground"), TIMES))
            row["l1_status"] = list(res.coherence_l1_status)
            row["log10_l1_t20"] = float(res.log10_coherence_l1[-1])
        if n <= 1000:
            q, row["plain_bdf_s"], row["plain_bdf_peak_mb"] = _timed(lambda n=n: _plain_chain_bdf(n, bath))
            row["plain_bdf_max_dev_w"] = float(np.max(np.abs(q - res.excitation_probabilities)))
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = {"ground": rows, "exponent_dynamics": _fit_exponent(ns, [r["dynamics_s"] for r in rows]),
           "exponent_with_l1": _fit_exponent([r["atoms"] for r in rows if "with_l1_s" in r],
                                             [r["with_l1_s"] for r in rows if "with_l1_s" in r])}
    if not quick:
        res, wall, peak = _timed(lambda: solve_dicke(Atoms.dicke(10_000), bath, InitialState.thermal(0.5), TIMES))
        out["thermal_n1e4"] = {"atoms": 10_000, "initial_temperature": 0.5, "wall_s": wall, "peak_mb": peak,
                               "heat_t20": float(res.heat[-1])}
        print(json.dumps(out["thermal_n1e4"]), flush=True)
    return out


# ----------------------------------------------------------------------------------------- report
def markdown(results: dict) -> str:
    lines = ["| benchmark | N | case | ours | reference | ratio | accuracy |", "|---|---|---|---|---|---|---|"]
    for r in results["piqs"]:
        case = f"{r['initial']}, T = 1, t = 0..20 (21 pts)"
        if r["piqs_s"] is None:
            lines.append(f"| dynamics vs PIQS | {r['atoms']} | {case} | {r['ours_s']:.3f} s | not run | | |")
            continue
        acc = (
            f"max dE = {r['max_dev_energy']:.1e}, dW = {r['max_dev_populations']:.1e}, "
            f"rel dC_l1 = {r['max_rel_dev_coherence_l1']:.1e}"
        )
        lines.append(
            f"| dynamics vs PIQS | {r['atoms']} | {case} | {r['ours_s']:.3f} s | {r['piqs_s']:.2f} s "
            f"| {r['speedup']:.0f}x | {acc} |"
        )
    for r in results["dynamics_n1000"]:
        case = f"{r['initial']} T0 = {r['initial_temperature']}, T = {r['temperature']}, 21 pts"
        lines.append(
            f"| dynamics | 1000 | {case} | {r['wall_s']:.2f} s | | | |sum W - 1| <= {r['max_abs_sum_w_minus_1']:.0e} |"
        )
    for r in results["certified_n1000"]:
        case = f"thermal T0 = {r['initial_temperature']}, T = {r['temperature']}"
        ref = f"{r['baseline_s']:.1f} s" if r["baseline_s"] is not None else "not run"
        ratio = f"{r['baseline_s'] / r['ours_s']:.0f}x" if r["baseline_s"] is not None else ""
        acc = f"log10 C_l1 = {r['log10_coherence_l1']:.12f}, rel. bound {r['relative_error_bound']:.1e}"
        if r["baseline_s"] is not None:
            acc += f", |d log10| vs baseline {r['abs_diff_log10']:.1e}"
        lines.append(f"| certified C_l1 (t = inf) | 1000 | {case} | {r['ours_s']:.2f} s | {ref} | {ratio} | {acc} |")
    for r in results["closed_forms_n1e5"]:
        case = f"T0 = {r['initial_temperature']}, T = 1"
        acc = f"C_re = {r['coherence_re']:.8f}, heat - [n(T)-n(T0)] = {r['heat_minus_bosonic_limit']:.1e}"
        lines.append(f"| C_re, E, heat (t = inf) | 10^5 | {case} | {r['wall_s'] * 1e3:.0f} ms | | | {acc} |")
    sc = results.get("scaling")
    if sc:
        for r in sc["ground"]:
            l1 = f"{r['with_l1_s']:.2f} s ({r['with_l1_peak_mb']:.0f} MB) with C_l1" if "with_l1_s" in r else "C_l1 not run"
            ref = f"plain BDF {r['plain_bdf_s']:.2f} s, max dW {r['plain_bdf_max_dev_w']:.0e}" if "plain_bdf_s" in r else ""
            lines.append(
                f"| dynamics, ground, T = 1, 21 pts | {r['atoms']} | without C_l1 | {r['dynamics_s']:.2f} s "
                f"({r['dynamics_peak_mb']:.0f} MB) | {ref} | | {l1} |"
            )
        lines.append(f"| fitted cost exponent (ground) | 10^3-10^5 | | N^{sc['exponent_dynamics']:.2f} without C_l1 | | | "
                     f"N^{sc['exponent_with_l1']:.2f} with C_l1 |")
        th = sc.get("thermal_n1e4")
        if th:
            lines.append(f"| dynamics, thermal T0 = 0.5, T = 1, 21 pts | 10^4 | | {th['wall_s']:.1f} s "
                         f"({th['peak_mb']:.0f} MB) | | | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip PIQS at N = 40 and the second baseline run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dicke.json"))
    args = parser.parse_args(argv)

    results: dict = {
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                    "note": "2 cores shared with other jobs; single-threaded BLAS"},
        "quick": args.quick,
    }
    results["convention_check_n4"] = convention_check()
    print("convention check (N = 4):", json.dumps(results["convention_check_n4"]), flush=True)
    results["piqs"] = []
    for n in (10, 20, 40):
        for kind in ("ground", "thermal"):
            row = piqs_comparison(n, kind, run_piqs=not (args.quick and n >= 40))
            results["piqs"].append(row)
            print(json.dumps(row), flush=True)
    results["dynamics_n1000"] = dynamics_n1000()
    print(json.dumps(results["dynamics_n1000"]), flush=True)
    results["certified_n1000"] = certified_n1000([True, not args.quick])
    print(json.dumps(results["certified_n1000"]), flush=True)
    results["closed_forms_n1e5"] = closed_forms_n1e5()
    print(json.dumps(results["closed_forms_n1e5"]), flush=True)
    results["scaling"] = scaling(args.quick)
    table = markdown(results)
    results["markdown"] = table
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float))
    args.out.with_suffix(".md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
