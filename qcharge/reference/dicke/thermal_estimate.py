r"""Uncertified finite-time C_l1 from product thermal states at any N: the symmetric-multiplet sum.

In sector k, :math:`\sum_{i\ge1} g_k(i) = \binom Nk q_{0,k} - W_k` for the inner sums
:math:`g_k(i) = \sum_j q_{j,k}P_i(j)` of (2.7), since :math:`\sum_i P_i(j) = \binom Nk\delta_{j0}` (the all-ones
vector of the sector lies in the symmetric multiplet). Hence

.. math::

    C_{l1} \ge \sum_k \Big|\binom Nk q_{0,k} - W_k\Big| =: \hat C,

with equality when every sector's product-basis coherences have one sign. For a bath clearly hotter than
the initial state :math:`\hat C` agrees with the certified C_l1 to its float error at every point checked
(N = 9-500, T/T0 = 1.5-15, gamma t = 0.001-inf; tests/test_dicke_estimate.py), but not for mild heating
(T0 = 1 -> T = 1.2 at N = 100: 83 % low at gamma t = 0.2), and it is not proven: :math:`\hat C` is an
*estimate*, and the caller checks its sign assumption against the certified value at N = 40
(:mod:`.solve`). When cooling (T < T0) the signs mix and :math:`\hat C` is only a lower bound
(0.2 C_l1 at N = 9): no estimate is given there.

:math:`\hat C` needs no cancellation beyond :math:`\binom Nk q_{0,k}` against :math:`W_k`, i.e. the
symmetric chain to a small *relative* error per level. Non-negative uniformisation in float64 gives that
(no subtraction anywhere): :math:`y = D q_0`, :math:`D = \mathrm{diag}\binom Nk`, evolves by
:math:`y_{n+1} = D P D^{-1} y_n` with :math:`P = I + G/\lambda \ge 0`, whose entries
:math:`1 - a_m/\lambda`, :math:`\bar n (N-m+1)^2/\lambda`, :math:`(\bar n+1)(m+1)^2/\lambda` are all >= 0,
so each of the K steps adds at most ~16 u of relative error per level. Where K would exceed
``MAX_TERMS`` (late times at large N) the float64 chain of :mod:`.dynamics` and its error estimate are used.
"""

from __future__ import annotations

import math

import numpy as np

from .combinatorics import _log_binom, _logsumexp

__all__ = ["thermal_l1_estimate", "MAX_TERMS"]

_U = np.finfo(float).eps / 2.0
# Most uniformisation steps per time (~30 us each at N = 500): 5e4 is ~1.5 s; N = 1000 at T = 1 reaches
# gamma t ~ 0.07 with it, later times use the relaxation bound of the symmetric chain (its gap is ~N gamma).
MAX_TERMS = 50_000
# lambda = 1.25 max(a_m) keeps every diagonal entry 1 - a_m/lambda >= 0.2: its rounding stays a relative
# error of a few u (with lambda = max a_m, the levels next to the maximum lose digits every step).
_LAMBDA_FACTOR = 1.25
# Entries below this fraction of the largest are zeroed after each step (subnormals are ~50x slower); the
# absolute error they leave, 1e-290 of the largest entry per level and step, is added to the estimate.
_FLUSH = 1e-290
# The Poisson tail is cut once its largest possible contribution is below e^-46 (1e-20) of the sum.
_LOG_TAIL = -46.0


