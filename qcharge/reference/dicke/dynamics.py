r"""Finite-time dynamics: one birth-death chain per J-multiplet (PHYSICS.md 2.7-2.8)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import eigh_tridiagonal

from ..._checks import check_real
from ...exceptions import ParameterError
from .combinatorics import _check_n, _check_pe0, _check_x, _log_tables
from .long_time import _u_of_x, long_time_block_probabilities

__all__ = ["block_probabilities"]

# The symmetrised eigen path of a birth-death chain is used while the error amplification of its
# back-transformation stays below this (a loss of at most 2-3 digits); see _chain_evolve.
_EIGEN_MAX_AMPLIFICATION = 1e2

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


def _chain_generator(length: int, nbar: float) -> np.ndarray:
    """Dense generator G (dq/dt = G q, columns sum to zero)."""
    up, down = _chain_rates(length, nbar)
    gen = np.diag(-(up + down))
    gen += np.diag(up[:-1], -1) + np.diag(down[1:], 1)
    return gen


def _nonnegative_propagator(gen: np.ndarray, gamma_t: float) -> np.ndarray:
    r""":math:`e^{G t}` of a Markov generator with only non-negative arithmetic.

    :math:`G = A - \lambda I` with :math:`A \ge 0` (uniformisation);
    :math:`e^{Gh} = e^{-\lambda h}\sum_n (hA)^n/n!` for :math:`\lambda h \le 1` (series cut when the Poisson
    tail is below 1e-17), then s squarings. Every intermediate is a sum of non-negative terms (no
    cancellation, unlike Pade ``expm``), and the columns are renormalised to 1 after every squaring: the
    exact propagator is column-stochastic, and without this the lost mass doubles with each squaring
    (2e-11 at gamma t = 20 for L = 101 instead of 6e-15 against a 200-bit arb reference).
    """
    length = gen.shape[0]
    lam = float(np.max(-np.diag(gen)))
    if lam == 0.0 or gamma_t == 0.0:
        return np.eye(length)
    a_mat = gen + lam * np.eye(length)
    squarings = max(0, math.ceil(math.log2(lam * gamma_t)))
    h = gamma_t / 2.0**squarings
    term = np.eye(length)
    total = np.eye(length)
    weight, n_term = 1.0, 0
    while weight > 1e-17 or n_term < 2:  # Poisson(lambda h <= 1) tail weight < 1e-17
        n_term += 1
        term = (term @ a_mat) * (h / n_term)
        total += term
        weight *= lam * h / n_term
    prop = total / total.sum(axis=0, keepdims=True)
    for _ in range(squarings):
        prop = prop @ prop
        prop /= prop.sum(axis=0, keepdims=True)
    return prop


def _chain_evolve(q0: np.ndarray, gamma_t: np.ndarray, nbar: float, u: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Evolve one multiplet's block probabilities: :math:`q(t) = e^{G\gamma t} q(0)` for every ``gamma_t``.

    Detailed balance with :math:`\pi_m \propto x^m` makes :math:`S = R^{-1} G R`, :math:`R = \mathrm{diag}(x^{m/2})`,
    symmetric tridiagonal, so :math:`q(t) = R\, V e^{\Lambda t} V^T R^{-1} q(0)` costs O(L^2)
    (``eigh_tridiagonal``); the stationary mode is set exactly (eigenvalue 0, vector :math:`\sqrt{\pi}`).
    The back-transformation multiplies absolute errors :math:`\epsilon\|R^{-1}q(0)\|` by :math:`x^{m/2}`:
    harmless when q(0) sits at low m (ground; thermal T0 < 2T), catastrophic for mass at high m (excited
    state, hot initial states), where the amplification
    :math:`\kappa = \sum_m q_m(0) x^{-m/2} / \sum_m q_m(0)` exceeds ``_EIGEN_MAX_AMPLIFICATION`` and
    :func:`_nonnegative_propagator` (O(L^3) per distinct time gap) is used instead. T = 0 (pure decay, not
    symmetrisable) always takes the second path.

    Returns:
        ``(q, err)``: q of shape ``(n_times, L)`` (clipped at 0) and an a-priori estimate (not a bound) of
        its absolute error per entry, used for the finite-time C_l1 bound.
    """
    length = q0.size
    n_times = gamma_t.size
    total = float(q0.sum())
    if total == 0.0:
        return np.zeros((n_times, length)), np.zeros((n_times, length))
    if length == 1:
        return np.tile(q0, (n_times, 1)), np.tile(_EPS * q0, (n_times, 1))
    m = np.arange(length, dtype=float)
    with np.errstate(divide="ignore"):
        lq0 = np.log(q0)
    kappa = np.inf
    if nbar > 0 and np.isfinite(u):
        lz = lq0 + 0.5 * u * m  # ln of R^{-1} q(0), with r_0 = 1 >= r_m
        top = float(np.max(lz))
        kappa = float(np.sum(np.exp(lz - top))) * math.exp(top) / total
    if kappa <= _EIGEN_MAX_AMPLIFICATION:
        up, down = _chain_rates(length, nbar)
        off = math.sqrt(nbar * (nbar + 1.0)) * (m[:-1] + 1.0) * (length - 1.0 - m[:-1])
        lam, vec = eigh_tridiagonal(-(up + down), off)
        stat = int(np.argmax(lam))
        lam[stat] = 0.0
        root_pi = np.exp(-0.5 * u * m)
        vec[:, stat] = root_pi / np.linalg.norm(root_pi)
        coef = vec.T @ np.exp(lz - top)
        with np.errstate(under="ignore"):
            decay = np.exp(np.outer(gamma_t, lam))  # (n_times, L)
            q = ((decay * coef[None, :]) @ vec.T) * np.exp(-0.5 * u * m + top)[None, :]
        err = 8.0 * _EPS * length * (kappa * total * np.exp(-0.5 * u * m)[None, :] + np.abs(q))
    else:
        gen = _chain_generator(length, nbar)
        order = np.argsort(gamma_t, kind="stable")
        q = np.empty((n_times, length))
        cache: dict[float, np.ndarray] = {}
        state, now = q0.copy(), 0.0
        for it in order:
            gap = float(gamma_t[it]) - now
            if gap > 0:
                if gap not in cache:
                    cache[gap] = _nonnegative_propagator(gen, gap)
                state = cache[gap] @ state
                now = float(gamma_t[it])
            q[it] = state
        steps = np.searchsorted(np.sort(gamma_t), gamma_t, side="right")
        err = 8.0 * _EPS * length * steps[:, None] * (np.abs(q) + _EPS * total)
    return np.maximum(q, 0.0), err


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

