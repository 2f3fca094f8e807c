r"""Dicke-limit solver by J-multiplets (PHYSICS.md §1.3 and §2): any N, product thermal initial states.

In the Dicke limit :math:`\gamma_{ij} = \gamma` the master equation (1.1) commutes with :math:`J^2`, with
:math:`J_z` up to a shift, and with every permutation of the atoms. A product thermal initial state
:math:`\rho_0 = \sum_k w_k \Pi_k`, :math:`w_k = p_{e0}^k p_{g0}^{N-k}`, therefore stays of the form

.. math::

    \rho(t) = \sum_{j=0}^{\lfloor N/2\rfloor} \sum_{k=j}^{N-j} c_{j,k}(t)\, \Pi_{j,k},
    \qquad q_{j,k}(t) = d_J\, c_{j,k}(t),

with :math:`J = N/2 - j`, :math:`k` the excitation number and :math:`\Pi_{j,k}` the rank-:math:`d_J`
projector on {total spin J, :math:`J_z = k - N/2`}. Everything is a function of the block probabilities
:math:`q_{j,k}`: each multiplet is a birth-death chain (2.8), the long-time state is (2.1), energies and
entropies are positive sums (done in float64 with log-sum-exp), and the l1 coherence is the Johnson-scheme
sum (2.7), which cancels massively and is evaluated with exact integers and a certified error bound.

Units: :math:`\hbar = k_B = 1`; energies in units of :math:`\omega`; the rates are :math:`\gamma(\bar n+1)`
and :math:`\gamma\bar n`, so with the default :math:`\gamma = 1` the times are :math:`\gamma t`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike
from scipy.linalg import eigh_tridiagonal
from scipy.special import gammaln

from .._checks import check_int, check_real
from ..exceptions import ParameterError
from ..params import Atoms, Bath, InitialState
from ..states import excitation_numbers, excited_probability

__all__ = [
    "DickeResult",
    "solve_dicke",
    "long_time_block_probabilities",
    "block_probabilities",
    "certified_coherence_l1",
    "dicke_density_matrix",
    "long_time_observables",
    "multiplet_degeneracies",
    "eberlein_matrix",
]

# Largest N for which a dense 2^N x 2^N matrix is built (2^12 complex = 256 MiB).
_MAX_DENSE_ATOMS = 12

# The symmetrised eigen path of a birth-death chain is used while the error amplification of its
# back-transformation stays below this (a loss of at most 2-3 digits); see _chain_evolve.
_EIGEN_MAX_AMPLIFICATION = 1e2

_EPS = np.finfo(float).eps


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
    e.g. N = 10^5. Large-N limit of the heat: :math:`\omega[\bar n(T) - \bar n(T_0)]` (PHYSICS.md 2.2).

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


def dicke_density_matrix(atoms: Atoms, bath: Bath, initial: InitialState, t: float) -> np.ndarray:
    r"""Dense density matrix :math:`\rho(t) = \sum_{j,k} c_{j,k}(t)\Pi_{j,k}` (QuTiP order), N <= 12.

    Built from the Johnson-scheme matrix elements (2.4): for :math:`|s| = |s'| = k` at Hamming
    distance 2i, :math:`\langle s|\rho|s'\rangle = \sum_j q_{j,k} P_i(j) / (\binom{N}{k} v_i)`;
    coherences between different k vanish (U(1) covariance). ``t`` is in the units of 1/gamma
    (rates :math:`\gamma(\bar n+1)`, :math:`\gamma\bar n`); ``t = np.inf`` gives the long-time state (2.1).

    Example:
        >>> from qcharge import Atoms, Bath, InitialState
        >>> rho = dicke_density_matrix(Atoms.dicke(2), Bath(1.0), InitialState.thermal(0.5), np.inf)
        >>> round(float(abs(rho[1, 2]) * 2), 10)  # C_l1 = |p_S - p_A| (2.4)
        0.114039966
    """
    n, x, nbar, pe0 = _physical_inputs(atoms, bath, initial)
    if n > _MAX_DENSE_ATOMS:
        raise ParameterError(
            f"Argument `atoms` must have N <= {_MAX_DENSE_ATOMS} for a dense 2^N x 2^N matrix, but N = {n}."
        )
    t = check_real("t", t, minimum=0.0, allow_inf=True)
    q = block_probabilities(n, x, pe0, atoms.gamma * t if np.isfinite(t) else np.inf, nbar)
    return _dense_from_q(n, q)


def _dense_from_q(n: int, q: np.ndarray) -> np.ndarray:
    dim = 2**n
    rho = np.zeros((dim, dim), dtype=complex)
    pops = excitation_numbers(n)
    for k in range(n + 1):
        idx = np.nonzero(pops == k)[0]
        kk = min(k, n - k)
        table = eberlein_matrix(n, kk).astype(float)  # exact integers, < 2^53 for N <= 12
        v = np.array([math.comb(kk, i) * math.comb(n - kk, i) for i in range(kk + 1)], dtype=float)
        element = (table @ q[: kk + 1, k]) / (math.comb(n, k) * v)  # value at half-distance i
        half_dist = np.array([[bin(a ^ b).count("1") // 2 for b in idx] for a in idx], dtype=int)
        rho[np.ix_(idx, idx)] = element[half_dist]
    return rho


# ----------------------------------------------------------------------------------------- certified C_l1
#
# Algorithm (why it is fast). Write b_j = q_{j,k} for one sector k, kk = min(k, N-k). The Eberlein
# polynomials have the Hahn (3F2) form, checked against (2.6) in the tests:
#
#     P_i(j) / v_i = sum_l (-1)^l C(i,l) C(j,l) C(N+1-j,l) / (C(kk,l) C(N-kk,l)).
#
# Hence g(i) = sum_j b_j P_i(j) only needs the "Hahn moments" M_l = sum_j b_j T[l,j], T[l,j] = C(j,l)
# C(N+1-j,l), whose matrix T does NOT depend on k, followed by
#
#     i! (N-kk-i)! g(i) = sum_l C(kk-l, i-l) Z_l,   Z_l = (-1)^l l! (N-kk-l)! M_l,
#
# which is a Taylor shift: with Zrev(s) = sum_l Z_l s^(kk-l), the coefficient of t^(kk-i) of Zrev(t+1).
# All of this is exact integer arithmetic once b_j is scaled to integers B_j = floor(2^s b_j). For the
# long-time state q_{j,k} = a_j x^k with a_j independent of k, so the moments of every sector are
# prefix sums over j: O(N^2) big-integer operations in total plus one fast Taylor shift (FLINT) per
# sector, instead of the O(N^3) of the baseline recurrence. A generic q uses one FLINT matrix product
# M = T B (all sectors at once).
#
# Why the bound is rigorous. Everything after the scaling is exact; the only error is
# |2^s b_j - B_j| <= e_j (e_j = 1 + 2^s x radius of the input ball; 0 for an exact zero). Its effect on
# sum_{i>=1} |g(i)| is at most 2^-s sum_j e_j sum_{i>=1} |P_i(j)|, and by Cauchy-Schwarz with the
# orthogonality sum_i P_i(j)^2 / v_i = C(N,k)/d_J and sum_i v_i = C(N,k):
#
#     sum_{i>=1} |P_i(j)| <= beta_{j,k} = sqrt((C(N,k) - 1)(C(N,k)/d_J - 1)).
#
# beta is evaluated in floating point (log-gamma) and inflated by a relative margin 1e-6, far above the
# floating-point error of its logarithm (~1e-13 at N = 1000). The final sum is formed in ball arithmetic
# (python-flint arb), whose radius is added. Inputs (x, p_e0 or q) are taken as the exact binary
# numbers given; the long-time a_j are computed in arb from them.

_BOUND_MARGIN = 1e-6


def _gmpy():
    import gmpy2

    return gmpy2


def _flint():
    import flint

    return flint


class _ArbPrecision:
    """Context manager setting python-flint's working precision (bits) and restoring it."""

    def __init__(self, prec: int) -> None:
        self.prec = int(prec)

    def __enter__(self):
        self.ctx = _flint().ctx
        self.old = self.ctx.prec
        self.ctx.prec = self.prec
        return self

    def __exit__(self, *exc) -> None:
        self.ctx.prec = self.old


