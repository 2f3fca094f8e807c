r"""Closed forms of the long-time state (docs/physics.md §2.1-2.2): block probabilities and O(N) observables."""

from __future__ import annotations

import math

import numpy as np

from ..._checks import check_real
from .combinatorics import _check_n, _check_pe0, _check_x, _log_multiplet_weights, _log_tables

__all__ = ["long_time_block_probabilities", "long_time_observables"]


def _ladder_log_norm(length: np.ndarray, u: float) -> np.ndarray:
    r""":math:`\ln[(1-x)/(1-x^L)]`, :math:`x = e^{-u}`, for ladders of L levels (u = 0: :math:`-\ln L`; u = inf: 0)."""
    length = np.asarray(length, dtype=float)
    if u == 0.0:
        return -np.log(length)
    if np.isinf(u):
        return np.zeros_like(length)
    return np.log(-np.expm1(-u)) - np.log(-np.expm1(-u * length))


def _ladder_mean(length: np.ndarray, u: float) -> np.ndarray:
    r"""Mean of m over the truncated geometric law :math:`\propto e^{-um}`, m = 0..L-1 (any real u, +-inf).

    :math:`\langle m\rangle = 1/(e^u-1) - L/(e^{uL}-1)`; the two terms cancel when |u|L is small, where the
    Bernoulli series :math:`(L-1)/2 - (L^2-1)u/12 + (L^4-1)u^3/720` is used instead (truncation error
    :math:`< (uL)^5 L/30240 < 10^{-16} L` for :math:`|u|L < 10^{-3}`). u < 0 uses
    :math:`\langle m\rangle(u) = L - 1 - \langle m\rangle(-u)`.
    """
    length = np.asarray(length, dtype=float)
    if u < 0:
        return (length - 1.0) - _ladder_mean(length, -u)
    if u == 0.0:
        return (length - 1.0) / 2.0
    if np.isinf(u):
        return np.zeros_like(length)
    ul = u * length
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        closed = 1.0 / np.expm1(u) - length / np.expm1(ul)
    series = (length - 1.0) / 2.0 - (length**2 - 1.0) * u / 12.0 + (length**4 - 1.0) * u**3 / 720.0
    return np.where(ul < 1e-3, series, closed)


def _u_of_x(x: float) -> float:
    r""":math:`u = \omega/T = -\ln x` (inf at x = 0)."""
    return np.inf if x == 0.0 else -math.log(x)


# ----------------------------------------------------------------------------------------- long-time state
def _log_long_time_q(n: int, x: float, pe0: float) -> np.ndarray:
    r"""Natural log of :math:`q_{j,k}` (2.1), ``-inf`` outside :math:`j \le k \le N-j`."""
    u = _u_of_x(x)
    jmax = n // 2
    j = np.arange(jmax + 1)
    length = n - 2 * j + 1
    lp = _log_multiplet_weights(n, pe0)
    lnorm = _ladder_log_norm(length, u)
    m = np.arange(n + 1)[None, :] - j[:, None]
    inside = (m >= 0) & (m < length[:, None])
    with np.errstate(invalid="ignore"):
        lm = np.where(m > 0, -u * m, 0.0) if np.isfinite(u) else np.where(m > 0, -np.inf, 0.0)
    out = lp[:, None] + lnorm[:, None] + lm
    return np.where(inside, out, -np.inf)


def long_time_block_probabilities(n: int, x: float, pe0: float, *, log: bool = False) -> np.ndarray:
    r"""Block probabilities of the long-time state (2.1).

    .. math::

        q_{j,k} = P_J\, x^{k-j}\,\frac{1-x}{1-x^{N-2j+1}},\qquad P_J = d_J\sum_{k'=j}^{N-j} w_{k'},

    (x = 1: uniform 1/(N-2j+1); x = 0: all weight on k = j).

    Args:
        n: number of atoms N.
        x: bath Boltzmann factor :math:`e^{-\omega/T}\in[0, 1]`.
        pe0: initial excited-state probability :math:`p_{e0}\in[0, 1]`.
        log: return :math:`\ln q_{j,k}` (``-inf`` for zeros) instead of :math:`q_{j,k}`; use it when
            :math:`q_{j,k}` underflows (large N).

    Returns:
        Array of shape ``(floor(N/2)+1, N+1)``, zero outside :math:`j \le k \le N-j`.
    """
    n, x, pe0 = _check_n(n), _check_x(x), _check_pe0(pe0)
    lq = _log_long_time_q(n, x, pe0)
    return lq if log else np.exp(lq)


def _initial_u(pe0: float) -> float:
    r""":math:`u_0 = \ln(p_{g0}/p_{e0}) = \omega/T_0`.

    The initial law inside every multiplet is :math:`\propto e^{-u_0 m}`.
    """
    if pe0 == 0.0:
        return np.inf
    if pe0 == 1.0:
        return -np.inf
    return math.log1p(-pe0) - math.log(pe0)