def _symmetric_uniformised(n: int, nbar: float, pe0: float, gamma_t: float):
    r""":math:`y_k = \binom Nk q_{0,k}(t)` as (mantissas, ln scale, relative error estimate), or None above
    ``MAX_TERMS`` steps. q_{0,k}(0) = p_e^k p_g^{N-k}; the chain has rates (2.8) with L = N + 1."""

    m = np.arange(n + 1.0)
    a = nbar * (m + 1.0) * (n - m) + (nbar + 1.0) * m * (n - m + 1.0)  # out-rate of level m (units gamma)
    lam = _LAMBDA_FACTOR * float(np.max(a))
    mu = lam * gamma_t
    if not mu < MAX_TERMS:
        return None
    diag = 1.0 - a / lam
    sub = nbar * (n - m[:-1]) ** 2 / lam  # y[m+1] += sub[m] y[m]  (up-rate x C(N,m+1)/C(N,m))
    sup = (nbar + 1.0) * m[1:] ** 2 / lam  # y[m-1] += sup[m-1] y[m]  (down-rate x C(N,m-1)/C(N,m))
    lpe = math.log(pe0) if pe0 > 0 else -np.inf
    lpg = math.log1p(-pe0)
    with np.errstate(invalid="ignore"):
        ly0 = _log_binom(n, np.arange(n + 1)) + np.where(m > 0, m * lpe, 0.0) + (n - m) * lpg
    log_p0 = _logsumexp(ly0 - _log_binom(n, np.arange(n + 1)))  # P_0 = sum_k q_{0,k}, conserved
    # y_n <= D 1 P_0 entrywise (q >= 0 keeps its sum P_0), so a tail of Poisson mass tau adds <= tau P_0 2^N.
    log_cap = log_p0 + n * math.log(2.0)
    top = float(np.max(ly0))
    y = np.exp(ly0 - top)
    e_y = 0  # y_n = y * 2^e_y * e^top: powers of two keep the rescaling exact
    acc = np.zeros(n + 1)
    e_acc = None  # acc in units 2^e_acc * e^top
    # Poisson weights w_k = e^-mu mu^k / k! as (mantissa, power of two) by w_k = w_{k-1} mu / k; their sum
    # normalises at the end, which removes the common error of e^-mu.
    wm, we = 1.0, 0
    wsum_m, wsum_e = 0.0, 0
    k = 0
    while True:
        # accumulate w_k y_k (skipped while it is below 2^-1100 of the sum so far: no digit of it survives)
        e_term = we + e_y
        if e_acc is None or e_term > e_acc - 1100:
            if e_acc is None or e_term > e_acc:
                acc = np.ldexp(acc, (e_acc - e_term) if e_acc is not None else 0)
                e_acc = e_term
            acc += math.ldexp(wm, e_term - e_acc) * y
        if wsum_e < we:
            wsum_m, wsum_e = math.ldexp(wsum_m, wsum_e - we), we
        wsum_m += math.ldexp(wm, we - wsum_e)
        if k + 1 > mu:
            # tail after k: sum_{i>k} w_i <= w_k r / (1 - r), r = mu/(k+1) < 1
            r = mu / (k + 1.0)
            log_tail = math.log(wm) + we * math.log(2.0) + math.log(r) - math.log1p(-r) - (
                math.log(wsum_m) + wsum_e * math.log(2.0))
            log_sum = math.log(float(acc.sum())) + e_acc * math.log(2.0) + top - (
                math.log(wsum_m) + wsum_e * math.log(2.0))
            if log_tail + log_cap < log_sum + _LOG_TAIL or mu == 0.0:
                break
        if k >= MAX_TERMS + 10.0 * math.sqrt(MAX_TERMS) + 100:
            return None
        nxt = diag * y
        nxt[1:] += sub * y[:-1]
        nxt[:-1] += sup * y[1:]
        frac, ex = np.frexp(float(np.max(nxt)))
        y = np.ldexp(nxt, -int(ex))
        e_y += int(ex)
        y[y < _FLUSH] = 0.0
        k += 1
        wm *= mu / k
        frac, ex = math.frexp(wm)
        wm, we = frac, we + ex
    log_scale = top + (e_acc - wsum_e) * math.log(2.0) - math.log(wsum_m)
    # per step: 3 products, 2 sums, rounded coefficients (< 10 u for the diagonal); the weights' recurrence 2 u;
    # the initial ln y (gammaln of arguments up to N) errs by ~ u |ln y0|.
    rel = _U * (16.0 * (k + 1) + 4.0 * float(np.max(np.abs(ly0[np.isfinite(ly0)]))) + 64.0)
    return acc, log_scale, rel, k