def _log_beta(n: int, ks: np.ndarray) -> np.ndarray:
    r"""Natural log of :math:`\beta_{j,k} = \sqrt{(\binom Nk - 1)(\binom Nk/d_J - 1)}`, shape (J, len(ks))."""
    lc = _log_binom(n, np.asarray(ks))[None, :]
    ld = _log_degeneracies(n)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        c_minus_1 = lc + np.log1p(-np.exp(-lc))
        ratio_minus_1 = (lc - ld) + np.log1p(-np.exp(ld - lc))
    out = 0.5 * (c_minus_1 + ratio_minus_1)
    return np.where(np.isnan(out), -np.inf, out)


def _logsumexp(a: np.ndarray) -> float:
    a = np.asarray(a, dtype=float).ravel()
    a = a[np.isfinite(a) | (a > 0)]
    if a.size == 0:
        return -np.inf
    top = float(np.max(a))
    if np.isinf(top):
        return top
    return top + math.log(float(np.sum(np.exp(a - top))))


class _Factorials:
    """Exact factorials 0..n as gmpy2 integers."""

    def __init__(self, n: int) -> None:
        gmpy2 = _gmpy()
        self.f = [gmpy2.mpz(1)] * (n + 2)
        for i in range(1, n + 2):
            self.f[i] = self.f[i - 1] * i

    def __getitem__(self, i: int):
        return self.f[i]


