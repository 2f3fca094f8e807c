r"""Certified finite-time C_l1 from product thermal initial states (PHYSICS.md 2.7-2.8).

The sum (2.7) cancels massively (beyond 1e16 from N ~ 60), so the block probabilities
:math:`q_{j,k}(t)` must be known as rigorous enclosures to the absolute accuracy
:math:`\sim \epsilon\, C_{l1}/\beta_{j,k}` the certified engine (:mod:`.certified_l1`) asks for. They are
handed to it as arb balls (midpoint + radius); two ways to get them, per time:

* **Uniformisation in exact integers** (early and intermediate times). With one rate
  :math:`\lambda \ge \max_m(\text{up}_m + \text{down}_m)` for every chain,
  :math:`e^{Gt} = \sum_n \mathrm{Pois}(n;\lambda t) P^n`, :math:`P = I + G/\lambda`, a non-negative
  column-stochastic matrix with *integer* entries after scaling by the denominator of the binary
  :math:`\bar n` (``A = lambda' I + 2^e G``). The vectors :math:`y_n \approx 2^s P^n q(0)` are integers,
  ``y_{n+1} = (A y_n) // lambda'``: each floor errs by < 1 per entry, and P is non-expansive in l1, so
  :math:`\|y_n - 2^s P^n q(0)\|_1 \le E_0 + nL` (E_0: the initial rounding). The Poisson weights are
  arb balls floored to integers (their error enters), the tail beyond the last term is bounded by its
  rigorous mass times the chain weight. Cost: (#terms) x O(N^2) big-integer operations, #terms ~ λt;
  so this is for λt up to a budget (``UNIFORMISATION_MAX_WORK``). Ball arithmetic (arb) on the same
  iteration would give the same bound at the cost of Python-level arb objects per entry; exact
  integers let numpy's object arrays do the loop.
* **Spectral relaxation bound** (late times). Each chain is reversible with respect to
  :math:`\pi_m \propto x^m`, so :math:`S = R^{-1}GR` is symmetric with eigenvalues
  :math:`0 > -g_2 \ge \dots`; in the :math:`\pi^{-1}`-weighted norm
  :math:`\|q(t) - P_J\pi\| \le e^{-g t}\sqrt{\sum_m q_m(0)^2/\pi_m - P_J^2} =: D`, hence
  :math:`|q_m(t) - P_J\pi_m| \le \sqrt{\pi_m}\,D` for any certified :math:`g \le g_2`. g is a float
  estimate of the gap checked rigorously by Sylvester's inertia (the LDL^T pivots of :math:`S + gI`
  in arb, exactly one positive). The midpoints are the exact long-time :math:`q_{j,k}(\infty)` (2.1).

A time where neither applies within budget gets ``None`` (the caller prints an uncertified estimate).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .certified_l1 import _ArbPrecision, _certified_l1_generic, _flint, _log_beta, _logsumexp, _scaled_floor
from .combinatorics import _log_binom, _log_degeneracies

__all__ = ["thermal_l1_certified", "UNIFORMISATION_MAX_WORK"]

# Most (Poisson terms) x (chain entries) big-integer steps spent per time (~3 us each on numpy object
# arrays at N = 200): 1e7 is ~30 s at worst; N = 200 at gamma t = 1/N needs ~2e6.
UNIFORMISATION_MAX_WORK = 1e7
# The relaxation bound is used once it is below this fraction of the requested bound (it then costs
# nothing in accuracy); the uniformisation otherwise.
_RELAX_SHARE = 0.25
# A result is returned only with a relative bound at most this (else None: the caller's estimate).
_ACCEPT = 1e-6


def _rational(v: float) -> tuple[int, int]:
    fr = Fraction(v)
    return fr.numerator, fr.denominator


def _chain_layout(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenated chains j = 0..N/2: start offsets, lengths, and the level m of every entry."""
    jmax = n // 2
    lengths = n - 2 * np.arange(jmax + 1) + 1
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    m = np.concatenate([np.arange(length) for length in lengths])
    return starts, lengths, m