# The relaxed symmetric chain (midpoints P_0 pi_k) is taken once its error is below e^-32 (1e-14) of the sum.
_RELAXED_ACCEPT = -32.0


def _symmetric_relaxed(n: int, nbar: float, pe0: float):
    r"""A function of gamma t giving (:math:`\ln y_k` of the relaxed symmetric chain, :math:`P_0\pi_k\binom Nk`,
    ln of its total error :math:`\sum_k\binom Nk\sqrt{\pi_k}\,\chi e^{-g\gamma t}`): the relaxation bound of
    :mod:`.thermal_l1` (g a certified lower bound of the chain's gap, :math:`\chi = \|q(0)\|_{\pi^{-1}}`)."""
    from .long_time import _ladder_log_norm, _u_of_x
    from .thermal_l1 import _certified_gap

    k = np.arange(n + 1)
    lc = _log_binom(n, k)
    if nbar <= 0 or n == 0:
        return lambda _h: (lc, np.inf)  # no detailed balance to relax to: the other routes
    u = _u_of_x(nbar / (nbar + 1.0))
    lpi = _ladder_log_norm(np.array([n + 1]), u)[0] - u * k
    lpe = math.log(pe0) if pe0 > 0 else -np.inf
    with np.errstate(invalid="ignore"):
        lq0 = np.where(k > 0, k * lpe, 0.0) + (n - k) * math.log1p(-pe0)
    log_p0 = _logsumexp(lq0)
    log_chi = 0.5 * _logsumexp(2.0 * lq0 - lpi)  # >= the pi^-1 norm of q(0) - P_0 pi
    gap = _certified_gap(n + 1, nbar)
    mid = lc + log_p0 + lpi
    base = _logsumexp(lc + 0.5 * lpi) + log_chi
    return lambda h: (mid, base - gap * h if gap > 0 else np.inf)


def thermal_l1_estimate(n: int, nbar: float, pe0: float, gamma_t, w: np.ndarray, w_err: np.ndarray,
                        q_sym: np.ndarray, err_sym: np.ndarray) -> list:
    r"""Per time :math:`(\ln\hat C, \ln\delta)`: the symmetric-multiplet sum and its error estimate (not a bound).

    Args:
        n: atoms; nbar: bath occupation (finite); pe0: initial excited probability (0 < p_e0 < 1/2).
        gamma_t: times (> 0).
        w, w_err: :math:`W_k(t)` per time (shape (n_t, N+1)) and per time the estimated
            :math:`\sum_k|\delta W_k|` (float64 chains, pruned multiplets' weight included).
        q_sym, err_sym: the float64 symmetric chain :math:`q_{0,k}(t)` and its absolute error estimate, used
            where the uniformisation would exceed ``MAX_TERMS`` steps.

    Returns:
        A list of ``(ln value, ln error estimate)``, one per time.

    Example:
        >>> import math, numpy as np
        >>> from qcharge.reference.dicke.dynamics import _dynamics_observables
        >>> nbar = 1 / (math.e - 1); pe0 = 1 / (1 + math.e**2)
        >>> w, _, qs, es, we = _dynamics_observables(10, nbar / (nbar + 1), pe0, np.array([0.1]), nbar)
        >>> (lv, le), = thermal_l1_estimate(10, nbar, pe0, [0.1], w, we, qs, es)
        >>> round(math.log10(math.exp(lv)), 9), le - lv < math.log(1e-12)   # certified: 0.29013571955096706
        (0.29013572, True)
    """
    lc = _log_binom(n, np.arange(n + 1))
    relaxed = _symmetric_relaxed(n, nbar, pe0)
    out = []
    for i, h in enumerate(np.asarray(gamma_t, dtype=float)):
        ly, le = relaxed(float(h))  # late times: the relaxation bound
        got = None
        if not le < _logsumexp(ly) + _RELAXED_ACCEPT:
            got = _symmetric_uniformised(n, nbar, pe0, float(h))
        if got is not None:
            acc, log_scale, rel, steps = got
            d_acc = rel * acc + steps * (n + 1) * _FLUSH * float(acc.max())  # + what the flushes can leave
        else:
            if not le < _logsumexp(ly) + _RELAXED_ACCEPT:
                # neither route: the float64 chain (its error estimate is loose in the tails), unless it was
                # skipped (its weight P_0 < 1e-30 from N ~ 550 at T0 = 0.5): then no value
                if not np.any(q_sym[i] > 0):
                    out.append((-np.inf, np.inf))
                    continue
                with np.errstate(divide="ignore"):
                    ly, le = lc + np.log(q_sym[i]), _logsumexp(lc + np.log(err_sym[i]))
            log_scale = float(max(np.max(ly), le))
            acc, d_acc = np.exp(ly - log_scale), np.exp(np.atleast_1d(le) - log_scale)
            # the logs of the midpoints err by ~u |ln y| each (binomials, ln pi up to N ln x)
            d_acc = d_acc + 4.0 * _U * (float(np.max(np.abs(ly[np.isfinite(ly)]))) + 64.0) * acc
        # S_k = e^scale (acc_k - W_k e^-scale): W underflows harmlessly where y dwarfs it (N in the thousands)
        with np.errstate(under="ignore"):
            shift = math.exp(-log_scale) if log_scale < 700 else 0.0
            s = np.abs(acc - w[i] * shift).sum()
            # + the rounding of the N+1 differences and their sum
            d = float(d_acc.sum()) + float(w_err[i]) * shift + 2.0 * (n + 2) * _U * float(np.sum(acc + w[i] * shift))
        value = math.log(s) + log_scale if s > 0 else -np.inf
        err = math.log(d) + log_scale if d > 0 else -np.inf
        out.append((value, err))
    return out