def _sector_abs_sum(n: int, kk: int, moments: list, fact: _Factorials):
    r"""Exact :math:`G = \sum_{i=1}^{kk} |g(i)|` from the Hahn moments :math:`M_0..M_{kk}` of one sector.

    Also checks the exact identity :math:`\sum_{i=0}^{kk} g(i) = B_0 \binom{N}{kk}` (row sums of the
    Eberlein table), which would catch any bookkeeping error.
    """
    gmpy2 = _gmpy()
    flint = _flint()
    z = [(-1) ** l * fact[l] * fact[n - kk - l] * moments[l] for l in range(kk + 1)]
    zrev = flint.fmpz_poly([int(v) for v in reversed(z)])
    shifted = zrev(flint.fmpz_poly([1, 1])).coeffs()  # Taylor shift s -> t + 1
    shifted += [0] * (kk + 1 - len(shifted))
    total = gmpy2.mpz(0)
    g_sum = gmpy2.mpz(0)
    for i in range(kk + 1):
        c = gmpy2.mpz(int(shifted[kk - i]))
        g = gmpy2.divexact(c, fact[i] * fact[n - kk - i])
        g_sum += g
        if i:
            total += abs(g)
    return total, g_sum


def _scaled_floor(value, s: int):
    """floor(2^s * value) and a bound e on |2^s * value - floor| (value: int, float, Fraction, Decimal or arb)."""
    flint = _flint()
    if isinstance(value, flint.arb):
        # Exact: shift the midpoint's binary exponent by s (no rounding at the ambient precision).
        man, exp = value.mid().man_exp()
        man, exp = int(man), int(exp) + s
        fl = man << exp if exp >= 0 else man >> -exp
        exact_int = exp >= 0 or man % (1 << -exp) == 0
        rad = value.rad()
        if rad == 0:
            return fl, (0.0 if exact_int else 1.0)
        rman, rexp = rad.upper().mid().man_exp()
        try:
            radius = math.ldexp(float(int(rman)) * (1 + 1e-15), int(rexp) + s)
        except OverflowError:
            radius = np.inf
        return fl, 1.0 + radius
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ParameterError(f"Argument `q` must have finite entries, but has {value!r}.")
        num, den = float(value).as_integer_ratio()
    else:
        fr = Fraction(value)
        num, den = fr.numerator, fr.denominator
    fl = (num << s) // den
    return fl, (0.0 if (num << s) % den == 0 else 1.0)


