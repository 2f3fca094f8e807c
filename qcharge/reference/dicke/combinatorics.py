r"""Exact combinatorics of the J-multiplets and the anchored logarithms of the initial weights (docs/physics.md §1.2, 2.5-2.6)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln

from ..._checks import check_int, check_real
from ...exceptions import ParameterError

__all__ = ["multiplet_degeneracies", "eberlein_matrix"]


# ----------------------------------------------------------------------------------------- checks
def _check_n(n) -> int:
    return check_int("n", n, minimum=1)


def _check_x(x) -> float:
    return check_real("x", x, minimum=0.0, maximum=1.0)


def _check_pe0(pe0) -> float:
    return check_real("pe0", pe0, minimum=0.0, maximum=1.0)


def _check_q(n: int, q: ArrayLike, name: str = "q") -> np.ndarray:
    shape = (n // 2 + 1, n + 1)
    arr = np.asarray(q)
    if arr.shape != shape:
        raise ParameterError(
            f"Argument `{name}` must have shape {shape} (floor(N/2)+1, N+1), but has shape {arr.shape}."
        )
    return arr


# ----------------------------------------------------------------------------------------- combinatorics
def multiplet_degeneracies(n: int) -> list[int]:
    r"""Exact multiplicities :math:`d_J = \binom{N}{j} - \binom{N}{j-1}` (1.2).

    Indexed by :math:`j = N/2 - J = 0\ldots\lfloor N/2\rfloor`.
    """
    n = _check_n(n)
    return [math.comb(n, j) - (math.comb(n, j - 1) if j else 0) for j in range(n // 2 + 1)]


def _log_binom(n: int, k: np.ndarray) -> np.ndarray:
    k = np.asarray(k, dtype=float)
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)


def _log_degeneracies(n: int) -> np.ndarray:
    r""":math:`\ln d_J = \ln\binom{N}{j} + \ln\frac{N-2j+1}{N-j+1}` (no subtraction of huge numbers)."""
    j = np.arange(n // 2 + 1, dtype=float)
    return _log_binom(n, j) + np.log((n - 2 * j + 1) / (n - j + 1))


def eberlein_matrix(n: int, k: int) -> np.ndarray:
    r"""Exact Eberlein table :math:`P_i(j)` of the Johnson scheme J(N, k) (2.5) by the recurrence (2.6).

    Returns an object array of Python ints, shape ``(D+1, D+1)`` indexed ``[i, j]``, :math:`D = \min(k, N-k)`
    (the tables for k and N - k coincide).

    .. math::

        P_{i+1}(j) = [(\theta_j - a_i) P_i(j) - b_{i-1} P_{i-1}(j)] / c_{i+1}\quad\text{(exact division)}.
    """
    n = _check_n(n)
    k = check_int("k", k, minimum=0, maximum=n)
    k = min(k, n - k)
    d = k
    table = np.empty((d + 1, d + 1), dtype=object)
    theta = [(k - j) * (n - k - j) - j for j in range(d + 1)]
    prev = [0] * (d + 1)
    cur = [1] * (d + 1)
    table[0, :] = cur
    for i in range(d):
        a_i = k * (n - k) - (k - i) * (n - k - i) - i * i
        b_im1 = (k - i + 1) * (n - k - i + 1) if i else 0
        c_ip1 = (i + 1) ** 2
        nxt = [((theta[j] - a_i) * cur[j] - b_im1 * prev[j]) // c_ip1 for j in range(d + 1)]
        prev, cur = cur, nxt
        table[i + 1, :] = cur
    return table


# ----------------------------------------------------------------------------------------- initial weights
class _LogTables(NamedTuple):
    r"""Anchored logarithms for large N.

    ``lc[k] = ln C(N,k) - A``, ``ld[j] = ln d_J - A``, ``lw[k] = ln w_k - B`` with A, B the values at an
    anchor :math:`k_0 \approx N p_{e0}`, and ``c = A + B`` fixed by :math:`\sum_k \binom Nk w_k = 1`.
    Differences of ln C are cumulative sums of :math:`\ln((N-i+1)/i)` from the anchor, so where the
    weights live they are small numbers known to ~1e-15 absolute; log-gamma values of size
    :math:`N\ln 2` would carry errors ~1e-10 at N = 10^5, which the heat (a difference of numbers of
    size N) and :math:`C_{re}` (a difference of entropies of size N) cannot afford.
    """

    lc: np.ndarray
    ld: np.ndarray
    lw: np.ndarray
    c: float


def _log_tables(n: int, pe0: float) -> _LogTables:
    k0 = min(n, max(0, int(round(n * pe0))))
    i = np.arange(1, n + 1, dtype=float)
    step = np.log1p((n - 2.0 * i + 1.0) / i)  # ln C(N,i) - ln C(N,i-1)
    # ln C(N,k) - ln C(N,k0), summed from the anchor outwards so that the small values near k0 stay accurate.
    lc = np.empty(n + 1)
    lc[k0:] = np.concatenate([[0.0], np.cumsum(step[k0:])])
    lc[:k0] = -np.cumsum(step[:k0][::-1])[::-1]
    j = np.arange(n // 2 + 1, dtype=float)
    ld = lc[: n // 2 + 1] + np.log((n - 2 * j + 1) / (n - j + 1))
    k = np.arange(n + 1)
    if pe0 == 0.0 or pe0 == 1.0:
        lw = np.where(k == k0, 0.0, -np.inf)
    else:
        lw = (k - k0) * (math.log(pe0) - math.log1p(-pe0))
    c = -_logsumexp(lc + lw)
    return _LogTables(lc, ld, lw, c)


def _log_multiplet_weights(n: int, pe0: float, tables: _LogTables | None = None) -> np.ndarray:
    r""":math:`\ln P_J`, :math:`P_J = d_J \sum_{k=j}^{N-j} w_k` (conserved multiplet weight).

    The window sum shrinks symmetrically with j, so it is accumulated from the centre outwards
    (:math:`R_j = R_{j+1} + w_j + w_{N-j}`): only positive terms are ever added.
    """
    t = tables if tables is not None else _log_tables(n, pe0)
    jmax = n // 2
    j = np.arange(jmax + 1)
    pair = np.logaddexp(t.lw[j], t.lw[n - j])
    if n % 2 == 0:
        pair[jmax] = t.lw[jmax]  # the centre k = N/2 is counted once
    window = np.logaddexp.accumulate(pair[::-1])[::-1]
    return t.ld + window + t.c



def _logsumexp(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float).ravel()
    a = a[np.isfinite(a) | (a > 0)]
    if a.size == 0:
        return -np.inf
    top = float(np.max(a))
    if np.isinf(top):
        return top
    return top + math.log(float(np.sum(np.exp(a - top))))


def _poisson_terms(mu, log_tail: float) -> np.ndarray:
    r"""Poisson terms needed for a tail below :math:`e^{\text{log\_tail}}` (< 0): per :math:`\mu \ge 0` the smallest
    n with the Chernoff bound :math:`P(X \ge n) \le e^{-\mu}(e\mu/n)^n` below it (Newton on
    :math:`n(\ln(n/\mu) - 1) + \mu = c`, convex in n, from above; 1 at :math:`\mu = 0`). For planning (the
    uniformisation loops stop on their own tail test); the cruder :math:`e^{-a^2/(2(\mu+a))}` form
    over-counts 2-10x at small :math:`\mu`.

    >>> _poisson_terms([0.0, 1.0, 1000.0], math.log(1e-17)).round().tolist()
    [1.0, 20.0, 1293.0]
    """
    c = max(-float(log_tail), 0.0)
    out = []
    for m in np.atleast_1d(np.asarray(mu, dtype=float)).tolist():
        if not m > 0:
            out.append(1.0)
            continue
        n = m + math.sqrt(2.0 * m * c) + 2.0 * c + 1.0  # meets the cruder bound, hence above the root
        for _ in range(50):  # Newton from above on a convex increasing function: monotone, no overshoot
            step = (n * (math.log(n / m) - 1.0) + m - c) / math.log(n / m)
            n -= step
            if step < 1e-9 * n:
                break
        out.append(float(math.ceil(n)))
    return np.array(out)