# The sign check runs the certified evaluation at this N (a few tenths of a second per time).
CHECK_ATOMS = 40
# How the estimate's deviation from C_l1 grows with N where the signs mix: ~N^4.5 (T0 = 1 -> T = 2 at
# gamma t = 0.5: 3.3e-5 at N = 41, 1.8e-3 at N = 100); the check's deviation is scaled by (N / 40)^5.
CHECK_GROWTH = 5.0


def sign_check(n: int, x: float, nbar: float, pe0: float, gamma_t, rel_tol: float = 1e-12) -> np.ndarray:
    r"""Per time the relative amount by which :math:`\hat C` may miss C_l1 at N atoms: the deviation of
    :math:`\hat C` from the certified C_l1 at :math:`N' = \min(N, 40)` (same T, T0, gamma t), plus both
    of their error estimates, scaled by :math:`(N/N')^5`; nan where the certified value at N' is missing.

    An estimate of the sign assumption's error, not a bound: the deviation is 0 to rounding for
    T0 = 0.5 -> T = 1 at every time, and grows like a power of N where the signs mix (T0 close to T).
    """
    from .dynamics import _dynamics_observables
    from .thermal_l1 import thermal_l1_certified

    m = min(int(n), CHECK_ATOMS)
    gts = np.asarray(gamma_t, dtype=float)
    w, _s, q_sym, err_sym, w_err = _dynamics_observables(m, x, pe0, gts, nbar)
    est = thermal_l1_estimate(m, nbar, pe0, gts, w, w_err, q_sym, err_sym)
    cert = thermal_l1_certified(m, x, nbar, pe0, gts, rel_tol, [v for v, _e in est])
    out = np.full(gts.size, np.nan)
    for i, ((lv, le), res) in enumerate(zip(est, cert)):
        if res is None or not np.isfinite(lv):
            continue
        lc = res.log10 * math.log(10.0)
        out[i] = abs(math.expm1(lv - lc)) + math.exp(le - lv) + res.rel_bound
    return out * (float(n) / m) ** CHECK_GROWTH