def _log_abs(value) -> float:
    """ln|value| for int, float, Fraction, Decimal or arb (-inf for 0), without float underflow."""
    flint = _flint()
    if isinstance(value, flint.arb):
        mid = value.mid()
        if mid == 0:
            return -np.inf if value.rad() == 0 else math.log(float(value.rad().upper()))
        man, exp = mid.man_exp()
        man = abs(int(man))
        return math.log(man) + int(exp) * math.log(2)
    fr = Fraction(value)
    if fr == 0:
        return -np.inf
    return math.log(abs(fr.numerator)) - math.log(fr.denominator)


def _ln2() -> float:
    return math.log(2.0)


class _L1(NamedTuple):
    """Internal certified C_l1: log10 of the value, ln of the absolute error bound, relative bound, and the
    value itself as a 128-bit arb ball (its midpoint is the reported value)."""

    log10: float
    log_abs_bound: float
    rel_bound: float
    ball: object = None


def _finish(value_terms: list, s: int, log_bound: float) -> _L1:
    """Sum sum_t w_t G_t 2^-s in ball arithmetic; the ball radius is added to the truncation bound."""
    flint = _flint()
    with _ArbPrecision(128):
        total = flint.arb(0)
        for w, g in value_terms:
            total += w * flint.arb(int(g))
        total = total * flint.arb(2) ** (-s)
        if total.is_exact() and total == 0:
            value_log = -np.inf
            rad_log = -np.inf
        else:
            mid = total.mid()
            value_log = _log_abs(mid)
            rad = total.rad()
            rad_log = _log_abs(rad.upper()) if rad != 0 else -np.inf
    abs_log = np.logaddexp(log_bound, rad_log) if np.isfinite(log_bound) or np.isfinite(rad_log) else -np.inf
    if not np.isfinite(abs_log):
        rel = 0.0
    elif not np.isfinite(value_log) or abs_log >= value_log:
        rel = np.inf
    else:
        r = math.exp(abs_log - value_log)
        rel = r / (1.0 - r)
    return _L1(value_log / math.log(10.0), abs_log, rel, total)


def _zero_l1() -> _L1:
    return _L1(-np.inf, -np.inf, 0.0, _flint().arb(0))


def _refine(evaluate, s: int, rel_tol: float) -> _L1:
    """``evaluate(s)`` at scale :math:`2^s`, raising s by the missing bits until the relative bound meets
    ``rel_tol`` (at most 6 passes)."""
    result = _L1(np.nan, np.inf, np.inf, None)
    for _attempt in range(6):
        s = max(s, 0)
        previous, result = result, evaluate(s)
        rel = result.rel_bound
        if rel <= rel_tol or not np.isfinite(result.log10) or result.log_abs_bound > previous.log_abs_bound - 1.0:
            break  # done, exactly zero, or the bound is dominated by the input radii (more bits cannot help)
        # Not yet within tolerance: raise the scale by the missing bits (+ slack) and redo.
        deficit = (math.log(rel) - math.log(rel_tol)) / _ln2() if np.isfinite(rel) else 64.0 + s / 2
        s += int(math.ceil(deficit)) + 8
    return result


def _a_coefficients(n: int, x: float, pe0: float, prec: int) -> list:
    r"""Long-time :math:`a_j = P_J (1-x)/(1-x^{L_j}) x^{-j}` as arb balls (x > 0), from the exact float inputs."""
    flint = _flint()
    arb = flint.arb
    jmax = n // 2
    with _ArbPrecision(prec):
        xe, pe = arb(x), arb(pe0)
        pg = 1 - pe
        pow_e, pow_g = [arb(1)], [arb(1)]
        for _ in range(n):
            pow_e.append(pow_e[-1] * pe)
            pow_g.append(pow_g[-1] * pg)
        w = [pow_e[k] * pow_g[n - k] for k in range(n + 1)]
        window = [arb(0)] * (jmax + 1)
        acc = arb(0)
        for j in range(jmax, -1, -1):
            acc = acc + w[j] + (w[n - j] if n - j != j else 0)
            window[j] = acc
        inv_x = 1 / xe
        out = []
        inv_pow = arb(1)
        for j in range(jmax + 1):
            length = n - 2 * j + 1
            d = math.comb(n, j) - (math.comb(n, j - 1) if j else 0)
            ladder = 1 / arb(length) if x == 1.0 else (1 - xe) / (1 - xe**length)
            out.append(arb(d) * window[j] * ladder * inv_pow)
            inv_pow = inv_pow * inv_x
    return out


