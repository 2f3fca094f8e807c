r"""Finite-time dynamics: one birth-death chain per J-multiplet (docs/physics.md §2.7-2.8)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ..._checks import check_real
from ...exceptions import ParameterError
from .combinatorics import _check_n, _check_pe0, _check_x, _log_multiplet_weights, _log_tables
from .long_time import _u_of_x, long_time_block_probabilities

__all__ = ["block_probabilities"]


_EPS = np.finfo(float).eps


# ----------------------------------------------------------------------------------------- dynamics
def _chain_rates(length: int, nbar: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Birth-death rates (2.8) of a multiplet with L = 2J+1 levels, in units of :math:`\gamma`.

    ``up[m]`` is :math:`m \to m+1`: :math:`\bar n (2J-m)(m+1)`; ``down[m]`` is :math:`m \to m-1`:
    :math:`(\bar n+1)\, m(2J-m+1)`.
    """
    m = np.arange(length, dtype=float)
    up = nbar * (length - 1 - m) * (m + 1)
    down = (nbar + 1.0) * m * (length - m)
    return up, down


# Contour of the exponential's Cauchy integral e^{A} = (1/2 pi i) int e^z (z - A)^{-1} dz: the parabola of
# Trefethen, Weideman & Schmelzer (BIT 46, 2006), z(theta) = K (0.1309 - 0.1194 theta^2 + 0.25 i theta), with
# K = 32 trapezoid nodes (16 by conjugate symmetry, A real): quadrature error ~2.85^-32 = 3e-15 for a real
# spectrum in (-inf, 0]. More nodes do not help: e^z reaches e^(0.1309 K) on the contour and multiplies
# the rounding of the complex solves (64 nodes: 1e-12).
_CONTOUR_NODES = 32
# The symmetrised path is used while the error amplification of its back-transformation
# R = diag(x^(m/2)) stays below this (a loss of at most 2 digits); see _chain_evolve.
_SYMMETRIC_MAX_AMPLIFICATION = 1e2
# Chains up to this length take one dense eigendecomposition for all times (_symmetric_actions).
_EIGEN_MAX_LENGTH = 256
# ln of a population treated as empty (float64 cannot hold it next to O(1) populations anyway).
_LOG_EMPTY = math.log(1e-300)
# LSODA tolerances of the other path (relative; absolute in units of the chain's weight). Checked
# against the dense non-negative propagator to 1e-12 in the tests.
_LSODA_RTOL = 1e-11
_LSODA_ATOL = 1e-15


def _contour() -> tuple[np.ndarray, np.ndarray]:
    """Upper-half nodes z_k and weights c_k with e^A v ~= sum_k 2 Re[c_k (z_k - A)^{-1} v]."""
    theta = -np.pi + (np.arange(_CONTOUR_NODES) + 0.5) * 2.0 * np.pi / _CONTOUR_NODES
    theta = theta[theta > 0]
    z = _CONTOUR_NODES * (0.1309 - 0.1194 * theta**2 + 0.25j * theta)
    dz = _CONTOUR_NODES * (-2.0 * 0.1194 * theta + 0.25j)
    return z, np.exp(z) * dz / (1j * _CONTOUR_NODES)


class _Tridiagonal:
    """A real tridiagonal matrix by its diagonals: ``sub[i] = A[i+1, i]``, ``sup[i] = A[i, i+1]``."""

    def __init__(self, sub: np.ndarray, diag: np.ndarray, sup: np.ndarray) -> None:
        self.sub, self.diag, self.sup = sub, diag, sup
        self.nodes, self.weights = _contour()

    def expm_action(self, v: np.ndarray, h: float) -> np.ndarray:
        r""":math:`e^{hA} v` by the contour rule: 16 complex tridiagonal solves, O(L) each (LAPACK gtsv)."""
        from scipy.linalg.lapack import zgtsv

        if v.size == 1:
            return v * math.exp(h * self.diag[0])
        out = np.zeros(v.size)
        dl, du = (-h * self.sub).astype(complex), (-h * self.sup).astype(complex)
        # Entries below 1e-290 of the O(1)-scaled vectors are zeroed: far below the rule's accuracy, and
        # subnormal numbers make the solves ~50x slower.
        rhs = np.where(np.abs(v) < 1e-290 * float(np.max(np.abs(v))), 0.0, v).astype(complex)
        for z, c in zip(self.nodes, self.weights):
            sol = zgtsv(dl.copy(), z - h * self.diag, du.copy(), rhs.copy())[3]
            out += 2.0 * np.real(c * sol)
        out[np.abs(out) < 1e-300] = 0.0
        return out


