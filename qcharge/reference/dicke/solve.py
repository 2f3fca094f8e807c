r"""The Dicke-limit API: :func:`solve_dicke` and :class:`DickeResult` (PHYSICS.md 2)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..._checks import check_int, check_real
from ...exceptions import ParameterError
from ...params import Atoms, Bath, InitialState
from ...states import excited_probability
from .certified_l1 import _certified_l1_generic, _certified_l1_long_time, _l1_fields, _log_beta
from .combinatorics import _log_tables, _LogTables, _logsumexp
from .dynamics import _dynamics
from .long_time import _long_time_summary

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
        coherence_l1_error_bound: certified bound on :math:`|C_{l1} - \text{value}|` (``inf`` on overflow).
        coherence_l1_relative_error_bound: the same bound divided by the value (``inf`` if the value is 0
            and the bound is not).
        excitation_probabilities: shape ``(n_times, N+1)``, :math:`W_k(t) = \sum_j q_{j,k}(t)`.
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
    if bath.omega != atoms.omega:
        raise ParameterError(f"Argument `bath.omega` must equal atoms.omega = {atoms.omega}, but is {bath.omega}.")
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
    # Uniform Omega has no effect: H_Omega = Omega (J+J- - N) is a function of J^2 and J_z (PHYSICS.md 1.3).
    return atoms.n, bath.x, bath.nbar, pe0



# ----------------------------------------------------------------------------------------- observables
# Beyond this N a float64 q(t) cannot resolve C_l1(t) (the cancellation in (2.7) exceeds 1e16 from
# N ~ 60 on), so finite-time C_l1 is not evaluated (nan, bound inf); the long-time value is always exact.
_FINITE_L1_MAX_ATOMS = 200


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
    try:
        arr = np.asarray(times, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(f"Argument `times` must be a 1-D array of real numbers, but is {times!r}.") from None
    if arr.ndim == 0:
        arr = arr[None]
    if arr.ndim != 1:
        raise ParameterError(f"Argument `times` must be 1-D, but has shape {arr.shape}.")
    if np.any(np.isnan(arr)) or np.any(arr < 0):
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
) -> DickeResult:
    r"""Dicke-limit dynamics and long-time state from a product thermal initial state, any N.

    :math:`\dot\rho = -i[H_0 + H_\Omega, \rho] + \gamma(\bar n+1)D[J_-]\rho + \gamma\bar n D[J_+]\rho`
    reduces to one birth-death chain per multiplet (2.7-2.8); the long-time state is (2.1). Energies,
    heat and :math:`C_{re}` are float64 (positive sums; O(N) closed forms at t = inf, so N = 10^5 is
    fast); :math:`C_{l1}` comes with a certified bound (exact integers, see :func:`certified_coherence_l1`).

    Args:
        atoms: Dicke-limit atoms (uniform :math:`\gamma_{ij}`; a uniform :math:`\Omega` has no effect).
        bath: thermal bath, same :math:`\omega` as the atoms (T = 0 and T = inf allowed; at T = inf only the
            long-time state and t = 0).
        initial: ``'ground'``, ``'excited'`` or ``'thermal'``.
        times: times in units of 1/gamma (rates :math:`\gamma(\bar n+1)` and :math:`\gamma\bar n`), >= 0;
            ``np.inf`` entries give the long-time state.
        long_time: append the long-time state (t = inf) after ``times``.
        rel_tol: target relative accuracy of :math:`C_{l1}`.
        progress: show tqdm progress bars.
        l1_max_atoms: skip :math:`C_{l1}` (nan, bound inf) above this N (the exact evaluation is
            O(N^2) big-integer work: ~2 s at N = 1000).

    Returns:
        :class:`DickeResult`. At finite t > 0 the :math:`C_{l1}` bound is the certified evaluation bound for
        the computed q(t) plus an a-priori estimate (not a proof) of the float64 error of q(t); finite-time
        :math:`C_{l1}` is only evaluated for N <= 200 and is meaningful (small relative bound) for N up to
        ~40-60. At t = 0 and t = inf the bound is rigorous for the float inputs x, p_e0.
    """
    from tqdm import tqdm

    n, x, nbar, pe0 = _physical_inputs(atoms, bath, initial)
    rel_tol = check_real("rel_tol", rel_tol, minimum=0.0, strict_min=True, maximum=1.0)
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
    n_t = ts.size
    energy = np.zeros(n_t)
    c_re = np.zeros(n_t)
    log10_l1 = np.full(n_t, -np.inf)
    l1 = np.zeros(n_t)
    l1_abs = np.zeros(n_t)
    l1_rel = np.zeros(n_t)
    wk = np.zeros((n_t, n + 1))
    omega = atoms.omega

    idx_dyn = np.nonzero(finite & (ts > 0))[0]
    idx_zero = np.nonzero(ts == 0)[0]
    idx_inf = np.nonzero(~finite)[0]
    if idx_zero.size:
        tab = _log_tables(n, pe0)
        wk[idx_zero] = np.exp(tab.lc + tab.lw + tab.c)
        energy[idx_zero] = omega * n * pe0
    if idx_dyn.size:
        want_l1 = not static and n <= min(l1_max_atoms, _FINITE_L1_MAX_ATOMS)
        # Without C_l1(t), multiplets of weight < 1e-30 cannot change any reported digit: skip them.
        q, err = _dynamics(n, x, pe0, atoms.gamma * ts[idx_dyn], nbar, progress, 0.0 if want_l1 else 1e-30)
        w, mean, cre = _observables_from_q(n, q, _log_tables(n, pe0))
        wk[idx_dyn], energy[idx_dyn], c_re[idx_dyn] = w, omega * mean, cre
        if not static:
            if want_l1:
                ks = np.arange(1, n)
                lbeta = _log_beta(n, ks)
                for pos, it in enumerate(tqdm(idx_dyn, desc="C_l1(t)", disable=not progress, leave=False)):
                    res = _certified_l1_generic(n, q[pos], rel_tol)
                    with np.errstate(divide="ignore"):
                        dyn = _logsumexp(np.log(err[pos][:, ks]) + lbeta)
                    log10_l1[it], l1[it], l1_abs[it], l1_rel[it] = _l1_fields(res, dyn)
            else:
                log10_l1[idx_dyn], l1[idx_dyn] = np.nan, np.nan
                l1_abs[idx_dyn], l1_rel[idx_dyn] = np.inf, np.inf
    if idx_inf.size:
        summary = _long_time_summary(n, x, pe0)
        wk[idx_inf], energy[idx_inf] = summary["w"], omega * summary["mean_excitations"]
        c_re[idx_inf] = summary["coherence_re"]
        if static:
            c_re[idx_inf] = 0.0
        elif n <= l1_max_atoms:
            fields = _l1_fields(_certified_l1_long_time(n, x, pe0, rel_tol, progress))
            for it in idx_inf:
                log10_l1[it], l1[it], l1_abs[it], l1_rel[it] = fields
        else:
            log10_l1[idx_inf], l1[idx_inf], l1_abs[idx_inf], l1_rel[idx_inf] = np.nan, np.nan, np.inf, np.inf
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
    )