def _certified_l1_long_time(n: int, x: float, pe0: float, rel_tol: float, progress: bool = False) -> _L1:
    """Certified C_l1 of the long-time state (2.1) from the exact float inputs x, p_e0 (see the comments above)."""
    from tqdm import tqdm

    flint = _flint()
    arb = flint.arb
    gmpy2 = _gmpy()
    jmax = n // 2
    if n < 2:
        return _zero_l1()
    if x == 0.0:
        # T = 0: every multiplet ends in its lowest level k = j, where P_i(kk) = (-1)^i C(kk, i):
        # C_l1 = sum_{k=1}^{N/2} P_J (2^k - 1), a positive sum.
        lp = _log_multiplet_weights(n, pe0)
        prec = 64 + int(max(0.0, float(np.max(np.abs(lp[np.isfinite(lp)])))) / _ln2()) + 2 * n.bit_length()
        with _ArbPrecision(prec):
            pe = arb(pe0)
            pg = 1 - pe
            w = [pe**k * pg ** (n - k) for k in range(n + 1)]
            terms = []
            acc = arb(0)
            window = [arb(0)] * (jmax + 1)
            for j in range(jmax, -1, -1):
                acc = acc + w[j] + (w[n - j] if n - j != j else 0)
                window[j] = acc
            for k in range(1, jmax + 1):
                d = math.comb(n, k) - math.comb(n, k - 1)
                terms.append((arb(d) * window[k], 2**k - 1))
        return _finish(terms, 0, -np.inf)

    u = _u_of_x(x)
    lp = _log_multiplet_weights(n, pe0)
    j = np.arange(jmax + 1)
    la = lp + _ladder_log_norm(n - 2 * j + 1, u) + u * j  # ln a_j (float estimate)
    kk_all = np.arange(1, jmax + 1)
    # Sector weights x^kk + x^(N-kk) (the pair k, N-k shares g up to these factors).
    with np.errstate(divide="ignore"):
        lwk = np.logaddexp(-u * kk_all, -u * (n - kk_all))
    lwk = np.where(n - kk_all == kk_all, -u * kk_all, lwk)
    lbeta = _log_beta(n, kk_all)  # (J, jmax)
    mask = np.arange(jmax + 1)[:, None] <= kk_all[None, :]
    nonzero = np.isfinite(la)
    unit_terms = np.where(mask & nonzero[:, None], lbeta + lwk[None, :], -np.inf)
    log_unit = _logsumexp(unit_terms)  # ln of the bound for e_j = 1, s = 0
    if not np.isfinite(log_unit):
        return _zero_l1()

    # Rigorous lower bound of C_l1 from the i = 1 terms: f_k(1) = x^k sum_j a_j theta_j.
    la_max = float(np.max(la[nonzero]))
    prec0 = int((la_max - float(np.min(la[nonzero]))) / _ln2()) + int(log_unit / _ln2()) + 256
    a_low = _a_coefficients(n, x, pe0, prec0)
    with _ArbPrecision(prec0):
        # theta_j = j^2 - (N+1) j + kk(N-kk), so f(1) needs only the prefix sums of a_j, j a_j, j^2 a_j.
        s0, s1, s2 = a_low[0], arb(0), arb(0)
        low = arb(0)
        xe = arb(x)
        for kk in range(1, jmax + 1):
            s0, s1, s2 = s0 + a_low[kk], s1 + kk * a_low[kk], s2 + kk * kk * a_low[kk]
            f1 = s2 - (n + 1) * s1 + kk * (n - kk) * s0
            wk = xe**kk + (xe ** (n - kk) if n - kk != kk else 0)
            low += wk * arb(f1.abs_lower())
        low_log = _log_abs(low.lower()) if low.lower() > 0 else -np.inf

    target = math.log(rel_tol) - math.log(4.0)
    guess = low_log if np.isfinite(low_log) else log_unit - 64 * _ln2()  # no lower bound: assume 2^-64 U
    s = int(math.ceil((log_unit - target - guess) / _ln2())) + 2
    fact = _Factorials(n + 1)
    def evaluate(s: int) -> _L1:
        prec = s + int(la_max / _ln2()) + 2 * n.bit_length() + 96
        a = _a_coefficients(n, x, pe0, max(prec, 64))
        scaled = [_scaled_floor(v, s) if nonzero[jj] else (0, 0.0) for jj, v in enumerate(a)]
        big_a = [gmpy2.mpz(v[0]) for v in scaled]
        err = np.array([v[1] for v in scaled])
        with np.errstate(divide="ignore"):
            lerr = np.log(err)
        log_bound = _logsumexp(np.where(mask, lbeta + lwk[None, :] + lerr[:, None], -np.inf)) - s * _ln2()
        log_bound += math.log1p(_BOUND_MARGIN)
        moments: list = []
        value_terms = []
        with _ArbPrecision(128):
            xe = arb(x)
            for dd in tqdm(range(jmax + 1), desc="C_l1 sectors", disable=not progress, leave=False):
                moments.append(gmpy2.mpz(0))
                if big_a[dd]:
                    col = gmpy2.mpz(1)
                    moments[0] += big_a[dd]
                    for l in range(dd):
                        col = gmpy2.divexact(col * (dd - l) * (n + 1 - dd - l), (l + 1) ** 2)
                        moments[l + 1] += big_a[dd] * col
                if dd == 0:
                    continue
                g_abs, g_sum = _sector_abs_sum(n, dd, moments, fact)
                if g_sum != big_a[0] * math.comb(n, dd):
                    raise RuntimeError(f"internal check failed: Eberlein row sums in sector {dd}")
                wk = xe**dd + (xe ** (n - dd) if n - dd != dd else 0)
                value_terms.append((wk, g_abs))
        return _finish(value_terms, s, log_bound)

    return _refine(evaluate, s, rel_tol)


