"""Dicke-limit solver benchmark (qcharge.reference.dicke), side by side in one run (issue 9).

1. Convention check at N = 4: PIQS and ours against the dense master equation (Liouvillian exponential).
2. The side-by-side table: qcharge ``solve_dicke`` (C_l1 included), PIQS ``pisolve`` (populations only),
   PIQS's Liouvillian + ``qutip.mesolve``, and a plain birth-death chain integrated by scipy BDF (written
   here, the baseline); N = 10 ... 10^5 from ground and from a product thermal state (T0 = 0.5), T = 1,
   t = 0..20 at 21 times; wall / CPU time, traced peak memory, accuracy, fitted cost exponents per tool.
   Points a tool cannot do in minutes are skipped with the reason in the table.
3. Certified long-time C_l1 at N = 1000 from thermal states vs the docs/physics.md §2.6 baseline (pure Python
   ints + Decimal), implemented here.
4. C_re, energy and heat of the long-time state at N = 10^5.

Usage: ``python benchmarks/bench_dicke.py [--quick] [--out benchmarks/results/dicke.json]`` (also writes
``.md`` and the table of benchmarks/README.md's Dicke section; ``--help`` for the per-tool limits).
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


def _measure(fn, trace: bool) -> dict:
    """Time fn() without tracing (best of 3 below 0.5 s, else once: wall and CPU), then, if ``trace`` or the
    run took < 1 s, once more under tracemalloc for the traced peak MB (numpy buffers and Python objects,
    not C-library allocations; tracing slows Python-heavy code 10-100x, so slow Python-bound points go
    without). Returns {"result", "wall_s", "cpu_s", "peak_mb"}."""
    walls, cpus = [], []
    while True:
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        if walls[0] >= 0.5 or len(walls) == 3:
            break
    row = {"result": out, "wall_s": min(walls), "cpu_s": min(cpus), "peak_mb": None}
    if trace or walls[0] < 1.0:
        row["peak_mb"] = _timed(fn)[2]
    return row


def _plain_chain_bdf(n: int, bath: Bath, pe0: float = 0.0) -> np.ndarray:
    """The baseline: every multiplet's birth-death chain (2.8) integrated by scipy BDF (sparse Jacobian,
    rtol 1e-10, atol 1e-14 of the chain's weight); returns W_k(t) at TIMES, shape (21, N+1).

    From ground only the symmetric multiplet (j = 0) is populated; a product thermal state populates all
    floor(N/2)+1 chains, q_m(0) = d_J w_{j+m} (summed in floats from exact-integer degeneracies' logs)."""
    import scipy.sparse as sp
    from scipy.integrate import solve_ivp
    from scipy.special import gammaln

    w = np.zeros((TIMES.size, n + 1))
    k = np.arange(n + 1)
    with np.errstate(divide="ignore"):
        lw = k * math.log(pe0) + (n - k) * math.log1p(-pe0) if 0 < pe0 < 1 else np.where(k == 0, 0.0, -np.inf)
    for j in range(n // 2 + 1 if 0 < pe0 < 1 else 1):
        length = n - 2 * j + 1
        m = np.arange(length, dtype=float)
        up = bath.nbar * (length - 1 - m) * (m + 1)
        down = (bath.nbar + 1) * m * (length - m)
        gen = sp.diags([-(up + down), up[:-1], down[1:]], [0, -1, 1], format="csc")
        # ln d_J = ln C(N,j) + ln((N-2j+1)/(N-j+1))
        ld = gammaln(n + 1.0) - gammaln(j + 1.0) - gammaln(n - j + 1.0) + math.log((n - 2 * j + 1) / (n - j + 1))
        q0 = np.exp(ld + lw[j : j + length])
        if q0.sum() < 1e-30:
            continue  # below any digit reported
        sol = solve_ivp(lambda _t, q, g=gen: g @ q, (0, TIMES[-1]), q0, method="BDF", t_eval=TIMES, jac=gen,
                        rtol=1e-10, atol=1e-14 * float(q0.sum()))
        w[:, j : j + length] += sol.y.T
    return w


def _fit_exponent(ns: list, walls: list) -> float | None:
    """Least-squares slope of log(wall) against log(N)."""
    pts = [(math.log(a), math.log(b)) for a, b in zip(ns, walls) if b]
    if len(pts) < 2:
        return None
    return float(np.polyfit([p[0] for p in pts], [p[1] for p in pts], 1)[0])


# ----------------------------------------------------------------------------------------- side by side
SIDE_NS = (10, 20, 40, 100, 1000, 10_000, 100_000)
TOOLS = ("qcharge", "piqs_pisolve", "piqs_me", "plain_bdf")
NO_REF = "no qcharge result to compare with"


def _skip_reason(tool: str, n: int, kind: str, args) -> str | None:
    """Why a (tool, N, initial) point is not run (None: it runs)."""
    if tool == "qcharge":
        if kind == "thermal" and n > args.thermal_max:
            return f"thermal above N = {args.thermal_max} (--thermal-max): O(N^2) chain work, ~minutes"
        return None
    if tool == "piqs_pisolve":
        if n > args.pisolve_max:
            return (f"N > {args.pisolve_max}: pisolve returns every state as a dense d x d Qobj "
                    "(d ~ N^2/4 Dicke states: 2601 at N = 100, 251001 at N = 1000)")
        return None
    if tool == "piqs_me":
        if n > args.piqs_me_max:
            return (f"N > {args.piqs_me_max} (--piqs-me-max): PIQS's master equation took 170-240 s at N = 40 "
                    "(over the 5 min per point allowed once both initial states run)")
        return None
    if kind == "thermal" and n > 100:
        return "thermal above N = 100: N/2 + 1 BDF chains with Python callbacks, minutes"
    if n > args.bdf_max:
        return f"N > {args.bdf_max} (--bdf-max)"
    return None


def _piqs_pisolve(n: int, bath: Bath, pe0: float) -> np.ndarray:
    """PIQS's population solver (qutip.piqs.Dicke.pisolve): the Dicke-basis diagonal q_{j,k}, shape (21, J, N+1)."""
    from qutip import piqs

    rho0 = _piqs_initial(n, pe0)
    system = piqs.Dicke(n, collective_emission=bath.nbar + 1.0, collective_pumping=bath.nbar)
    res = system.pisolve(rho0, TIMES)
    return np.array([_piqs_q(n, state) for state in res.states])


def _piqs_initial(n: int, pe0: float):
    from qutip import piqs

    if pe0 == 0.0:
        return piqs.dicke(n, n / 2, -n / 2)
    d = multiplet_degeneracies(n)
    elements = {}
    for j in range(n // 2 + 1):
        for k in range(j, n - j + 1):
            elements[(n / 2 - j, k - n / 2, k - n / 2)] = d[j] * pe0**k * (1 - pe0) ** (n - k)
    return piqs.dicke_basis(n, elements)


def _piqs_me(n: int, bath: Bath, pe0: float) -> np.ndarray:
    """PIQS's Liouvillian + qutip.mesolve (default tolerances, nsteps raised: the problem is stiff)."""
    import qutip

    rho0, liouvillian = _piqs_setup(n, bath, pe0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = qutip.mesolve(liouvillian, rho0, TIMES, [], options={"nsteps": 10**7})
    return np.array([_piqs_q(n, state) for state in res.states])


def _ground_l1_from_populations(n: int, w: np.ndarray) -> np.ndarray:
    """log10 of the positive sum sum_k p_k (C(N,k) - 1) (from ground the state is sum_k p_k |D_k><D_k|)."""
    from scipy.special import gammaln

    k = np.arange(n + 1)
    lc = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lterm = np.log(np.maximum(w, 0.0)) + lc + np.log1p(-np.exp(-lc))
    lterm[:, [0, n]] = -np.inf
    top = np.max(lterm, axis=1, keepdims=True)
    return ((top[:, 0] + np.log(np.sum(np.exp(lterm - top), axis=1))) / math.log(10.0))


def side_by_side(args) -> dict:
    """Every tool at every (N, initial state) it can run: t = 0..20 (21 times), T = 1, Dicke limit, from ground
    and from a product thermal state at T0 = 0.5. Accuracy against qcharge (certified C_l1 where its status
    says so; populations checked against the independent BDF chain)."""
    bath = Bath(1.0)
    ns = [n for n in SIDE_NS if n <= args.max_atoms]
    rows = []
    # warm-up (imports, PIQS's Cython module, first-call caches) outside the timings
    solve_dicke(Atoms.dicke(4), bath, InitialState.thermal(0.5), TIMES)
    _piqs_pisolve(4, bath, 0.1)
    _piqs_me(4, bath, 0.1)
    _plain_chain_bdf(4, bath, 0.1)
    for kind in ("ground", "thermal"):
        pe0 = 0.0 if kind == "ground" else excited_probability(0.5)
        init = InitialState("ground") if kind == "ground" else InitialState.thermal(0.5)
        for n in ns:
            ours_w = ours_l1 = None
            for tool in TOOLS:
                row = {"tool": tool, "atoms": n, "initial": kind}
                reason = _skip_reason(tool, n, kind, args)
                if reason is None and tool != "qcharge" and ours_w is None:
                    reason = NO_REF
                if reason:
                    row["skipped"] = reason
                    rows.append(row)
                    continue
                if tool == "qcharge":
                    l1 = kind == "ground" or n <= args.thermal_l1_max
                    row["finite_time_l1"] = l1
                    # from ground the work is numpy vectors (tracing is cheap); thermal C_l1 is Python / FLINT work
                    m = _measure(lambda: solve_dicke(Atoms.dicke(n), bath, init, TIMES, finite_time_l1=l1),
                                 trace=kind == "ground")
                    res = m.pop("result")
                    ours_w, ours_l1 = res.excitation_probabilities, res.log10_coherence_l1
                    status = res.coherence_l1_status[1:]
                    cert = [s == "certified" for s in status]
                    rel = res.coherence_l1_relative_error_bound[1:]
                    row.update(m, n_certified=int(sum(cert)), n_estimate=status.count("estimate"),
                               n_not_computed=status.count("not computed"),
                               max_rel_bound_certified=float(np.max(rel[cert])) if any(cert) else None)
                else:
                    fn = {"piqs_pisolve": _piqs_pisolve, "piqs_me": _piqs_me}.get(tool)
                    m = _measure((lambda: fn(n, bath, pe0)) if fn else (lambda: _plain_chain_bdf(n, bath, pe0)),
                                 trace=tool == "piqs_pisolve")
                    out = m.pop("result")
                    w = out.sum(axis=1) if out.ndim == 3 else out
                    k = np.arange(n + 1)
                    row.update(m, max_dev_populations=float(np.max(np.abs(w - ours_w))),
                               max_dev_energy=float(np.max(np.abs(w @ k - ours_w @ k))))
                    if kind == "ground":
                        with np.errstate(invalid="ignore"):
                            dl = np.abs(10.0 ** (_ground_l1_from_populations(n, w)[1:] - ours_l1[1:]) - 1.0)
                        row["max_rel_dev_coherence_l1"] = float(np.nanmax(dl))
                rows.append(row)
                print(json.dumps(row, default=float), flush=True)
    exponents = {}
    for kind in ("ground", "thermal"):
        for tool in TOOLS:
            # qcharge: only the points with C_l1 (thermal N >= 1000 runs without it, a different cost)
            pts = [(r["atoms"], r["cpu_s"]) for r in rows
                   if r["tool"] == tool and r["initial"] == kind and "wall_s" in r and r["atoms"] >= 40
                   and r.get("finite_time_l1", True)]
            exponents[f"{tool}/{kind}"] = {"exponent": _fit_exponent([p[0] for p in pts], [p[1] for p in pts]),
                                           "atoms": [p[0] for p in pts]}
    return {"rows": rows, "exponents": exponents, "fit_from_atoms": 40}


def side_by_side_markdown(sbs: dict) -> str:
    """The issue-9 table: one row per (N, initial state), one column per tool."""
    names = {"qcharge": "qcharge `solve_dicke` (C_l1 incl.)", "piqs_pisolve": "PIQS `pisolve`",
             "piqs_me": "PIQS master equation", "plain_bdf": "plain chain, scipy BDF"}
    by = {(r["tool"], r["atoms"], r["initial"]): r for r in sbs["rows"]}
    lines = ["| N | initial | " + " | ".join(names[t] for t in TOOLS) + " |", "|---|---|" + "---|" * len(TOOLS)]
    points = sorted({(r["atoms"], r["initial"]) for r in sbs["rows"]}, key=lambda p: (p[1] != "ground", p[0]))
    for n, kind in points:
        if all("skipped" in by.get((tool, n, kind), {"skipped": 1}) for tool in TOOLS):
            continue
        cells = []
        for tool in TOOLS:
            r = by.get((tool, n, kind))
            if r is None or "skipped" in r:
                cells.append("–")
                continue
            cell = f"{r['wall_s']:.3g} s (CPU {r['cpu_s']:.3g})"
            cell += f", {r['peak_mb']:.3g} MB" if r["peak_mb"] is not None else ", mem. not traced"
            if tool == "qcharge" and not r["finite_time_l1"]:
                cell += "; C_l1 not asked"
            elif tool == "qcharge":
                cell += f"; {r['n_certified']}/20 certified"
                if r["max_rel_bound_certified"] is not None:
                    cell += f" (rel. bound <= {r['max_rel_bound_certified']:.0e})"
            else:
                cell += f"; dW {r['max_dev_populations']:.0e}"
                if "max_rel_dev_coherence_l1" in r:
                    cell += f", rel dC_l1 {r['max_rel_dev_coherence_l1']:.0e}"
            cells.append(cell)
        lines.append(f"| {n} | {kind} | " + " | ".join(cells) + " |")
    fit = []
    for key, e in sbs["exponents"].items():
        if e["exponent"] is not None:
            fit.append(f"{names[key.split('/')[0]]}, {key.split('/')[1]}: N^{e['exponent']:.2f} "
                       f"(N = {e['atoms'][0]}–{e['atoms'][-1]})")
    lines.append("")
    lines.append("Fitted cost exponents (least squares of log CPU time vs log N, N >= 40, qcharge with C_l1): "
                 + "; ".join(fit) + ".")
    skipped = sorted({(r["tool"], r["skipped"]) for r in sbs["rows"] if "skipped" in r and r["skipped"] != NO_REF})
    if skipped:
        lines.append("")
        lines.append("Not run: " + "; ".join(f"{names[t]}: {why}" for t, why in skipped) + ".")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- report
README_START = "<!-- bench_dicke_table:start -->"
README_END = "<!-- bench_dicke_table:end -->"


def markdown(results: dict) -> str:
    lines = [side_by_side_markdown(results["side_by_side"]), "",
             "| benchmark | N | case | ours | reference | ratio | accuracy |", "|---|---|---|---|---|---|---|"]
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
    return "\n".join(lines)


def _flags(settings: dict) -> str:
    """The command-line flags of a run that differ from the defaults (for the README line)."""
    out = []
    if settings.get("quick"):
        out.append("--quick")
    if settings.get("no_baseline"):
        out.append("--no-baseline")
    if settings.get("piqs_me_max", 20) != 20:
        out.append(f"--piqs-me-max {settings['piqs_me_max']}")
    return " ".join(out)


def write_readme(results: dict, table: str, total_s: float) -> None:
    from _readme import replace_section

    path = Path(__file__).with_name("README.md")
    cc = results["convention_check_n4"]
    section = f"""{README_START}
`nice python benchmarks/bench_dicke.py [--quick]` → `results/dicke.json`, `results/dicke.md`, this table
(this run: {_flags(results["settings"]) or "defaults"}, {total_s / 60:.1f} min on the shared 2-core machine, loaded;
wall times ±50 %, so read the CPU times). Dicke limit,
T = 1, t = 0..20 (21 times), from ground and from a product thermal state at T0 = 0.5. Each cell: wall
time (CPU), traced peak memory (tracemalloc: numpy buffers and Python objects; not traced for slow Python-bound points), and accuracy: for qcharge the
number of the 20 finite times whose C_l1 is certified and their largest relative bound; for the others the
largest deviation from qcharge of W_k (dW) and, from ground, of C_l1 = Σ_k p_k (C(N,k) − 1) from their p_k.
Single-threaded BLAS. PIQS convention check at N = 4 against the dense Liouvillian exponential: PIQS
{max(cc["max_abs_dq_piqs_vs_dense"]):.0e}, qcharge {max(cc["max_abs_dq_ours_vs_dense"]):.0e} (PIQS stores its rates as 32-bit floats).

{table}
{README_END}"""
    text = path.read_text()
    path.write_text(replace_section(text, README_START, README_END, section, after="<!-- bench_dicke:start -->"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="N <= 10^4, thermal qcharge N <= 100, one baseline run")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/dicke.json"))
    parser.add_argument("--max-atoms", type=int, default=None, help="largest N of the side-by-side table")
    parser.add_argument("--piqs-me-max", type=int, default=20, help="largest N for PIQS's master equation (40: ~7 min)")
    parser.add_argument("--pisolve-max", type=int, default=None, help="largest N for PIQS pisolve (N = 100: 21 dense 2601 x 2601 states)")
    parser.add_argument("--thermal-max", type=int, default=None, help="largest N for qcharge from thermal states")
    parser.add_argument("--thermal-l1-max", type=int, default=100,
                        help="largest thermal N with the certified finite-time C_l1 (N = 1000: minutes)")
    parser.add_argument("--bdf-max", type=int, default=None, help="largest N for the plain BDF chain (N = 10^4: ~10 s CPU, grows ~N^1.5)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite benchmarks/README.md")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the §2.6 Decimal baseline of the N = 1000 long-time C_l1 (50 s idle, 11 min loaded)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.max_atoms = args.max_atoms or (10_000 if quick else 100_000)
    args.pisolve_max = args.pisolve_max or 40
    args.thermal_max = args.thermal_max or (100 if quick else 1000)
    args.bdf_max = args.bdf_max or 10_000
    begin = time.perf_counter()

    results: dict = {
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count(),
                    "note": "2 cores shared with other jobs; single-threaded BLAS"},
        "quick": quick,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
    }
    results["convention_check_n4"] = convention_check()
    print("convention check (N = 4):", json.dumps(results["convention_check_n4"]), flush=True)
    results["side_by_side"] = side_by_side(args)
    results["certified_n1000"] = certified_n1000([not args.no_baseline, not (quick or args.no_baseline)])
    print(json.dumps(results["certified_n1000"]), flush=True)
    results["closed_forms_n1e5"] = closed_forms_n1e5()
    print(json.dumps(results["closed_forms_n1e5"]), flush=True)
    table = markdown(results)
    results["markdown"] = table
    results["total_s"] = time.perf_counter() - begin
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=float))
    args.out.with_suffix(".md").write_text(table + "\n")
    if not args.no_readme:
        write_readme(results, table, results["total_s"])
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