def _initial_balls(n: int, pe0: float, prec: int) -> list:
    r""":math:`q_{j,j+m}(0) = d_J p_e^{j+m} p_g^{N-j-m}` as arb balls, chains concatenated."""
    flint = _flint()
    arb = flint.arb
    with _ArbPrecision(prec):
        pe = arb(pe0)
        pg = 1 - pe
        w = [pe**k * pg ** (n - k) for k in range(n + 1)]
        out = []
        for j in range(n // 2 + 1):
            d = arb(math.comb(n, j) - (math.comb(n, j - 1) if j else 0))
            out.extend(d * w[k] for k in range(j, n - j + 1))
    return out


def _to_q(n: int, values: list, radii: list, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Object array (J, N+1) of arb balls from concatenated midpoints (arb) and per-chain radii."""
    flint = _flint()
    q = np.empty((n // 2 + 1, n + 1), dtype=object)
    q[:] = flint.arb(0)
    for j, (a, length) in enumerate(zip(starts, lengths)):
        for m in range(length):
            v = values[a + m]
            q[j, j + m] = v + flint.arb(0, radii[a + m]) if radii[a + m] else v
    return q


# ----------------------------------------------------------------------------------------- uniformisation
def _integer_generator(n: int, nbar: float):
    """A = lambda' I + D G (integers, D = denominator of nbar) on the concatenated chains, and lambda', D."""
    num, den = _rational(nbar)
    starts, lengths, m = _chain_layout(n)
    length_of = np.repeat(lengths, lengths)
    up = [num * int(mm + 1) * int(ll - 1 - mm) for mm, ll in zip(m, length_of)]  # D x rate m -> m+1
    down = [(num + den) * int(mm) * int(ll - mm) for mm, ll in zip(m, length_of)]  # D x rate m -> m-1
    lam = max(u + d for u, d in zip(up, down))
    diag = np.array([lam - u - d for u, d in zip(up, down)], dtype=object)
    # sub[i] = A[i+1, i] (from i up to i+1), sup[i] = A[i, i+1] (from i+1 down to i); zero across chains.
    sub = np.array(up[:-1], dtype=object)
    sup = np.array(down[1:], dtype=object)
    return diag, sub, sup, lam, den, starts, lengths


def _uniformised(n: int, nbar: float, pe0: float, gamma_t: float, log_target: float, rel_tol: float):
    r"""q(gamma t) as balls by integer uniformisation, absolute radius :math:`\le e^{\text{log\_target}}`
    per entry (times the chain's weight bound), or None if over budget."""
    flint = _flint()
    arb = flint.arb
    diag, sub, sup, lam, den, starts, lengths = _integer_generator(n, nbar)
    size = int(lengths.sum())
    mu_f = lam / den * gamma_t
    # Terms: Chernoff tail e^{-a^2 / (2 (mu + a))} below e^{log_target - ln(size)}.
    c = max(-log_target, 0.0) + math.log(size) + 10.0
    k_est = mu_f + math.sqrt(2.0 * mu_f * c) + 2.0 * c
    if k_est * size > UNIFORMISATION_MAX_WORK:
        return None
    # Fixed-point scale: the l1 rounding error after K steps is <= E0 + K L in units of 2^-s.
    s = int(math.ceil((-log_target + math.log(k_est * size + size)) / math.log(2.0))) + 8
    s_w = s + 16
    prec = s_w + 64
    q0 = _initial_balls(n, pe0, prec)
    y = np.empty(size, dtype=object)
    e0 = np.zeros(starts.size)
    for i, v in enumerate(q0):
        fl, e = _scaled_floor(v, s)
        y[i] = fl
        e0[np.searchsorted(starts, i, side="right") - 1] += e
    chain_of = np.repeat(np.arange(starts.size), lengths)
    for a, length in zip(starts, lengths):
        if a + length - 1 < size - 1:
            sub[a + length - 1] = 0
            sup[a + length - 1] = 0
    with _ArbPrecision(prec):
        mu = arb(lam) / den * arb(gamma_t)  # exact: gamma_t and nbar are binary numbers
        w = (-mu).exp()
        cum = arb(0)
        acc = np.zeros(size, dtype=object)
        werr = 0.0  # sum of the weight floors' errors (units 2^-s_w)
        wsum = 0  # sum of the integer weights W_n
        wnl = 0  # sum of W_n * n
        n_term = 0
        tail_target = arb(math.exp(log_target)) / 4
        while True:
            big_w, ew = _scaled_floor(w, s_w)
            if big_w:
                acc += big_w * y
            werr += ew
            wsum += big_w
            wnl += big_w * n_term
            cum += w
            if n_term > mu_f and (1 - cum).upper() < tail_target:
                break
            if n_term > 4 * k_est + 100:
                return None
            nxt = diag * y
            nxt[1:] += sub * y[:-1]
            nxt[:-1] += sup * y[1:]
            y = nxt // lam
            n_term += 1
            w = w * mu / n_term
        tail = (1 - cum).upper()
        scale = arb(2) ** (-(s + s_w))
        # Per entry: sum_n W_n (E0_j + n L_j) + werr 2^s total_j, in units 2^-(s + s_w); + tail * total_j.
        totals = [sum(q0[a : a + length], arb(0)).upper() for a, length in zip(starts, lengths)]
        rad_chain = []
        for j, (a, length) in enumerate(zip(starts, lengths)):
            units = arb(wsum) * arb(float(e0[j])) + arb(wnl) * int(length) + arb(werr) * arb(2) ** s * totals[j]
            rad_chain.append((units * scale + tail * totals[j]).upper())
        values = [arb(int(v)) * scale for v in acc]
        radii = [rad_chain[chain_of[i]] for i in range(size)]
        q = _to_q(n, values, radii, starts, lengths)
    return q, n_term


# ----------------------------------------------------------------------------------------- relaxation bound
def _certified_gap(length: int, nbar: float, prec: int = 96) -> float:
    r"""A rigorous lower bound g > 0 of the spectral gap of one chain (0 if none could be certified)."""
    from scipy.linalg import eigvalsh_tridiagonal

    from .dynamics import _chain_rates

    flint = _flint()
    arb = flint.arb
    up, down = _chain_rates(length, nbar)
    off = np.sqrt(up[:-1] * down[1:])
    lam2 = float(eigvalsh_tridiagonal(-(up + down), off, select="i", select_range=(length - 2, length - 2))[0])
    g0 = -lam2
    num, den = _rational(nbar)
    with _ArbPrecision(prec):
        nb = arb(num) / den
        upa = [nb * ((mm + 1) * (length - 1 - mm)) for mm in range(length)]
        dna = [(nb + 1) * (mm * (length - mm)) for mm in range(length)]
        for factor in (0.99, 0.9, 0.5):
            g = arb(g0 * factor)
            positive = 0
            ok = True
            d = None
            for i in range(length):
                t_ii = g - upa[i] - dna[i]
                d = t_ii if i == 0 else t_ii - upa[i - 1] * dna[i] / d
                if d > 0:
                    positive += 1
                elif not d < 0:
                    ok = False  # pivot not separated from 0
                    break
            if ok and positive == 1:
                return float(g.lower()) if g.lower() > 0 else 0.0
    return 0.0


def _relaxed(n: int, x: float, nbar: float, pe0: float, gamma_t: float, prec: int, gaps: list):
    r"""q(gamma t) as balls around the long-time q (2.1) with radius :math:`\sqrt{\pi_m} D_j`, and ln max D_j."""
    flint = _flint()
    arb = flint.arb
    starts, lengths, _m = _chain_layout(n)
    q0 = _initial_balls(n, pe0, prec)
    values, radii = [], []
    num, den = _rational(nbar)
    with _ArbPrecision(prec):
        # The chains' stationary ratio is nbar/(nbar+1) of the binary nbar the rates are built from; the
        # float x differs from it in the last bit, which the cancellation in (2.7) would magnify (1e-12 at N = 40).
        xe = arb(num) / (num + den)
        for j, (a, length) in enumerate(zip(starts, lengths)):
            chain = q0[a : a + length]
            total = sum(chain, arb(0))
            norm = (1 - xe) / (1 - xe**int(length))
            pis = [norm * xe**mm for mm in range(length)]
            if length == 1:
                values.append(chain[0])
                radii.append(0)
                continue
            chi = sum((c * c / p for c, p in zip(chain, pis)), arb(0)) - total * total
            chi = arb(chi.upper()) if chi.upper() > 0 else arb(0)
            dist = chi.sqrt() * (arb(-gaps[j]) * arb(gamma_t)).exp() if gaps[j] > 0 else arb("inf")
            for p in pis:
                values.append(total * p)
                radii.append((p.sqrt() * dist).upper())
        return _to_q(n, values, radii, starts, lengths)


def _log_relax_bound(n: int, x: float, pe0: float, gamma_t: float, gaps: list) -> float:
    r"""Float estimate of ln :math:`\sum_{j,k}\sqrt{\pi_m}D_j\beta_{j,k}` (to choose the route)."""
    from .combinatorics import _log_multiplet_weights
    from .long_time import _ladder_log_norm, _u_of_x

    u = _u_of_x(x)
    jmax = n // 2
    lbeta = _log_beta(n, np.arange(n + 1))
    lp = _log_multiplet_weights(n, pe0)
    ld = _log_degeneracies(n)
    lpe = math.log(pe0) if pe0 > 0 else -np.inf
    lpg = math.log1p(-pe0) if pe0 < 1 else -np.inf
    terms = []
    for j in range(jmax + 1):
        length = n - 2 * j + 1
        if length == 1 or not np.isfinite(lp[j]):
            continue
        if gaps[j] <= 0:
            return np.inf
        mm = np.arange(length)
        lpi = _ladder_log_norm(np.array([length]), u)[0] - u * mm
        k = j + mm
        # 0^0 = 1: the terms with exponent 0 contribute 0 (not 0 * -inf).
        lq0 = ld[j] + np.where(k > 0, k * lpe, 0.0) + np.where(n - k > 0, (n - k) * lpg, 0.0)
        lchi = _logsumexp(2 * lq0 - lpi)  # upper bound of chi^2 + P_J^2 (the subtraction only helps)
        ld_j = 0.5 * lchi - gaps[j] * gamma_t
        terms.append(_logsumexp(0.5 * lpi + lbeta[j, j : j + length]) + ld_j)
    return _logsumexp(np.array(terms)) if terms else -np.inf


# ----------------------------------------------------------------------------------------- entry point
def thermal_l1_certified(
    n: int, x: float, nbar: float, pe0: float, gamma_t, rel_tol: float, log_guess, progress: bool = False
) -> list:
    r"""Certified C_l1 at each :math:`\gamma t > 0` from a product thermal state, or None per time.

    Args:
        n: atoms; x, nbar: bath (:math:`x = \bar n/(\bar n+1)`, :math:`0 < \bar n < \infty`); pe0: initial
            excited probability; gamma_t: times; rel_tol: requested relative bound.
        log_guess: per time an estimate of :math:`\ln C_{l1}` (nan if unknown), to size the precision.
        progress: show a tqdm bar over the times.

    Returns:
        Per time an internal ``_L1`` (see :mod:`.certified_l1`) whose bound covers the arithmetic and the
        enclosure of q(t), or None where neither route fits the budget.

    Example:
        >>> from qcharge.reference.dicke.long_time import _u_of_x
        >>> import math
        >>> nbar = 1 / (math.e - 1)
        >>> (res,) = thermal_l1_certified(6, nbar / (nbar + 1), nbar, 0.2, [0.05], 1e-12, [math.nan])
        >>> bool(res.rel_bound < 1e-12)
        True
    """
    from tqdm import tqdm

    lbeta_all = _log_beta(n, np.arange(n + 1))
    log_unit = _logsumexp(np.where(np.isfinite(lbeta_all), lbeta_all, -np.inf))
    gaps = None
    out = []
    pairs = list(zip(np.asarray(gamma_t, dtype=float), log_guess))
    for h, guess in tqdm(pairs, desc="certified C_l1(t)", disable=not progress, leave=False):
        if not np.isfinite(guess):
            guess = log_unit - 64 * math.log(2.0)  # C_l1 >= 2^-64 x sum beta: a first guess, raised below
        log_allowed = guess + math.log(rel_tol) - math.log(4.0)
        if gaps is None:
            gaps = [_certified_gap(n - 2 * j + 1, nbar) if n - 2 * j + 1 > 1 else 0.0 for j in range(n // 2 + 1)]
        res = None
        if _log_relax_bound(n, x, pe0, float(h), gaps) < log_allowed + math.log(_RELAX_SHARE):
            prec = int((log_unit - log_allowed) / math.log(2.0)) + 128
            res = _certified_l1_generic(n, _relaxed(n, x, nbar, pe0, float(h), prec, gaps), rel_tol)
            if not res.rel_bound <= rel_tol:
                res = None  # the guess of C_l1 was too high: the relaxation radius does not certify it
        if res is None:
            log_target = log_allowed - log_unit
            for _attempt in range(3):
                got = _uniformised(n, nbar, pe0, float(h), log_target, rel_tol)
                if got is None:
                    break
                res = _certified_l1_generic(n, got[0], rel_tol)
                if res.rel_bound <= rel_tol or not np.isfinite(res.log10):
                    break
                # The guess was too high: lower the target by the missing digits (and some slack).
                log_target -= (math.log(res.rel_bound) - math.log(rel_tol)) if np.isfinite(res.rel_bound) else 64.0
                log_target -= 4.0
        if res is not None and not res.rel_bound <= _ACCEPT:
            res = None  # a bound that does not pin the value down certifies nothing: the caller estimates
        out.append(res)
    return out
