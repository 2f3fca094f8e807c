r"""The Dicke-limit API: :func:`solve_dicke` and :class:`DickeResult` (docs/physics.md §2)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..._checks import check_bool, check_int, check_real, check_resonant
from ...exceptions import ParameterError
from ...params import Atoms, Bath, InitialState
from ...states import excited_probability
from .certified_l1 import (BALL_ENGINE_MAX_ATOMS, _certified_l1_generic, _certified_l1_long_time, _l1_fields, _log_beta,
                           _float_rounding, _with_float_rounding)
from .combinatorics import _log_tables, _LogTables, _logsumexp
from .dynamics import _dynamics, _dynamics_observables
from .symmetric_l1 import (
    symmetric_l1_backward,
    symmetric_l1_estimate,
    symmetric_l1_relaxed,
    symmetric_l1_uniformised,
    symmetric_populations_doubling,
)
from .thermal_estimate import CHECK_ATOMS, sign_check, thermal_l1_estimate
from .spectral import MAX_ATOMS as SPECTRAL_MAX_ATOMS, float_log_l1, thermal_l1_spectral
from .thermal_l1 import DEFAULT_BUDGET_S, thermal_l1_certified
from .long_time import _long_time_summary, _symmetric_long_time_log_l1, _u_of_x

__all__ = ["DickeResult", "solve_dicke"]


# ----------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class DickeResult:
    r"""Observables of the Dicke-limit solution at ``times`` (``np.inf`` marks the long-time state).

    Attributes:
        times: shape ``(n_times,)``.
        energy: :math:`E = \omega\langle \hat N\rangle`.
        heat: :math:`\Delta Q = E(t) - E(0)` (first law with no work).
        coherence_re: relative entropy of coherence :math:`C_{re} = S(\Delta\rho) - S(\rho)` (nats).
        log10_coherence_l1: :math:`\log_{10} C_{l1}` (``-inf`` when :math:`C_{l1} = 0`).
        coherence_l1: :math:`C_{l1}` as a float (``inf`` where it overflows; use the log10).
        coherence_l1_error_bound: certified bound on :math:`|C_{l1} - \text{value}|` (``inf`` on overflow); on
            ``'estimate'`` rows an error estimate, not a bound.
        coherence_l1_relative_error_bound: the same bound (or estimate) divided by the value (``inf`` if the
            value is 0 and the bound is not).
        excitation_probabilities: shape ``(n_times, N+1)``, :math:`W_k(t) = \sum_j q_{j,k}(t)`.
        coherence_l1_status: per time, ``'certified'`` (the bound is rigorous and below the value),
            ``'estimate'`` (the bound is an a-priori estimate: an uncertified estimate, never to be read
            as exact) or ``'not computed'`` (nan: above ``l1_max_atoms`` for t = inf, not requested, or an
            estimate whose error estimate exceeds it, which the note quotes).
        coherence_l1_note: per time, ``''`` for a certified value, else what the estimate is and its
            relative error estimate, or why C_l1 was not computed.
    """

    times: np.ndarray
    energy: np.ndarray
    heat: np.ndarray
    coherence_re: np.ndarray
    log10_coherence_l1: np.ndarray
    coherence_l1: np.ndarray
    coherence_l1_error_bound: np.ndarray
    coherence_l1_relative_error_bound: np.ndarray
    excitation_probabilities: np.ndarray
    coherence_l1_status: tuple = ()
    coherence_l1_note: tuple = ()

    def __str__(self) -> str:
        """One row per time (the arrays' full values are attributes), then the C_l1 notes."""
        from ...results import table

        n = self.excitation_probabilities.shape[1] - 1
        status = list(self.coherence_l1_status) or [""] * self.times.size
        rows = [[t, l1, e, h, c, st + (f", rel. {rel:.1g}" if st in ("certified", "estimate") else "")]
                for t, l1, e, h, c, st, rel in zip(self.times, self.log10_coherence_l1, self.energy, self.heat,
                                                   self.coherence_re, status, self.coherence_l1_relative_error_bound)]
        text = (f"DickeResult: N = {n}, {self.times.size} times (excitation_probabilities: shape "
                f"{self.excitation_probabilities.shape})\n"
                + table(["t", "log10 C_l1", "energy", "heat", "C_re", "C_l1 is"], rows))
        said = [f"  t = {t}: {note}" for t, note in zip(self.times, self.coherence_l1_note) if note]
        return text + ("\nC_l1 notes:\n" + "\n".join(said) if said else "")


# ----------------------------------------------------------------------------------------- physical inputs
def _physical_inputs(atoms: Atoms, bath: Bath, initial: InitialState) -> tuple[int, float, float, float]:
    """Validate (atoms, bath, initial) for the Dicke solver; return (N, x, nbar, pe0)."""
    if not isinstance(atoms, Atoms):
        raise ParameterError(f"Argument `atoms` must be an Atoms instance, but is {type(atoms).__name__}.")
    if not isinstance(bath, Bath):
        raise ParameterError(f"Argument `bath` must be a Bath instance, but is {type(bath).__name__}.")
    if not isinstance(initial, InitialState):
        raise ParameterError(f"Argument `initial` must be an InitialState instance, but is {type(initial).__name__}.")
    if not atoms.is_dicke:
        raise ParameterError(
            "Argument `atoms` must be in the Dicke limit (uniform gamma_ij = gamma and uniform Omega_ij) for the "
            "J-multiplet solver, but is not; use method='full'."
        )
    check_resonant(atoms, bath)
    if initial.kind == "ground":
        pe0 = 0.0
    elif initial.kind == "excited":
        pe0 = 1.0
    elif initial.kind == "thermal":
        pe0 = excited_probability(initial.temperature, atoms.omega)
    else:
        raise ParameterError(
            "Argument `initial_state` must be 'ground', 'excited' or 'thermal' (product thermal states) for the "
            f"Dicke solver, but is {initial.kind!r}; use method='full'."
        )
    # Uniform Omega has no effect: H_Omega = Omega (J+J- - N) is a function of J^2 and J_z (docs/physics.md §1.3).
    return atoms.n, bath.x, bath.nbar, pe0



# ----------------------------------------------------------------------------------------- observables
# Beyond this N the float64 q(t) of a thermal state is not kept for an evaluation of (2.7) (the cancellation
# exceeds 1e16 from N ~ 60 on, so it rarely resolves C_l1(t) there); the symmetric-multiplet estimate
# needs only W_k and q_{0,k}.
_FINITE_L1_MAX_ATOMS = 200
# Up to this N the finite-time C_l1 from thermal states is certified (q(t) enclosed in ball arithmetic, see
# .thermal_l1) wherever its cost fits the budget there; elsewhere an estimate (.thermal_estimate, and for
# N <= 200 the float64 evaluation above where it is better).
_CERTIFIED_THERMAL_MAX_ATOMS = 1000
# The late-time relaxation bound (ground / excited) is taken where it is at most this relative to the value
# (looser, the backward estimate is usually tighter, though not rigorous).
_RELAXED_ACCEPT = 1e-9
# float64 arrays of length N+1 the solver holds at once besides the per-time ones (log tables, chain
# work arrays, long-time reductions); measured peak / (8 (N+1)) at N = 10^5-10^6 is ~40, 64 leaves a margin.
_WORK_VECTORS = 64


def _physical_memory() -> float:
    """Bytes of physical memory of this machine (inf where the OS does not say)."""
    import os

    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def _check_memory(n: int, n_times: int, full_q: bool) -> None:
    r"""Raise before allocating when the call needs more than the machine's physical memory.

    Need: :math:`8(N+1)(8 n_t + 64)` bytes (W_k, the symmetric chain and work vectors), plus
    :math:`16 n_t(\lfloor N/2\rfloor+1)(N+1)` when the block probabilities are kept for the finite-time C_l1.
    """
    need = 8.0 * (n + 1) * (8 * n_times + _WORK_VECTORS)
    if full_q:
        need += 16.0 * n_times * (n // 2 + 1) * (n + 1)
    have = _physical_memory()
    if need > have:
        raise ParameterError(
            f"Argument `atoms` must be small enough for this machine's memory ({have / 1e9:.3g} GB), but N = {n} "
            f"with {n_times} time(s) would need {need / 1e9:.3g} GB."
        )


def _observables_from_q(n: int, q: np.ndarray, tables: _LogTables) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""W_k, :math:`\langle\hat N\rangle` and :math:`C_{re}` for block probabilities q of shape (n_t, J, N+1).

    :math:`S(\rho) = -\sum q_{j,k}\ln(q_{j,k}/d_J)`, :math:`S(\Delta\rho) = -\sum_k W_k \ln(W_k/\binom Nk)` (2.2).
    """
    k = np.arange(n + 1)
    w = q.sum(axis=1)
    mean = w @ k.astype(float)
    ld = tables.ld[None, :, None]  # anchored: the common shift A cancels since sum W = sum q
    lc = tables.lc[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_rho = -np.sum(np.where(q > 0, q * (np.log(q) - ld), 0.0), axis=(1, 2))
        s_deph = -np.sum(np.where(w > 0, w * (np.log(w) - lc), 0.0), axis=1)
    return w, mean, np.maximum(s_deph - s_rho, 0.0)



def _check_times(times: ArrayLike) -> np.ndarray:
    """``times`` as a 1-D float array of real numbers >= 0 (inf allowed: the long-time state), any order."""
    bad = f"Argument `times` must be a 1-D array of real numbers, but is {times!r}."
    if times is None or isinstance(times, (str, bytes)):
        raise ParameterError(bad)
    try:
        arr = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(bad) from None
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1:
        raise ParameterError(f"Argument `times` must be 1-D, but has shape {arr.shape}.")
    if np.any(np.isnan(arr)):
        raise ParameterError(f"Argument `times` must be real numbers (nan is not a time), but is {arr.tolist()}.")
    if np.any(arr < 0):
        raise ParameterError(f"Argument `times` must be >= 0 (np.inf = long-time state), but is {arr.tolist()}.")
    return arr


def solve_dicke(
    atoms: Atoms,
    bath: Bath,
    initial: InitialState,
    times: ArrayLike = (),
    *,
    long_time: bool = False,
    rel_tol: float = 1e-12,
    progress: bool = False,
    l1_max_atoms: int = 2000,
    finite_time_l1: bool = True,
    l1_budget_s: float = DEFAULT_BUDGET_S,
) -> DickeResult:
    r"""Dicke-limit dynamics and long-time state from a product thermal initial state, any N.

    :math:`\dot\rho = -i[H_0 + H_\Omega, \rho] + \gamma(\bar n+1)D[J_-]\rho + \gamma\bar n D[J_+]\rho`
    reduces to one birth-death chain per multiplet (2.7-2.8); the long-time state is (2.1). Energies,
    heat and :math:`C_{re}` are float64 (positive sums; O(N) closed forms at t = inf, so N = 10^5 is
    fast); :math:`C_{l1}` comes with a bound and a status (``'certified'``, ``'estimate'``, ``'not computed'``).

    Args:
        atoms: Dicke-limit atoms (uniform :math:`\gamma_{ij}`; a uniform :math:`\Omega` has no effect).
        bath: thermal bath, same :math:`\omega` as the atoms (T = 0 and T = inf allowed; at T = inf only the
            long-time state and t = 0).
        initial: ``'ground'``, ``'excited'`` or ``'thermal'``.
        times: times in units of 1/gamma (rates :math:`\gamma(\bar n+1)` and :math:`\gamma\bar n`), >= 0;
            ``np.inf`` entries give the long-time state.
        long_time: append the long-time state (t = inf) after ``times``.
        rel_tol: target relative accuracy of the certified :math:`C_{l1}`.
        progress: show tqdm progress bars.
        l1_max_atoms: skip the certified long-time :math:`C_{l1}` (nan, ``'not computed'``) above this N
            (O(N^2) big-integer work: ~2 s at N = 1000), and the certified finite-time one of thermal states
            (the uncertified estimate remains).
        finite_time_l1: evaluate :math:`C_{l1}` at finite t > 0 (False: ``'not computed'``; the dynamics
            alone are ~10x cheaper at N = 10^5).
        l1_budget_s: CPU seconds the certified finite-time :math:`C_{l1}` may cost per time, planned before any
            work (over it: the estimate, and a note with the planned cost, the budget it needs; inf: no limit).
            Thermal, T0 = 0.5 to T = 1, planned / measured: N = 200 < 6 s at any t; N = 1000 ~240 / 144 s at
            gamma t = 0.001, ~780 / 594 s at 0.01, ~100 / 105 s at 0.1. Ground, the superradiant burst at
            N = 10^4: ~6 s at gamma t = 1e-4, ~63 / 40-60 s at 1e-3.

    Returns:
        :class:`DickeResult`. :math:`C_{l1}` at finite t > 0: from ground / excited states, certified by
        the relaxation bound at late times (any N), else by non-negative uniformisation (entrywise exponents)
        where it fits ``l1_budget_s`` (every time of t = 0..20 at N <= 20 by doubling; the superradiant burst,
        e.g. N = 10^4 at gamma t <= 1e-3), else an estimate from the float64 chain (the positive sum (2.3),
        nan where its error estimate exceeds it); from thermal states, for
        N <= min(1000, l1_max_atoms), certified with q(t) enclosed in ball arithmetic (N <= 40: every time
        from one refined eigendecomposition per chain, :mod:`.spectral`; else per time, :mod:`.thermal_l1`:
        integer uniformisation at early times, the spectral relaxation bound at late times) where that fits
        its budget; otherwise an estimate at any N (:mod:`.thermal_estimate`: the symmetric-multiplet sum,
        its error estimate including a sign check at N = 40; for N <= 200 the evaluation of (2.7) for the
        float64 q(t) where its a-priori error estimate is smaller), 'not computed' with a note where the
        error estimate exceeds the value. At t = 0 and t = inf the bound is rigorous for the float inputs.

    Raises:
        ParameterError: bad inputs, or more memory needed than the machine has (checked before allocating).
    """
    from ..._threads import blas_threads_for

    # Vectors of length <= N+1 and tridiagonal solves: BLAS threads cost more than they bring at small N.
    with blas_threads_for(atoms.n + 1 if isinstance(atoms, Atoms) else 0):
        return _solve_dicke(atoms, bath, initial, times, long_time, rel_tol, progress, l1_max_atoms, finite_time_l1,
                            l1_budget_s)


def _solve_dicke(atoms, bath, initial, times, long_time, rel_tol, progress, l1_max_atoms, finite_time_l1, l1_budget_s):
    n, x, nbar, pe0 = _physical_inputs(atoms, bath, initial)
    rel_tol = check_real("rel_tol", rel_tol, minimum=0.0, strict_min=True, maximum=1.0)
    l1_budget_s = check_real("l1_budget_s", l1_budget_s, minimum=0.0, allow_inf=True)  # inf: no limit
    long_time, progress = check_bool("long_time", long_time), check_bool("progress", progress)
    finite_time_l1 = check_bool("finite_time_l1", finite_time_l1)
    l1_max_atoms = check_int("l1_max_atoms", l1_max_atoms, minimum=0)
    ts = _check_times(times)
    if long_time:
        ts = np.concatenate([ts, [np.inf]])
    finite = np.isfinite(ts)
    if np.isinf(nbar) and np.any(ts[finite] > 0):
        raise ParameterError(
            "Argument `times` must be 0 or inf at T = inf (the rates gamma*nbar are infinite), but contains "
            f"{ts[finite & (ts > 0)][:3].tolist()}; use long_time=True."
        )
    # Exactly incoherent cases: bath at the initial temperature (rho(t) = rho_0), T = 0 from the ground state.
    static = (initial.kind == "thermal" and initial.temperature == bath.temperature) or (
        initial.kind == "ground" and x == 0.0
    )
    idx_dyn = np.nonzero(finite & (ts > 0))[0]
    idx_zero = np.nonzero(ts == 0)[0]
    idx_inf = np.nonzero(~finite)[0]
    pure = initial.kind in ("ground", "excited")  # only the symmetric multiplet is populated
    want_l1 = bool(finite_time_l1) and bool(idx_dyn.size) and not static
    thermal_l1 = want_l1 and not pure
    full_q = thermal_l1 and n <= _FINITE_L1_MAX_ATOMS
    _check_memory(n, ts.size, full_q)
    n_t = ts.size
    energy = np.zeros(n_t)
    c_re = np.zeros(n_t)
    log10_l1 = np.full(n_t, -np.inf)
    l1 = np.zeros(n_t)
    l1_abs = np.zeros(n_t)
    l1_rel = np.zeros(n_t)
    status = ["certified"] * n_t
    notes = [""] * n_t
    budget_notes = [""] * n_t  # what certifying a ground / excited row would cost, where it is over the budget
    wk = np.zeros((n_t, n + 1))
    omega = atoms.omega

    def skip(idx, why: str) -> None:
        log10_l1[idx], l1[idx], l1_abs[idx], l1_rel[idx] = np.nan, np.nan, np.inf, np.inf
        for it in idx:
            status[it], notes[it] = "not computed", why

    if idx_zero.size:
        tab = _log_tables(n, pe0)
        wk[idx_zero] = np.exp(tab.lc + tab.lw + tab.c)
        energy[idx_zero] = omega * n * pe0
    if idx_dyn.size:
        gts = atoms.gamma * ts[idx_dyn]
        tables = _log_tables(n, pe0)
        # Small N from ground / excited: populations and certified C_l1 at every time from one doubling
        # uniformisation (a few dense products; no contour solves, no per-term Python loop).
        small_l1: list = [None] * gts.size
        if pure and not static:
            small_l1, small_p = symmetric_populations_doubling(n, nbar, pe0 == 1.0, gts)
        rest = np.array([r is None for r in small_l1], dtype=bool)  # times left to the general path
        if full_q:
            q, err = _dynamics(n, x, pe0, gts, nbar, progress)
            w, mean, cre = _observables_from_q(n, q, tables)
            q_sym, err_sym, w_err = q[:, 0, :], err[:, 0, :], err.sum(axis=(1, 2))
        else:
            w, s_rho, w_err = np.zeros((gts.size, n + 1)), np.zeros(gts.size), np.zeros(gts.size)
            q_sym, err_sym = np.zeros_like(w), np.zeros_like(w)
            if np.any(rest):
                # Without C_l1(t), multiplets of weight < 1e-30 cannot change any reported digit: skip them.
                w[rest], s_rho[rest], q_sym[rest], err_sym[rest], w_err[rest] = _dynamics_observables(
                    n, x, pe0, gts[rest], nbar, progress, 0.0 if pure else 1e-30)
            if not np.all(rest):
                # Renormalised for the populations: the rounding of P's columns drifts the sum by ~K m u (the
                # certified C_l1 above used the unnormalised vectors its bound is for).
                p = small_p[~rest] / small_p[~rest].sum(axis=1, keepdims=True)
                w[~rest] = q_sym[~rest] = p
                with np.errstate(divide="ignore", invalid="ignore"):
                    s_rho[~rest] = -np.sum(np.where(p > 0, p * (np.log(p) - tables.ld[0]), 0.0), axis=1)
            mean, cre = _mean_and_cre(n, w, s_rho, tables)
        wk[idx_dyn], energy[idx_dyn], c_re[idx_dyn] = w, omega * mean, cre
        if static:
            pass
        elif not want_l1:
            skip(idx_dyn, "not requested (finite_time_l1=False)")
        elif thermal_l1:
            guesses = np.full(idx_dyn.size, np.nan)
            estimates: list = [None] * idx_dyn.size
            certified: list = [None] * idx_dyn.size
            planned = [math.nan] * idx_dyn.size
            certifiable = n <= min(_CERTIFIED_THERMAL_MAX_ATOMS, l1_max_atoms) and 0.0 < nbar < np.inf
            if certifiable and n <= SPECTRAL_MAX_ATOMS:
                # every time from one refined eigendecomposition per chain (its bits sized by the float64 (2.7))
                certified = thermal_l1_spectral(n, nbar, pe0, gts, rel_tol, float_log_l1(n, q))
            rest = [pos for pos, res in enumerate(certified) if res is None]  # the per-time routes

            def float64_estimates(positions) -> None:
                # (2.7) certified for the float64 q(t), plus the a-priori error of q: an estimate of C_l1(t)
                ks = np.arange(1, n)
                lbeta = _log_beta(n, ks)
                for pos in positions:
                    if estimates[pos] is None:
                        res = _certified_l1_generic(n, q[pos], rel_tol)
                        with np.errstate(divide="ignore"):
                            dyn = _logsumexp(np.log(err[pos][:, ks]) + lbeta)
                        estimates[pos] = _l1_fields(res, dyn)
                        if estimates[pos][3] < 0.5:
                            guesses[pos] = res.log10 * math.log(10.0)

            if full_q and rest:
                if n <= BALL_ENGINE_MAX_ATOMS:
                    guesses[rest] = float_log_l1(n, q[rest])  # a guess is all the certified routes need
                else:
                    float64_estimates(rest)
            # The uncertified estimate (O(N) per time) where the float64 (2.7) gives no guess: it also sizes the
            # certified evaluation's precision (a first guess far off costs N = 500 a second full attempt).
            sums: dict = {}

            def estimate(positions) -> None:
                positions = [pos for pos in positions if pos not in sums]
                if positions:
                    got = thermal_l1_estimate(n, nbar, pe0, gts[positions], w[positions], w_err[positions],
                                              q_sym[positions], err_sym[positions])
                    sums.update(zip(positions, got))

            estimate([pos for pos in rest if not np.isfinite(guesses[pos])])
            for pos in rest:
                if not np.isfinite(guesses[pos]):
                    guesses[pos] = sums[pos][0]
            if certifiable and rest:
                planned_rest: list = []
                got = thermal_l1_certified(n, x, nbar, pe0, gts[rest], rel_tol, guesses[rest], progress, l1_budget_s,
                                           planned_rest)
                for pos, res, cost in zip(rest, got, planned_rest):
                    certified[pos], planned[pos] = res, cost
            todo = [pos for pos, res in enumerate(certified) if res is None]
            estimate(todo)
            if full_q:
                float64_estimates(todo)  # where certification failed: the float64 (2.7) may beat the sum below
            checks = dict(zip(todo, sign_check(n, x, nbar, pe0, gts[todo]))) if todo else {}
            for pos, it in enumerate(idx_dyn):
                if certified[pos] is not None:
                    log10_l1[it], l1[it], l1_abs[it], l1_rel[it] = _l1_fields(certified[pos])
                    continue
                value, num_err = sums[pos]
                # the symmetric-multiplet sum: its float error plus the sign check's estimate of what it misses
                total = np.logaddexp(num_err, value + math.log(checks[pos])) if checks[pos] == checks[pos] else np.inf
                fields = _log_fields(value, total) if total < value else (np.nan, np.nan, np.inf, np.inf)
                label = "symmetric-multiplet sum"
                if estimates[pos] is not None and estimates[pos][3] < fields[3]:
                    fields, label = estimates[pos], "float64 block probabilities"  # the full (2.7) did better
                log10_l1[it], l1[it], l1_abs[it], l1_rel[it] = fields
                status[it] = "estimate"
                # say what certification would cost where only the budget stood in the way
                over = _over_budget(planned[pos], l1_budget_s) if planned[pos] > l1_budget_s else ""
                if n > l1_max_atoms and n <= _CERTIFIED_THERMAL_MAX_ATOMS:  # the cap, not the budget, stood in the way
                    over = f"; not certified: N = {n} is above l1_max_atoms = {l1_max_atoms} (CLI: --l1-max-atoms)"
                notes[it] = f"uncertified estimate ({label}), relative error estimate {fields[3]:.1g}{over}"
                if not fields[3] < 1.0:
                    lower = f" (log10 C_l1 >= {value / math.log(10.0):.4f})" if np.isfinite(value) else ""
                    if not num_err < value:
                        why = "its float64 evaluation does not resolve it (error estimate above the value)"
                    elif checks[pos] == checks[pos]:
                        why = f"it may miss C_l1 by more than itself (sign check at N = {min(n, CHECK_ATOMS)})"
                    else:
                        why = f"no certified sign check at N = {min(n, CHECK_ATOMS)}"
                    skip([it], f"no estimate: the symmetric-multiplet sum is a lower bound{lower}, {why}{over}")
        elif pure:
            certified = list(small_l1)
            todo = [pos for pos, res in enumerate(certified) if res is None]
            if todo:
                # late times: the relaxation bound around the closed-form long-time value, where it is tight
                # (first: it costs O(N) per time, the uniformisation O(N lambda t))
                for pos, res in zip(todo, symmetric_l1_relaxed(n, nbar, x, pe0 == 1.0, gts[todo])):
                    if res is not None and res[1] - res[0] <= math.log(_RELAXED_ACCEPT):
                        certified[pos] = res
            with np.errstate(divide="ignore"):
                log_q, log_err = np.log(q_sym), np.log(err_sym)
            if pe0 == 0.0 and np.isfinite(nbar) and nbar > 0:
                # From the ground state p_k(t) <= x^k at all times (r = p / pi is a max-norm contraction):
                # that is the error of every entry float64 could not hold (underflow, cut levels).
                cap = -_u_of_x(x) * np.arange(n + 1.0)
                log_err = np.where(q_sym > 0, log_err, np.maximum(log_err, cap[None, :]))
            todo = np.array([pos for pos, res in enumerate(certified) if res is None], dtype=int)
            planned = np.zeros(gts.size)
            if todo.size:
                # the float64 estimate sizes the uniformisation's plan (its own error may be huge: a rough size)
                guess = [symmetric_l1_estimate(n, log_q[pos], log_err[pos])[0] for pos in todo]
                plans: list = []
                for pos, res in zip(todo, symmetric_l1_uniformised(n, nbar, pe0 == 1.0, gts[todo], l1_budget_s, guess,
                                                                   plans)):
                    certified[pos] = res
                planned[todo] = plans
            backward = [None] * gts.size
            todo = [pos for pos, res in enumerate(certified) if res is None]
            if pe0 == 0.0 and todo:
                for pos, res in zip(todo, symmetric_l1_backward(n, nbar, gts[todo])):
                    backward[pos] = res
            for pos, it in enumerate(idx_dyn):
                if certified[pos] is not None:
                    value, bound = certified[pos]
                else:
                    value, bound = symmetric_l1_estimate(n, log_q[pos], log_err[pos])
                    if backward[pos] is not None and backward[pos][1] - backward[pos][0] < bound - value:
                        value, bound = backward[pos]
                    status[it] = "estimate"
                    if planned[pos] > l1_budget_s:
                        budget_notes[it] = _over_budget(planned[pos], l1_budget_s)
                log10_l1[it], l1[it], l1_abs[it], l1_rel[it] = _log_fields(value, bound)
    if idx_inf.size:
        summary = _long_time_summary(n, x, pe0)
        wk[idx_inf], energy[idx_inf] = summary["w"], omega * summary["mean_excitations"]
        c_re[idx_inf] = summary["coherence_re"]
        if static:
            c_re[idx_inf] = 0.0
        elif pure:
            # Closed form (2.3) in logs at any N: no big-integer work, no cap.
            fields = _log_fields(*_symmetric_long_time_log_l1(n, x))
            for it in idx_inf:
                log10_l1[it], l1[it], l1_abs[it], l1_rel[it] = fields
        elif n <= l1_max_atoms:
            fields = _l1_fields(_certified_l1_long_time(n, x, pe0, rel_tol, progress))
            for it in idx_inf:
                log10_l1[it], l1[it], l1_abs[it], l1_rel[it] = fields
        else:
            skip(idx_inf, f"above l1_max_atoms = {l1_max_atoms} (CLI: --l1-max-atoms; the certified long-time value "
                          "costs ~N^2.6)")
    for it in range(n_t):
        if status[it] == "certified" and not l1_rel[it] < 1.0:
            status[it] = "estimate"  # a bound that does not separate the value from 0 certifies nothing
        if status[it] == "estimate" and not notes[it]:
            notes[it] = f"uncertified estimate, relative error estimate {l1_rel[it]:.1g}"
    _unresolved_to_nan(log10_l1, l1, l1_abs, l1_rel, status, notes)
    notes = [note + extra for note, extra in zip(notes, budget_notes)]
    heat = energy - omega * n * pe0
    return DickeResult(
        times=ts,
        energy=energy,
        heat=heat,
        coherence_re=c_re,
        log10_coherence_l1=log10_l1,
        coherence_l1=l1,
        coherence_l1_error_bound=l1_abs,
        coherence_l1_relative_error_bound=l1_rel,
        excitation_probabilities=wk,
        coherence_l1_status=tuple(status),
        coherence_l1_note=tuple(notes),
    )


def _over_budget(planned_s: float, budget_s: float) -> str:
    # rounded up (2 significant digits), so that asking for the quoted budget runs it (7.03 s printed as ~7 was
    # refused at --l1-budget 7)
    digits = 1 - math.floor(math.log10(planned_s)) if planned_s > 0 else 0
    quoted = math.ceil(planned_s * 10.0**digits) / 10.0**digits
    return f"; certifying it is planned at {quoted:.2g} s CPU, over l1_budget_s = {budget_s:g} (CLI: --l1-budget)"


def _unresolved_to_nan(log10_l1, l1, l1_abs, l1_rel, status: list, notes: list) -> None:
    """An estimate whose error estimate exceeds it is not a value (issue 9): nan, 'not computed', and the note
    says what it was (the error estimate stays in ``l1_abs``)."""
    for it, rel in enumerate(l1_rel):
        if status[it] == "estimate" and not rel < 1.0:
            # an error estimate beyond float range is said relative to the value, an infinite one as such
            if np.isfinite(l1_abs[it]):
                size = f"an error estimate {l1_abs[it]:.3g} larger than itself"
            elif np.isfinite(rel):
                size = f"a relative error estimate {rel:.3g}: larger than itself"
            else:
                size = "an infinite error estimate (no digit is known)"
            notes[it] = f"no value: the estimate log10 C_l1 = {log10_l1[it]:.4f} has {size}"
            status[it] = "not computed"
            l1[it] = log10_l1[it] = np.nan


def _mean_and_cre(n: int, w: np.ndarray, s_rho: np.ndarray, tables: _LogTables) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`\langle\hat N\rangle` and :math:`C_{re} = S(\Delta\rho) - S(\rho)` from W_k and the anchored S(rho) (2.2)."""
    mean = w @ np.arange(n + 1, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_deph = -np.sum(np.where(w > 0, w * (np.log(w) - tables.lc[None, :]), 0.0), axis=1)
    return mean, np.maximum(s_deph - s_rho, 0.0)


def _log_fields(log_value: float, log_bound: float) -> tuple[float, float, float, float]:
    """(log10 value, value, absolute bound, relative bound) from natural logs (inf on overflow)."""
    log10_v = log_value / math.log(10.0)
    value = 10.0**log10_v if log10_v < 308 else np.inf
    with np.errstate(over="ignore"):
        abs_bound = float(np.exp(log_bound)) if np.isfinite(log_bound) else 0.0
    if not np.isfinite(log_bound):
        rel = 0.0
    elif not np.isfinite(log_value) or log_bound >= log_value:
        rel = np.inf
    else:
        r = math.exp(log_bound - log_value)
        rel = r / (1.0 - r)  # relative to the smallest value the bound allows, as in _l1_fields
    # and the float 10^log10 itself rounds (as in _l1_fields)
    return _with_float_rounding(log10_v, value, abs_bound, rel, _float_rounding(log_value))