def certified_coherence_l1(n: int, q: ArrayLike, *, rel_tol: float = 1e-12) -> tuple[float, float]:
    r"""l1 coherence (2.7) of :math:`\rho = \sum_{j,k} (q_{j,k}/d_J)\Pi_{j,k}` with a certified error bound.

    .. math::

        C_{l1} = \sum_{k=1}^{N-1}\sum_{i=1}^{D_k}\Big|\sum_{j=0}^{D_k} q_{j,k} P_i(j)\Big|.

    Evaluated with exact integers after scaling q to :math:`\lfloor 2^s q\rfloor` (Hahn moments + Taylor
    shifts, see the module comments), s raised until the bound is below ``rel_tol`` (at most 6 passes).

    Args:
        n: number of atoms N.
        q: shape ``(floor(N/2)+1, N+1)``; entries float (taken as the exact binary numbers), int,
            ``Fraction``, ``Decimal`` or python-flint ``arb`` balls (their radius enters the bound).
        rel_tol: requested relative accuracy.

    Returns:
        ``(log10 C_l1, relative_error_bound)``; the bound is rigorous for the given q (``inf`` if the
        value could not be separated from 0; ``(-inf, 0.0)`` for an exactly incoherent state).
    """
    res = _certified_l1_generic(n, q, rel_tol)
    return res.log10, res.rel_bound