def _chain_evolve(q0: np.ndarray, gamma_t: np.ndarray, nbar: float, u: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Evolve one multiplet's block probabilities: :math:`q(t) = e^{G\gamma t} q(0)` for every ``gamma_t``.

    O(L) memory per saved time, no dense L x L propagator beyond L = 256. Detailed balance with
    :math:`\pi_m \propto x^m` makes :math:`S = R^{-1} G R`, :math:`R = \mathrm{diag}(x^{m/2})`, symmetric
    tridiagonal with spectrum in :math:`(-\infty, 0]`, where the contour rule of :class:`_Tridiagonal` is
    accurate to ~1e-14 at O(L) cost per time (16 tridiagonal solves), and short chains take one
    eigendecomposition for all times (:func:`_symmetric_actions`). The back-transformation multiplies
    absolute errors :math:`\epsilon\|R^{-1}q(0)\|` by :math:`x^{m/2}`: harmless when q(0) sits at low m (ground; thermal
    T0 < 2T), catastrophic for mass at high m (excited state, hot initial states), where the amplification
    :math:`\kappa = \sum_m q_m(0) x^{-m/2} / \sum_m q_m(0)` exceeds ``_SYMMETRIC_MAX_AMPLIFICATION``. There
    (and at T = 0, not symmetrisable) q is integrated by LSODA with the banded Jacobian (O(L) per step):
    the contour rule on the non-normal G itself loses up to 57 digits at intermediate times.

    Returns:
        ``(q, err)``: q of shape ``(n_times, L)`` (clipped at 0, renormalised) and an a-priori estimate
        (not a bound) of its absolute error per entry, used for the finite-time C_l1 estimates.
    """
    length = q0.size
    n_times = gamma_t.size
    total = float(q0.sum())
    if total == 0.0:
        return np.zeros((n_times, length)), np.zeros((n_times, length))
    if length == 1:
        return np.tile(q0, (n_times, 1)), np.tile(_EPS * q0, (n_times, 1))
    up, down = _chain_rates(length, nbar)
    m = np.arange(length, dtype=float)
    with np.errstate(divide="ignore"):
        lq0 = np.log(q0)
    kappa = np.inf
    if nbar > 0 and np.isfinite(u):
        lz = lq0 + 0.5 * u * m  # ln of R^{-1} q(0), with r_0 = 1 >= r_m
        top = float(np.max(lz))
        kappa = float(np.sum(np.exp(lz - top))) * math.exp(min(top - math.log(total), 700.0))
    if kappa <= _SYMMETRIC_MAX_AMPLIFICATION:
        # r = q / pi is a max-norm contraction, so q_m(t) <= pi_m max r(0) at all times: levels where that is
        # below 1e-300 stay empty in float64 and are cut (else their subnormal values make the complex solves
        # ~50x slower); the mass that could leave through the cut is < N^2 t 1e-300.
        log_cap = -u * m + float(np.max(lq0 + u * m))  # ln(pi_m max r(0)): the ladder norms cancel
        keep = max(int(np.count_nonzero(log_cap > _LOG_EMPTY)), int(np.max(np.nonzero(q0 > 0)[0])) + 1, 2)
        mk = m[:keep]
        off = math.sqrt(nbar * (nbar + 1.0)) * (mk[:-1] + 1.0) * (length - 1.0 - mk[:-1])
        z0 = np.exp(lz[:keep] - top)
        back = np.exp(-0.5 * u * mk + top)
        q = np.zeros((n_times, length))
        with np.errstate(under="ignore"):
            q[:, :keep] = _symmetric_actions(off, -(up + down)[:keep], z0, gamma_t) * back[None, :]
            err = 64.0 * _EPS * (kappa * total * np.exp(-0.5 * u * m)[None, :] + np.abs(q))
    else:
        q = _lsoda_chain(q0, gamma_t, up, down)
        err = np.broadcast_to(100.0 * (_LSODA_ATOL * total + _LSODA_RTOL * np.abs(q)), q.shape).copy()
    q = np.maximum(q, 0.0)
    q *= total / np.maximum(q.sum(axis=1, keepdims=True), np.finfo(float).tiny)
    return q, err


def _symmetric_actions(off: np.ndarray, diag: np.ndarray, z0: np.ndarray, gamma_t: np.ndarray) -> np.ndarray:
    r""":math:`e^{hS}z_0` for every h of ``gamma_t`` (rows), S symmetric tridiagonal with spectrum in (-inf, 0].

    Short chains (L <= ``_EIGEN_MAX_LENGTH``): one eigendecomposition :math:`S = V\Lambda V^T` (LAPACK stemr,
    O(L^2)) serves every time, :math:`e^{hS}z_0 = V(e^{h\lambda}\circ V^Tz_0)`: O(L^2) per time, normwise
    accurate to ~L u like the contour rule, and 10-100x cheaper than its 16 complex solves per time
    at L ~ 10. Longer chains: the contour rule (O(L) memory and work per time, no dense V).
    """
    from scipy.linalg import eigh_tridiagonal

    if diag.size > _EIGEN_MAX_LENGTH:
        sym = _Tridiagonal(off, diag, off)
        return np.array([sym.expm_action(z0, float(h)) if h > 0 else z0 for h in gamma_t])
    lam, vec = eigh_tridiagonal(diag, off)
    coeff = vec.T @ z0
    # lam <= 0 up to rounding (~L u max|S|): the stationary mode's e^{h lam} stays 1 to that accuracy.
    out = (np.exp(np.minimum(lam, 0.0)[None, :] * gamma_t[:, None]) * coeff[None, :]) @ vec.T
    out[gamma_t == 0] = z0  # exact at t = 0
    out[np.abs(out) < 1e-300] = 0.0
    return out


def _lsoda_chain(q0: np.ndarray, gamma_t: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """q(t) of the chain dq/dt = G q by LSODA (stiff BDF with a banded Jacobian, O(L) per step)."""
    from scipy.integrate import solve_ivp

    length = q0.size
    band = np.zeros((3, length))  # LSODA's banded layout: band[1 + i - j, j] = G[i, j]
    band[0, 1:], band[1], band[2, :-1] = down[1:], -(up + down), up[:-1]

    def rhs(_t, q):
        out = band[1] * q
        out[1:] += up[:-1] * q[:-1]
        out[:-1] += down[1:] * q[1:]
        return out

    ts, where = np.unique(gamma_t, return_inverse=True)
    states = np.tile(q0, (ts.size, 1))
    positive = ts > 0
    if np.any(positive):
        sol = solve_ivp(
            rhs, (0.0, float(ts[-1])), q0, method="LSODA", t_eval=ts[positive], jac=lambda _t, _q: band,
            lband=1, uband=1, rtol=_LSODA_RTOL, atol=_LSODA_ATOL * float(q0.sum()),
        )
        if sol.status != 0:
            raise RuntimeError(f"internal error: LSODA failed on a birth-death chain ({sol.message})")
        states[positive] = sol.y.T
    return states[where]


def _initial_block_q0(n: int, pe0: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Two arrays whose sums give :math:`\ln q_m(0) = \ln(d_J w_{j+m})` (2.8): (ln d_J - A + c, ln w_k - B)."""
    t = _log_tables(n, pe0)
    return t.ld + t.c, t.lw


def _check_x_nbar(x: float, nbar: float) -> tuple[float, float]:
    x = _check_x(x)
    nbar = check_real("nbar", nbar, minimum=0.0, allow_inf=True)
    expected = 1.0 if np.isinf(nbar) else nbar / (nbar + 1.0)
    if abs(expected - x) > 1e-12 * max(1.0, x):
        raise ParameterError(f"Argument `x` must equal nbar/(nbar+1) = {expected!r}, but is {x!r}.")
    return x, nbar


def _dynamics(
    n: int, x: float, pe0: float, gamma_t: np.ndarray, nbar: float, progress: bool = False, prune: float = 0.0
):
    """Block probabilities and error estimates for finite gamma_t (1-D array), shape (n_t, J, N+1).

    Multiplets whose conserved weight P_J is <= ``prune`` are left at zero (their weight is added to the
    error estimate); ``prune = 0`` keeps every multiplet with non-zero weight.
    """
    from tqdm import tqdm

    u = _u_of_x(x)
    ld, lw = _initial_block_q0(n, pe0)
    jmax = n // 2
    q = np.zeros((gamma_t.size, jmax + 1, n + 1))
    err = np.zeros_like(q)
    for j in tqdm(range(jmax + 1), desc="multiplets", disable=not progress, leave=False):
        length = n - 2 * j + 1
        q0 = np.exp(ld[j] + lw[j : j + length])
        weight = float(q0.sum())
        if weight <= prune:
            err[:, j, j : j + length] = weight
            continue
        qj, ej = _chain_evolve(q0, gamma_t, nbar, u)
        q[:, j, j : j + length] = qj
        err[:, j, j : j + length] = ej
    return q, err


def _dynamics_observables(
    n: int, x: float, pe0: float, gamma_t: np.ndarray, nbar: float, progress: bool = False, prune: float = 0.0
):
    r"""Reductions of the block probabilities without storing them: O(n_t N) memory.

    Returns ``(w, s_rho, q_sym, err_sym, w_err)``: :math:`W_k(t)` (shape (n_t, N+1)), the anchored
    :math:`-\sum_{j,k} q_{j,k}(\ln q_{j,k} - \ln d_J + A)` per time (see :func:`_observables_from_q`),
    the symmetric multiplet's q and error estimate (j = 0, shape (n_t, N+1)), and per time the estimated
    :math:`\sum_k|\delta W_k|` (the chains' error estimates plus the weight of the skipped multiplets).
    """
    from tqdm import tqdm

    u = _u_of_x(x)
    tables = _log_tables(n, pe0)
    ld, lw = tables.ld + tables.c, tables.lw
    w = np.zeros((gamma_t.size, n + 1))
    s_rho = np.zeros(gamma_t.size)
    q_sym = err_sym = np.zeros((gamma_t.size, n + 1))
    # Conserved multiplet weights P_J in O(N): empty or negligible multiplets are skipped before their
    # O(L) initial vector is built (from ground / excited only j = 0 is populated).
    weights = np.exp(_log_multiplet_weights(n, pe0, tables))
    w_err = np.full(gamma_t.size, float(weights[weights <= prune].sum()))
    for j in tqdm(np.nonzero(weights > prune)[0], desc="multiplets", disable=not progress, leave=False):
        length = n - 2 * j + 1
        q0 = np.exp(ld[j] + lw[j : j + length])
        qj, ej = _chain_evolve(q0, gamma_t, nbar, u)
        w[:, j : j + length] += qj
        w_err += ej.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_rho -= np.sum(np.where(qj > 0, qj * (np.log(qj) - tables.ld[j]), 0.0), axis=1)
        if j == 0:
            q_sym, err_sym = qj, ej
    return w, s_rho, q_sym, err_sym, w_err


def block_probabilities(n: int, x: float, pe0: float, gamma_t: ArrayLike, nbar: float) -> np.ndarray:
    r"""Block probabilities :math:`q_{j,k}(t)` from the multiplet birth-death chains (2.7-2.8).

    In multiplet j (L = N - 2j + 1 levels, :math:`m = k - j`):

    .. math::

        \dot q_m = \gamma(\bar n+1)[(m+1)(L-m-1) q_{m+1} - m(L-m) q_m]
                 + \gamma\bar n[m(L-m) q_{m-1} - (m+1)(L-m-1) q_m],\qquad q_m(0) = d_J w_{j+m}.

    Args:
        n: number of atoms.
        x: :math:`e^{-\omega/T}`; must equal :math:`\bar n/(\bar n+1)`.
        pe0: initial excited probability of each atom.
        gamma_t: :math:`\gamma t` (scalar or 1-D array, >= 0; ``inf`` gives the long-time state (2.1)).
        nbar: bath occupation :math:`\bar n`; ``inf`` (T = inf) is only allowed with gamma_t in {0, inf}.

    Returns:
        Shape ``(floor(N/2)+1, N+1)`` for a scalar gamma_t, else ``(len(gamma_t), floor(N/2)+1, N+1)``.
    """
    n, pe0 = _check_n(n), _check_pe0(pe0)
    x, nbar = _check_x_nbar(x, nbar)
    scalar = np.ndim(gamma_t) == 0
    gts = np.atleast_1d(np.asarray(gamma_t, dtype=float))
    if gts.ndim != 1 or np.any(np.isnan(gts)) or np.any(gts < 0):
        raise ParameterError(f"Argument `gamma_t` must be >= 0 (scalar or 1-D), but is {gamma_t!r}.")
    finite = np.isfinite(gts)
    if np.isinf(nbar) and np.any(gts[finite] > 0):
        raise ParameterError(
            "Argument `temperature` must be finite for finite-time dynamics (the rates gamma*nbar are infinite "
            "at T = inf); only gamma_t = 0 or inf is allowed, but got "
            f"gamma_t = {gts[finite & (gts > 0)][:3].tolist()}."
        )
    out = np.zeros((gts.size, n // 2 + 1, n + 1))
    if np.any(finite):
        if np.isinf(nbar):  # only t = 0 here
            out[finite] = _dynamics(n, x, pe0, np.zeros(int(finite.sum())), 0.0)[0]
        else:
            out[finite] = _dynamics(n, x, pe0, gts[finite], nbar)[0]
    if np.any(~finite):
        out[~finite] = long_time_block_probabilities(n, x, pe0)
    return out[0] if scalar else out

