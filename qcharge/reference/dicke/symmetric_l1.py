r"""C_l1 of states in the symmetric multiplet (ground / excited initial states), any N (docs/physics.md §2.3-2.4).

From the ground or the fully excited state only the multiplet J = N/2 is populated, so
:math:`\rho(t) = \sum_k p_k(t)\,|D_k\rangle\langle D_k|` and

.. math::

    C_{l1}(t) = \sum_{k=1}^{N-1} p_k(t)\left[\binom Nk - 1\right],

a sum of positive terms (no cancellation): its logarithm is a log-sum-exp at any N. What limits it is
the *relative* accuracy of the tiny :math:`p_k` that the binomials weigh up. Two evaluations:

* :func:`symmetric_l1_estimate` from float64 populations with an a-priori absolute error per entry (the
  chain solver's): the bound :math:`\sum_k \delta_k(\binom Nk - 1)` is an estimate, not a proof.
* :func:`symmetric_l1_uniformised`, certified, where :math:`\lambda t` fits the CPU budget (early times: the
  superradiant burst, e.g. N = 10^4 at :math:`\gamma t \le 10^{-3}`):
  uniformisation :math:`e^{Gt} = \sum_n \mathrm{Pois}(n;\lambda t) P^n`, :math:`P = I + G/\lambda \ge 0`,
  applied to the binomially weighted vector :math:`y_k = \binom Nk p_k` whose iteration matrix
  :math:`M = D P D^{-1}` (:math:`D = \mathrm{diag}\binom Nk`) is non-negative:
  :math:`M_{k+1,k} = \bar n (N-k)^2/\lambda`, :math:`M_{k-1,k} = (\bar n+1)k^2/\lambda`. Every entry is a
  sum of non-negative terms (the coefficients too: no subtraction), so each :math:`y_k(t)` carries a
  relative rounding error of at most :math:`8\epsilon` per step, as long as nothing underflows: every entry
  keeps its own binary exponent (y spans ~10^3000 at N = 10^4). The Poisson tail beyond the last term is
  bounded by its mass times a bound of :math:`\sum_k y_k`: :math:`\max_k \binom Nk`, or
  :math:`(1+x)^N` from ground (:math:`p_k \le x^k`).
* :func:`symmetric_populations_doubling`, certified, small N (<= 56): the same series with all
  :math:`P^n e_0` from 2 log2 K dense non-negative products (no per-term loop); also gives p(t).
* :func:`symmetric_l1_relaxed`, certified, late times at any N: the spectral relaxation bound around the
  closed-form long-time value (2.3).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from .combinatorics import _log_binom, _logsumexp, _poisson_terms
from .thermal_l1 import DEFAULT_BUDGET_S

__all__ = ["symmetric_l1_backward", "symmetric_l1_estimate", "symmetric_l1_uniformised"]

_EPS = np.finfo(float).eps
# CPU seconds of one uniformisation term (~25 vector operations on N + 1 entries with their own exponents;
# measured 0.4 ms at N = 2000, 0.7-1 ms at N = 10^4): the planned cost, compared with the caller's budget per
# time, before any work.
_TERM_S, _ENTRY_S = 1.5e-4, 8e-8
# Terms whose contribution is below e^-60 (1e-26) of the running sum are not accumulated (their exact
# contribution is added to the bound instead).
_LOG_NEGLIGIBLE = -60.0
# Most equal substeps tried by the backward (late-time) evaluation.
_BACKWARD_MAX_STEPS = 64


_NO_EXP = -(2**29)  # exponent of a zero entry (below every real one; int32 with room for sums)
_LN2 = math.log(2.0)


def _step_extended(m, e, diag, sub, sup, l2_diag, l2_sub, l2_sup):
    r"""One step :math:`y \to My` (M tridiagonal, non-negative) of :math:`y = m\,2^e` entrywise; returns (m, e).

    Each entry's three terms are aligned to the exponent of the largest (coefficient included), summed in
    float64 and renormalised (frexp): a relative error of 3 eps per entry plus, for a term underflowing
    at the alignment, below 2^-1070 of the entry."""
    ef = e.astype(np.float64)
    le = ef + l2_diag
    np.maximum(le[1:], ef[:-1] + l2_sub, out=le[1:])
    np.maximum(le[:-1], ef[1:] + l2_sup, out=le[:-1])
    big = np.floor(le).astype(np.int32)
    shift = np.maximum(e - big, -1100)  # <= 1 - log2(coefficient) <= ~40: no overflow
    nxt = diag * np.ldexp(m, shift)
    shift = np.maximum(e[:-1] - big[1:], -1100)
    nxt[1:] += sub * np.ldexp(m[:-1], shift)
    shift = np.maximum(e[1:] - big[:-1], -1100)
    nxt[:-1] += sup * np.ldexp(m[1:], shift)
    m, de = np.frexp(nxt)
    de += big
    de[m == 0] = _NO_EXP
    return m, de


def _log_c_minus_1(n: int) -> np.ndarray:
    r""":math:`\ln(\binom Nk - 1)` for k = 0..N (``-inf`` at k = 0, N)."""
    lc = _log_binom(n, np.arange(n + 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = lc + np.log1p(-np.exp(-lc))
    out[[0, n]] = -np.inf
    return out


def symmetric_l1_estimate(n: int, log_p: np.ndarray, log_err: np.ndarray) -> tuple[float, float]:
    r"""``(ln C_l1, ln of the error estimate)`` from :math:`\ln p_k` and :math:`\ln\delta_k` of absolute errors (k = 0..N).

    Example:
        >>> import numpy as np
        >>> lv, le = symmetric_l1_estimate(2, np.log([0.5, 0.5, 1e-300]), np.full(3, -np.inf))
        >>> round(float(np.exp(lv)), 12)  # p_1 (C(2,1) - 1) = 0.5
        0.5
    """
    lcm1 = _log_c_minus_1(n)
    return _logsumexp(log_p + lcm1), _logsumexp(np.asarray(log_err, dtype=float) + lcm1)


def symmetric_l1_uniformised(n: int, nbar: float, excited: bool, gamma_t: np.ndarray, budget_s: float = DEFAULT_BUDGET_S,
                             log_guess=None, planned: list | None = None) -> list:
    r"""Certified :math:`\ln C_{l1}(t)` of the symmetric multiplet from the ground (or excited) state.

    Args:
        n: number of atoms N.
        nbar: bath occupation :math:`\bar n` (finite).
        excited: start from :math:`|D_N\rangle` instead of :math:`|D_0\rangle`.
        gamma_t: times :math:`\gamma t \ge 0` (1-D).
        budget_s: planned CPU seconds allowed (for the latest time asked; they share one pass). N = 10^4:
            ~6 s at gamma t = 1e-4, ~40 s at 1e-3.
        log_guess: per time a rough ln C_l1 (e.g. the float64 estimate; nan: unknown), for the plan only: the
            loop stops once the Poisson tail is negligible against the sum, which a large value reaches early.
        planned: if a list, the planned CPU seconds of each time are appended to it.

    Returns:
        One entry per time: ``(ln C_l1, ln of a rigorous absolute error bound)``, or ``None`` where the Poisson
        terms needed would cost more than ``budget_s``.

    Example:
        >>> import math
        >>> from qcharge.reference.dicke.dynamics import _chain_evolve
        >>> q, _ = _chain_evolve(np.eye(3)[0], np.array([0.1]), 1.0, math.log(2.0))  # N = 2, nbar = 1
        >>> ((lv, lb),) = symmetric_l1_uniformised(2, 1.0, False, [0.1])
        >>> bool(abs(math.exp(lv) - q[0, 1]) < 1e-12)  # C_l1 = p_1 (C(2,1) - 1) = p_1
        True
    """
    gamma_t = np.asarray(gamma_t, dtype=float)
    k = np.arange(n + 1, dtype=float)
    # The rates as exact integers times the binary nbar: s_k = up_k + down_k = nbar A_k + B_k, and
    # lambda = nbar max A + max B >= max s_k, so 1 - s_k/lambda = (nbar (maxA - A_k) + (maxB - B_k))/lambda
    # is a sum of non-negative terms (no cancellation): every coefficient of M within 5 eps, relative.
    ki = np.arange(n + 1, dtype=np.int64)
    a_k = (n - ki) * (ki + 1) + ki * (n - ki + 1)
    b_k = ki * (n - ki + 1)
    lam = nbar * float(a_k.max()) + float(b_k.max())
    out: list = [None] * gamma_t.size
    if n < 2 or lam == 0.0:
        return [(-np.inf, -np.inf) if h >= 0 else None for h in gamma_t]
    # y_k (C(N,k) - 1) / C(N,k) = p_k (C(N,k) - 1): the C_l1 term of entry k.
    log_factor = _log_c_minus_1(n) - _log_binom(n, k)
    # sum_k y_k = sum_k C(N,k) p_k <= max_k C(N,k); tighter, r = p/pi is a max-norm contraction, pi_k ~ x^k:
    # p_k(t) <= x^k from ground, x^(k-N) from the excited state, so sum_k y_k <= (1+x)^N or (1+1/x)^N.
    log_cmax = float(_log_binom(n, np.array([n // 2]))[0])
    x = nbar / (nbar + 1.0)
    if x > 0:
        log_cmax = min(log_cmax, n * (math.log1p(1.0 / x) if excited else math.log1p(x)))
    mu = lam * gamma_t
    # Terms needed (Chernoff: a Poisson tail below 1e-17 / that bound); only a budget estimate: the actual cut
    # is decided on the fly.
    guess = np.zeros(gamma_t.size) if log_guess is None else np.nan_to_num(np.asarray(log_guess, dtype=float), nan=0.0)
    n_cap = np.array([_poisson_terms(m_i, -(45.0 + max(log_cmax - max(g, 0.0), 0.0)))[0] for m_i, g in zip(mu, guess)])
    max_terms = budget_s / (_TERM_S + _ENTRY_S * (n + 1))
    if planned is not None:
        planned.extend((n_cap * (_TERM_S + _ENTRY_S * (n + 1))).tolist())
    active = [i for i in range(gamma_t.size) if n_cap[i] <= max_terms]
    if not active:
        return out
    sub = nbar * ((n - k[:-1]) ** 2) / lam  # M[k+1, k]
    sup = (nbar + 1.0) * (k[1:] ** 2) / lam  # M[k-1, k]
    diag = (nbar * (a_k.max() - a_k).astype(float) + (b_k.max() - b_k).astype(float)) / lam
    # y = m 2^e entrywise (m in [1/2, 1) or 0): y spans far more than float64's range at N ~ 10^4, and an
    # entry lost to underflow at small k would re-enter amplified by C(N,k')/C(N,k) as it climbs the chain
    # (a common scale made N = 10^4 at gamma t = 1e-3 exceed the bound (1 + x)^N). Each entry's terms are
    # aligned to its largest (by exponent and coefficient); what underflows there is < 2^-1070 of it.
    with np.errstate(divide="ignore"):
        l2_diag = np.where(diag > 0, np.log2(diag), float(_NO_EXP))
        l2_sub, l2_sup = np.log2(sub), np.log2(sup)
    m = np.zeros(n + 1)
    e = np.full(n + 1, _NO_EXP, dtype=np.int32)
    m[n if excited else 0], e[n if excited else 0] = 0.5, 1
    act = np.array(active)
    mu_a = mu[act]
    with np.errstate(divide="ignore"):
        log_mu = np.log(mu_a)
    acc = np.zeros((act.size, n + 1))
    acc_log = np.full(act.size, -np.inf)  # acc[i] * e^{acc_log[i]} = sum of the accumulated terms
    dropped = np.full(act.size, -np.inf)  # ln of the sum of the terms not accumulated (and of the tail)
    done = np.zeros(act.size, dtype=bool)
    n_done = np.zeros(act.size, dtype=int)
    n_term = 0
    while True:
        # v e^{log_scale} = y with one scale: entries below 2^-1074 of the largest are lost here, a relative
        # error below (N+1) 2^-1074 of the sum (v only enters the accumulated sums, it is not propagated).
        top = int(e.max())
        v = np.ldexp(m, np.maximum(e - top, -1100))
        log_scale = top * _LN2
        log_v_sum = math.log(float(v.sum())) + log_scale
        with np.errstate(divide="ignore", invalid="ignore"):
            lw = np.where(mu_a > 0, -mu_a + n_term * log_mu - gammaln(n_term + 1.0), 0.0 if n_term == 0 else -np.inf)
            total = np.where(np.isfinite(acc_log), acc_log + np.log(acc.sum(axis=1)), -np.inf)
        contrib = lw + log_v_sum
        small = ~done & (contrib < total + _LOG_NEGLIGIBLE)
        dropped[small] = np.logaddexp(dropped[small], contrib[small])
        add = ~done & ~small
        if np.any(add):
            lt = lw[add] + log_scale
            new_log = np.maximum(acc_log[add], lt)
            with np.errstate(invalid="ignore"):
                keep = np.where(np.isfinite(acc_log[add]), np.exp(acc_log[add] - new_log), 0.0)
            acc[add] = acc[add] * keep[:, None] + v[None, :] * np.exp(lt - new_log)[:, None]
            acc_log[add] = new_log
            total[add] = acc_log[add] + np.log(acc[add].sum(axis=1))
        # Stop once past the mode and the whole remaining tail (geometric bound of the Poisson tail,
        # times the bound of sum_k y_k above) is negligible against the running sum.
        past = ~done & (n_term > mu_a)
        if np.any(past):
            ratio = mu_a[past] / (n_term + 1.0)
            with np.errstate(divide="ignore"):
                log_tail = lw[past] + np.log(ratio) - np.log1p(-ratio) + log_cmax
            fin = (log_tail < total[past] + math.log(1e-17)) | (mu_a[past] == 0)
            idx = np.nonzero(past)[0][fin]
            done[idx] = True
            n_done[idx] = n_term
            dropped[idx] = np.logaddexp(dropped[idx], log_tail[fin])
        if np.all(done) or n_term >= 2.0 * max_terms:
            break
        m, e = _step_extended(m, e, diag, sub, sup, l2_diag, l2_sub, l2_sup)
        n_term += 1
    for pos, i in enumerate(act):
        if not done[pos]:
            continue
        log_y = acc_log[pos] + np.log(acc[pos], where=acc[pos] > 0, out=np.full(n + 1, -np.inf))
        value = _logsumexp(log_y + log_factor)
        # Rounding: <= 8 eps relative per step and entry (5 in M's coefficients, 3 in the products and sums),
        # 4 eps (mu + n) in the Poisson weights' logs.
        rel = (8.0 * n_done[pos] + 16.0) * _EPS + 4.0 * _EPS * (mu[i] + n_done[pos] + 1.0)
        bound = np.logaddexp(value + math.log(rel), dropped[pos]) if np.isfinite(value) else dropped[pos]
        out[i] = (value, bound)
    return out


def symmetric_l1_backward(n: int, nbar: float, gamma_t: np.ndarray) -> list:
    r"""Estimated :math:`\ln C_{l1}(t)` from the ground state via the ratio :math:`r = p/\pi` (late times, any N).

    The ratio to the long-time law :math:`\pi_k \propto x^k` obeys the backward equation
    :math:`\dot r = G^T r` (detailed balance), with :math:`r(0) = e_0/\pi_0` and :math:`r \to 1`; its
    absolute errors :math:`\delta` change :math:`C_{l1}` by at most :math:`\delta\,\sum_k \pi_k(\binom Nk-1)`,
    i.e. relative accuracy where :math:`\pi_k` is astronomically small but weighs most. The contour rule is
    not stable on the non-normal :math:`G^T` at intermediate times, so each time is evaluated in s and 2s
    equal steps (s = 1, 2, 4, ...); ten times their difference is the error estimate (not a proof), accepted
    once it is below 1e-6 of the value; times where that fails come back as ``None``.

    Returns:
        Per time ``(ln C_l1, ln of the error estimate)`` or ``None``.
    """
    from .dynamics import _chain_rates, _Tridiagonal
    from .long_time import _ladder_log_norm

    x = nbar / (nbar + 1.0)
    u = -math.log(x)
    length = n + 1
    k = np.arange(length, dtype=float)
    up, down = _chain_rates(length, nbar)
    gen = _Tridiagonal(down[1:], -(up + down), up[:-1])  # G^T[k, k+1] = up[k], G^T[k+1, k] = down[k+1]
    log_pi = -u * k + float(_ladder_log_norm(np.array([length]), u)[0])
    log_weight = log_pi + _log_c_minus_1(n)
    r0 = np.zeros(length)
    r0[0] = math.exp(-log_pi[0])
    out: list = []
    for h in np.asarray(gamma_t, dtype=float):
        if h <= 0:
            out.append(None)
            continue
        found = None
        coarse = gen.expm_action(r0, float(h))
        steps = 1
        while steps < _BACKWARD_MAX_STEPS and found is None:
            steps *= 2
            fine = r0
            for _ in range(steps):
                fine = gen.expm_action(fine, float(h) / steps)
            if not np.all(np.isfinite(fine)):
                break
            delta = 10.0 * float(np.max(np.abs(coarse - fine))) + 64.0 * steps * _EPS * float(r0[0])
            with np.errstate(divide="ignore"):
                value = _logsumexp(np.log(np.maximum(fine, 0.0)) + log_weight)
            bound = math.log(delta) + _logsumexp(log_weight)
            if bound < value + math.log(1e-6):
                found = (value, bound)
            coarse = fine
        out.append(found)
    return out


# Doubling path (small N): the Krylov vectors P^n e_0, n < K, by 2 log2(K) dense products, so that every time
# costs one row of a weight matrix. Used while K (N+1)^2 stays below this (a few ms; K = 2048 at N = 40).
DOUBLING_MAX_WORK = 4e6
# C(N,k) - 1 must be exact in float64 (<= 2^53), and the products dense: N <= 56.
DOUBLING_MAX_ATOMS = 56


def symmetric_populations_doubling(n: int, nbar: float, excited: bool, gamma_t: np.ndarray) -> tuple[list, np.ndarray]:
    r"""Certified :math:`\ln C_{l1}(t)` and the populations :math:`p_k(t)` of the symmetric multiplet (small N).

    Uniformisation :math:`p(t) = \sum_{n<K} \mathrm{Pois}(n;\lambda t)\,P^n e_0` + tail, with
    :math:`P = I + G/\lambda \ge 0` column-stochastic; the vectors :math:`V_n = P^n e_0` for all n < K come
    from :math:`V_{[2^i, 2^{i+1})} = V_{[0, 2^i)}\,(P^{2^i})^T` (2 log2 K dense products). Everything is a
    sum of non-negative terms, so the error is relative entry by entry: :math:`P` is rounded from exact
    rationals (u = 2^-53 each), a product of non-negative matrices with inner dimension m adds
    :math:`\gamma_m`, hence :math:`|\delta V_n| \le ((1+u)^n(1+\gamma_m)^n - 1) V_n`; the Poisson weights
    carry the error of their logarithms; the tail beyond K is bounded by the geometric bound times
    :math:`\max_k\binom Nk`; underflow adds an absolute term (IEEE gradual underflow assumed).

    Returns:
        ``(l1, p)``: per time ``(ln C_l1, ln of a rigorous absolute error bound)`` or ``None`` (more than
        ``DOUBLING_MAX_WORK`` needed, or N above ``DOUBLING_MAX_ATOMS``), and p of shape (n_times, N+1)
        (rows of nan where ``None``).
    """
    gamma_t = np.asarray(gamma_t, dtype=float)
    m = n + 1
    out: list = [None] * gamma_t.size
    pops = np.full((gamma_t.size, m), np.nan)
    if n < 2 or n > DOUBLING_MAX_ATOMS or not np.isfinite(nbar) or nbar < 0:
        return out, pops
    # Exact rates in integers: nbar = a / b (the float is an exact binary fraction), rate_k = R_k / b with
    # R_k = a (N-k)(k+1) + (a+b) k(N-k+1); lambda = max R / b exactly, and int / int rounds correctly.
    a, b = float(nbar).as_integer_ratio()
    ups = [a * (n - k) * (k + 1) for k in range(m)]
    downs = [(a + b) * k * (n - k + 1) for k in range(m)]
    rates = [x + y for x, y in zip(ups, downs)]
    top = max(rates)
    if top == 0:
        return out, pops
    mu = (top / b) * gamma_t  # Poisson means; their rounding (2u) enters the weights' error below
    log_cmax = float(_log_binom(n, np.array([n // 2]))[0])
    n_cap = _poisson_terms(mu, -(log_cmax + 45.0))  # terms needed (Chernoff estimate; the tail is bounded below)
    active = np.nonzero(n_cap <= DOUBLING_MAX_WORK / m**2)[0]
    if active.size == 0:
        return out, pops
    levels = max(1, math.ceil(math.log2(float(np.max(n_cap[active])) + 1.0)))
    big_k = 2**levels
    p_mat = np.zeros((m, m))  # P[k', k] = delta + G[k', k] / lambda: column k is where level k goes
    p_mat[np.arange(m), np.arange(m)] = [(top - r) / top for r in rates]
    p_mat[np.arange(1, m), np.arange(n)] = [x / top for x in ups[:-1]]
    p_mat[np.arange(n), np.arange(1, m)] = [y / top for y in downs[1:]]
    vecs = np.zeros((big_k, m))
    vecs[0, n if excited else 0] = 1.0
    power = p_mat
    with np.errstate(under="ignore"):
        for i in range(levels):
            half = 2**i
            vecs[half : 2 * half] = vecs[:half] @ power.T
            if i + 1 < levels:
                power = power @ power
        terms = np.arange(big_k, dtype=float)
        mu_a = mu[active]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_mu = np.log(mu_a)
            weights = np.exp(np.outer(log_mu, terms) - mu_a[:, None] - gammaln(terms + 1.0)[None, :])
        weights[mu_a == 0] = np.eye(1, big_k)  # t = 0: the initial vector (0 * ln 0 above is nan)
        p_t = weights @ vecs
    u = _EPS / 2.0
    gamma = lambda k: k * u / (1.0 - k * u)  # noqa: E731  (Higham's gamma_k)
    # Relative error of every V_n (n < K) and of the weights (their logs: 8u times the sizes of the summands,
    # scipy's gammaln within a few ulps, mu = lam * gamma_t rounded once), of W @ V (inner dimension K) and of
    # the final dot product with C(N,k) - 1 (exact integers here, m terms).
    rel_v = math.expm1(big_k * (math.log1p(u) + math.log1p(gamma(m))))
    with np.errstate(divide="ignore", invalid="ignore"):
        size = mu_a + big_k * np.abs(log_mu) + float(gammaln(big_k + 1.0)) + 1.0
    rel_w = np.expm1(8.0 * u * np.where(np.isfinite(size), size, 0.0)) + u
    rel = (1.0 + rel_v) * (1.0 + rel_w) * (1.0 + gamma(big_k)) * (1.0 + gamma(m)) - 1.0
    coeff = np.array([float(math.comb(n, k) - 1) for k in range(m)])
    # Underflow: each of the ~(2 levels + 2) products makes an absolute error <= m 2^-1074 per entry, carried
    # by column-stochastic matrices (no growth in l1); weights below the normal range lose <= 2^-1022 each.
    under = (2.0 * levels + 2.0) * m * m * 2.0**-1074 + big_k * 2.0**-1022
    cmax = float(math.comb(n, n // 2))
    for pos, i in enumerate(active):
        h = mu[i]
        if h == 0:
            pops[i] = vecs[0]
            out[i] = (-np.inf, -np.inf)  # a Dicke state D_0 or D_N: C_l1 = 0
            continue
        ratio = h / (big_k + 1.0)
        if ratio >= 1.0:
            continue
        # Poisson tail beyond K - 1: Pois(K) / (1 - mu / (K+1)); the tail vectors are probability vectors.
        log_tail = -h + big_k * math.log(h) - float(gammaln(big_k + 1.0)) - math.log1p(-ratio)
        value = float(p_t[pos] @ coeff)
        # the value's own rounding to ln (4u (1 + |ln value|)) is added to rel
        r = rel[pos] + 4.0 * u * (1.0 + abs(math.log(value))) if value > 0 else rel[pos]
        bound = value * r / (1.0 - r) + (math.exp(log_tail) * (1.0 + 1e-10) + under) * cmax
        pops[i] = p_t[pos]
        out[i] = (math.log(value) if value > 0 else -np.inf, math.log(bound) if bound > 0 else -np.inf)
    return out, pops


def symmetric_l1_relaxed(n: int, nbar: float, x: float, excited: bool, gamma_t: np.ndarray) -> list:
    r"""Certified :math:`\ln C_{l1}(t)` of the symmetric multiplet at late times, by the spectral relaxation bound.

    The chain is reversible with respect to :math:`\pi_k \propto x^k`, so (as in :mod:`.thermal_l1`)
    :math:`|p_k(t) - \pi_k| \le \sqrt{\pi_k}\, e^{-g t}\chi` with :math:`\chi^2 = 1/\pi_{k_0} - 1` from the
    Dicke state :math:`|D_{k_0}\rangle` (:math:`k_0 = 0` or N) and g a certified lower bound of the gap
    (Sylvester inertia in arb). Hence :math:`|C_{l1}(t) - C_{l1}(\infty)| \le e^{-gt}\chi\sum_k\sqrt{\pi_k}(\binom Nk - 1)`,
    with :math:`C_{l1}(\infty)` the closed form (2.3) and its own bound. The gap grows like :math:`N\gamma`,
    so from :math:`\gamma t \approx 1` (N = 40) or 0.5 (N >= 100) on this is below 1e-9 of the value at no cost.

    Returns:
        Per time ``(ln C_l1, ln of a rigorous absolute error bound)`` (the bound may exceed the value: the
        caller decides), or ``None`` where no gap could be certified (or x = 0).
    """
    from .long_time import _ladder_log_norm, _symmetric_long_time_log_l1, _u_of_x
    from .thermal_l1 import _certified_gap

    gamma_t = np.asarray(gamma_t, dtype=float)
    if n < 2 or not 0.0 < x < 1.0 or not np.isfinite(nbar):
        return [None] * gamma_t.size
    # float(arb lower bound) may round up by an ulp: take a few ulps off
    gap = _certified_gap(n + 1, nbar) * (1.0 - 8.0 * _EPS)
    if not gap > 0:
        return [None] * gamma_t.size
    u = _u_of_x(x)
    k = np.arange(n + 1, dtype=float)
    log_pi = float(_ladder_log_norm(np.array([n + 1]), u)[0]) - u * k
    start = n if excited else 0
    log_chi = 0.5 * math.log(math.expm1(-log_pi[start]))  # chi^2 = 1/pi_{k0} - 1
    log_sum = _logsumexp(0.5 * log_pi + _log_c_minus_1(n))
    log_value, log_bound_inf = _symmetric_long_time_log_l1(n, x)
    out = []
    for h in gamma_t:
        log_d = log_chi + log_sum - gap * h
        # float rounding of these logs: 16u times the sizes of their parts (an upward margin on the bound)
        margin = 16.0 * _EPS * (abs(log_chi) + abs(log_sum) + gap * h + float(np.max(np.abs(log_pi))) + 1.0)
        out.append((log_value, float(np.logaddexp(log_bound_inf, log_d + margin))))
    return out