def _long_time_summary(n: int, x: float, pe0: float) -> dict:
    r"""O(N) reductions of the long-time state: :math:`\ln W_k`, heat, :math:`C_{re}`.

    Inside multiplet j the initial law is :math:`\propto y^m` (:math:`y = p_{e0}/p_{g0}`) and the final one
    :math:`\propto x^m`, both truncated geometric on :math:`L_j = N - 2j + 1` levels, so

    .. math::

        \Delta Q/\omega = \sum_j P_J(\langle m\rangle_{x,j} - \langle m\rangle_{y,j}),\qquad
        W_k = \sum_{j \le \min(k, N-k)} P_J \pi_j(k-j)\ \text{(a prefix sum)},

    .. math::

        S(\rho) = \sum_j P_J[-\ln(P_J/d_J) + H_j],\quad H_j = -\ln\frac{1-x}{1-x^{L_j}} + u\langle m\rangle_{x,j},
        \qquad S(\Delta\rho) = -\sum_k W_k\ln(W_k/\tbinom Nk)

    (2.2). The heat is a sum of positive weights times O(1) differences (never E(t) - E(0) of two
    numbers of size N), and the anchored logs make the ln C and ln d_J terms cancel exactly in C_re.
    """
    u = _u_of_x(x)
    t = _log_tables(n, pe0)
    jmax = n // 2
    j = np.arange(jmax + 1, dtype=float)
    length = n - 2 * j + 1
    lp = _log_multiplet_weights(n, pe0, t)
    p = np.exp(lp)
    lnorm = _ladder_log_norm(length, u)
    mean_x = _ladder_mean(length, u)
    heat_quanta = float(np.sum(p * (mean_x - _ladder_mean(length, _initial_u(pe0)))))
    ent_ladder = np.zeros_like(length) if np.isinf(u) else -lnorm + u * mean_x
    k = np.arange(n + 1)
    kk = np.minimum(k, n - k)
    if np.isinf(u):
        # x = 0: W_k = P_k for k <= N/2 (lowest level of multiplet j = k), else 0.
        lwk = np.where(k <= jmax, lp[np.minimum(k, jmax)], -np.inf)
    else:
        k0 = int(np.argmax(lp))  # anchor keeps u*(j - k0) and u*(k - k0) small where the weight is
        prefix = np.logaddexp.accumulate(lp + lnorm + u * (j - k0))
        lwk = -u * (k - k0) + prefix[kk]
    wk = np.exp(lwk)
    pos = p > 0
    s_rho = float(np.sum(p[pos] * (-(lp[pos] - t.ld[pos]) + ent_ladder[pos])))
    posw = wk > 0
    s_deph = float(-np.sum(wk[posw] * (lwk[posw] - t.lc[posw])))
    return {
        "log_w": lwk,
        "w": wk,
        "heat_quanta": heat_quanta,
        "mean_excitations": n * pe0 + heat_quanta,
        "coherence_re": max(s_deph - s_rho, 0.0),
    }


def long_time_observables(n: int, x: float, pe0: float, *, omega: float = 1.0) -> dict:
    r"""Energy, heat, :math:`C_{re}` and :math:`W_k` of the long-time state (2.1-2.2) in O(N), any N.

    For N beyond what an :class:`~qcharge.params.Atoms` object can hold (it stores N x N matrices),
    e.g. N = 10^5. Large-N limit of the heat: :math:`\omega[\bar n(T) - \bar n(T_0)]` (docs/physics.md §2.2).

    Returns:
        dict with ``energy`` (:math:`\omega\langle\hat N\rangle`), ``heat`` (:math:`E - \omega N p_{e0}`),
        ``coherence_re`` (nats), ``excitation_probabilities`` (:math:`W_k`, k = 0..N) and
        ``log_excitation_probabilities``.
    """
    n, x, pe0 = _check_n(n), _check_x(x), _check_pe0(pe0)
    omega = check_real("omega", omega, minimum=0.0, strict_min=True)
    summary = _long_time_summary(n, x, pe0)
    return {
        "energy": omega * summary["mean_excitations"],
        "heat": omega * summary["heat_quanta"],
        "coherence_re": summary["coherence_re"],
        "excitation_probabilities": summary["w"],
        "log_excitation_probabilities": summary["log_w"],
    }



def _symmetric_long_time_log_l1(n: int, x: float) -> tuple[float, float]:
    r"""Natural logs of the long-time :math:`C_{l1}` from :math:`|g\dots g\rangle` or :math:`|e\dots e\rangle`, and of its bound.

    Both stay in the symmetric multiplet, whose long-time populations are :math:`p_k \propto x^k`, so
    (2.3) :math:`C_{l1} = \sum_k p_k [\binom Nk - 1] = S - 1` with
    :math:`S = (1-x)(1+x)^N/(1-x^{N+1})` (:math:`2^N/(N+1)` at :math:`x = 1`): a closed form, summed
    in logs at any N. Rounding: :math:`\ln S` is three ``log1p`` terms and a product, each within a
    few ulp of its magnitude, so :math:`|\delta \ln S| \le 8\epsilon(|a| + N|b| + |c| + 1)`; the
    subtraction of 1 amplifies a relative error by :math:`S/(S-1)`.

    >>> v, b = _symmetric_long_time_log_l1(2, math.exp(-1.0))
    >>> round(math.exp(v), 10), b < v - 25                      # x/(1+x+x^2), bound ~1e-13 relative
    (0.2447284711, True)
    """
    if x == 0.0 or n < 2:
        return -math.inf, -math.inf  # T = 0 (the ground state) or one atom: no coherence
    eps = np.finfo(float).eps
    if x == 1.0:
        terms = (n * math.log(2.0), math.log(n + 1.0))
        log_s = terms[0] - terms[1]
    else:
        terms = (math.log1p(-x), n * math.log1p(x), math.log1p(-(x ** (n + 1))))
        log_s = terms[0] + terms[1] - terms[2]
    err_log_s = 8 * eps * (sum(abs(t) for t in terms) + 1.0)
    s_minus_1 = -math.expm1(-log_s)  # (S - 1)/S, > 0 for N >= 2
    log_value = log_s + math.log(s_minus_1)
    # |delta C| <= S (e^{err} - 1) ~ S err, and ln(S err) = log_s + ln(err): relative to C that is err * S/(S-1).
    return log_value, log_s + math.log(math.expm1(err_log_s))