def _certified_l1_generic(n: int, q: ArrayLike, rel_tol: float):
    flint = _flint()
    gmpy2 = _gmpy()
    n = _check_n(n)
    rel_tol = check_real("rel_tol", rel_tol, minimum=0.0, strict_min=True, maximum=1.0)
    q = _check_q(n, q)
    if q.dtype.kind in "fiu" and not np.all(np.isfinite(q)):
        raise ParameterError("Argument `q` must have finite entries, but has inf or nan.")
    jmax = n // 2
    ks = np.arange(1, n)
    if ks.size == 0:
        return _zero_l1()
    dk = np.minimum(ks, n - ks)
    entries = q.tolist()
    lq = np.full((jmax + 1, ks.size), -np.inf)
    for jj in range(jmax + 1):
        for c, k in enumerate(ks):
            if jj <= dk[c]:
                try:
                    lq[jj, c] = _log_abs(entries[jj][k])
                except (TypeError, ValueError, OverflowError):
                    raise ParameterError(
                        f"Argument `q` must have finite real entries, but q[{jj}, {k}] = {entries[jj][k]!r}."
                    ) from None
    lbeta = _log_beta(n, ks)
    log_upper = _logsumexp(lq + lbeta)  # ln of an upper bound of C_l1 (triangle inequality)
    if not np.isfinite(log_upper):
        return _zero_l1()
    nonzero = np.isfinite(lq)
    log_unit = _logsumexp(np.where(nonzero, lbeta, -np.inf))
    target = math.log(rel_tol) - math.log(4.0)
    # First guess: C_l1 >= 2^-64 x (its upper bound sum q beta); later passes add the missing bits.
    s = int(math.ceil((log_unit - target - log_upper) / _ln2())) + 64
    fact = _Factorials(n + 1)
    # T[l, j] = C(j, l) C(N+1-j, l): the k-independent Hahn-moment matrix.
    tmat = flint.fmpz_mat(jmax + 1, jmax + 1)
    for jj in range(jmax + 1):
        col = 1
        tmat[0, jj] = 1
        for l in range(jj):
            col = col * (jj - l) * (n + 1 - jj - l) // ((l + 1) ** 2)
            tmat[l + 1, jj] = col
    def evaluate(s: int) -> _L1:
        bmat = flint.fmpz_mat(jmax + 1, ks.size)
        lerr = np.full((jmax + 1, ks.size), -np.inf)
        for c, k in enumerate(ks):
            for jj in range(dk[c] + 1):
                fl, e = _scaled_floor(entries[jj][k], s)
                if fl:
                    bmat[jj, c] = fl
                if e:
                    lerr[jj, c] = math.log(e)
        log_bound = _logsumexp(lbeta + lerr) - s * _ln2() + math.log1p(_BOUND_MARGIN)
        mom = tmat * bmat
        value_terms = []
        for c, k in enumerate(ks):
            kk = int(dk[c])
            moments = [gmpy2.mpz(int(mom[l, c])) for l in range(kk + 1)]
            g_abs, g_sum = _sector_abs_sum(n, kk, moments, fact)
            if g_sum != gmpy2.mpz(int(bmat[0, c])) * math.comb(n, k):
                raise RuntimeError(f"internal check failed: Eberlein row sums in sector {k}")
            value_terms.append((flint.arb(1), g_abs))
        return _finish(value_terms, s, log_bound)

    return _refine(evaluate, s, rel_tol)


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


def _l1_fields(res: _L1, extra_log_bound: float = -np.inf) -> tuple[float, float, float, float]:
    """(log10 value, value, absolute bound, relative bound) as floats (inf on overflow)."""
    log_abs = np.logaddexp(res.log_abs_bound, extra_log_bound)
    log10_v = res.log10
    value = 10.0**log10_v if log10_v < 308 else np.inf
    with np.errstate(over="ignore"):
        abs_bound = float(np.exp(log_abs)) if np.isfinite(log_abs) else 0.0
    if not np.isfinite(log_abs):
        rel = 0.0
    elif not np.isfinite(log10_v) or log_abs >= log10_v * math.log(10.0):
        rel = np.inf
    else:
        r = math.exp(log_abs - log10_v * math.log(10.0))
        rel = r / (1.0 - r)
    return log10_v, value, abs_bound, rel


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
