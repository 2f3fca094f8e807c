r"""Certified l1 coherence (docs/physics.md §2.7) with exact integers and arb balls: the big-integer engine."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from ..._checks import check_real
from ...exceptions import ParameterError
from .combinatorics import (
    _check_n,
    _check_q,
    _log_binom,
    _log_degeneracies,
    _log_multiplet_weights,
    _logsumexp,
)
from .long_time import _ladder_log_norm, _u_of_x

__all__ = ["certified_coherence_l1"]


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
#     g(i) = C(N-kk, i) h_i,   h_i = sum_l C(kk-l, i-l) y_l,   y_l = (-1)^l M_l / C(N-kk, l),
#
# which is a Taylor shift: with Yrev(s) = sum_l y_l s^(kk-l), h_i is the coefficient of t^(kk-i) of Yrev(t+1).
# The moments are exact integers once b_j is scaled to B_j = floor(2^s b_j); y_l is floored at a per-sector
# scale 2^p (its error bounded by Vandermonde, see _sector_abs_sum) and the shift is exact. (Exact rationals
# need the factorials l! (N-kk-l)!, 5x the bits of the moments at N = 1000: the old path, 4x slower.) For the
# long-time state q_{j,k} = a_j x^k with a_j independent of k, so the moments of every sector are
# prefix sums over j: O(N^2) big-integer operations in total plus one fast Taylor shift (FLINT) per
# sector, instead of the O(N^3) of the baseline recurrence. A generic q uses one FLINT matrix product
# M = T B (all sectors at once).
#
# Why the bound is rigorous. Besides the fixed-point y_l (bounded exactly per sector), the only error is
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
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # j > k: d_J > C(N,k), -inf below
        c_minus_1 = lc + np.log1p(-np.exp(-lc))
        ratio_minus_1 = (lc - ld) + np.log1p(-np.exp(ld - lc))
    out = 0.5 * (c_minus_1 + ratio_minus_1)
    return np.where(np.isnan(out), -np.inf, out)


def _sector_abs_sum(n: int, kk: int, moments: list, p: int, row_sum, binom_n1: int):
    r"""Fixed-point :math:`2^p \sum_{i=1}^{kk} |g(i)|` of one sector from its Hahn moments :math:`M_0..M_{kk}`.

    With :math:`C(a,i)C(i,l) = C(a,l)C(a-l,i-l)` the Hahn form reads :math:`g(i) = \binom{N-kk}{i} h_i`,
    :math:`h_i = \sum_l \binom{kk-l}{i-l} y_l`, :math:`y_l = (-1)^l M_l / \binom{N-kk}{l}`: a Taylor shift
    of y. The y_l are floored at scale :math:`2^p` (error in [0, 1) each), the shift is exact, so
    :math:`2^p h_i - H_i \in [0, \sum_l \binom{kk-l}{i-l}] = [0, \binom{kk+1}{i})` and by Vandermonde

    .. math::

        \Big|2^p\sum_{i\ge1}|g(i)| - \sum_{i\ge1}\binom{N-kk}{i}|H_i|\Big| \le \binom{N+1}{kk+1} - 1.

    Integers of the size of the moments plus p bits, instead of the exact rationals' factorials
    (5x wider at N = 1000). Returns ``(G, E)`` with that sum and the bound E (ints). ``row_sum`` is the exact
    :math:`B_0\binom N{kk}` = :math:`\sum_i g(i)` (Eberlein row sums), checked within the same bound: a
    bookkeeping error would show. ``binom_n1`` is :math:`\binom{N+1}{kk+1}` (callers keep it incrementally).
    """
    flint = _flint()
    fmpz = flint.fmpz
    m = n - kk
    num_shift, den_shift = max(p, 0), max(-p, 0)
    binom = fmpz(1) << den_shift  # C(N - kk, l) 2^max(-p, 0)
    y = []
    for l in range(kk + 1):
        v = fmpz(int(moments[l])) << num_shift
        y.append((v if l % 2 == 0 else -v) // binom)
        binom = binom * (m - l) // (l + 1)
    shifted = flint.fmpz_poly(y[::-1])(flint.fmpz_poly([1, 1])).coeffs()  # Taylor shift s -> s + 1
    shifted = [fmpz(0)] * (kk + 1 - len(shifted)) + shifted[::-1]  # shifted[i] = H_i
    total = fmpz(0)
    s_all = fmpz(0)
    binom = fmpz(1)  # C(N - kk, i)
    for i in range(kk + 1):
        term = binom * shifted[i]
        s_all += term
        if i:
            total += abs(term)
        binom = binom * (m - i) // (i + 1)
    total, s_all = int(total), int(s_all)
    err = binom_n1 - 1
    lo = s_all << den_shift
    hi = (s_all + err + 1) << den_shift
    target = int(row_sum) << num_shift
    if not lo <= target <= hi:
        raise RuntimeError(f"internal check failed: Eberlein row sums in sector {kk}")
    return total, err


def _arith_scale(lw: float, n: int, kk: int, log_target: float) -> int:
    r"""Smallest p with :math:`e^{lw}\binom{N+1}{kk+1}2^{-p} \le e^{\text{log\_target}}` (+2 bits for float logs)."""
    lc = float(_log_binom(n + 1, np.array([kk + 1]))[0])
    return int(math.ceil((lw + lc - log_target) / _ln2())) + 2


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
        # Within float range, log of the correctly rounded float: ~1e-16 relative. The mantissa/exponent
        # split below cancels digits (ln man ~ 88 against exp ln 2 for a 128-bit midpoint: 1e-14 in C).
        as_float = abs(float(mid))
        if 0.0 < as_float < math.inf:
            return math.log(as_float)
        man, exp = mid.man_exp()
        man = abs(int(man))
        shift = max(man.bit_length() - 60, 0)
        return math.log(man >> shift) + (int(exp) + shift) * math.log(2)
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
    # -inf only when both are -inf (an exact result); +inf (an input radius beyond float range) must stay.
    abs_log = -np.inf if log_bound == rad_log == -np.inf else float(np.logaddexp(log_bound, rad_log))
    if abs_log == -np.inf:
        rel = 0.0
    elif abs_log == np.inf:
        rel = np.inf  # an input radius beyond float range: nothing is certified (was reported as 0)
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
    # Each sector's fixed-point error (units 2^-s) gets 1/(4 jmax) of the unit-rounding bound U.
    log_share = log_unit - math.log(4.0 * jmax)
    # Cauchy-Schwarz upper bound of each sector pair's contribution, x^kk sum_j a_j beta_{j,kk} (float logs).
    sector_upper = lwk + _logsumexp_columns(np.where(mask & nonzero[:, None], la[:, None] + lbeta, -np.inf))

    def evaluate(s: int, computed: np.ndarray, log_skipped: float) -> _L1:
        """Sectors ``computed`` at scale 2^s; the others enter the bound with their upper bounds."""
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
        arith: list = []  # ln of each sector's fixed-point error bound (units 2^-s)
        binom_n, binom_n1 = 1, n + 1  # C(N, dd), C(N+1, dd+1) at dd = 0
        last = int(np.nonzero(computed)[0].max()) + 1 if computed.any() else 0
        with _ArbPrecision(128):
            xe = arb(x)
            for dd in tqdm(range(last + 1), desc="C_l1 sectors", disable=not progress, leave=False):
                moments.append(gmpy2.mpz(0))
                if big_a[dd]:
                    col = gmpy2.mpz(1)
                    moments[0] += big_a[dd]
                    for l in range(dd):
                        col = gmpy2.divexact(col * (dd - l) * (n + 1 - dd - l), (l + 1) ** 2)
                        moments[l + 1] += big_a[dd] * col
                if dd == 0:
                    continue
                binom_n = binom_n * (n - dd + 1) // dd  # C(N, dd)
                binom_n1 = binom_n1 * (n + 1 - dd) // (dd + 1)  # C(N+1, dd+1)
                if not computed[dd - 1]:
                    continue
                p = _arith_scale(float(lwk[dd - 1]), n, dd, log_share)
                g_abs, err_units = _sector_abs_sum(n, dd, moments, p, big_a[0] * binom_n, binom_n1)
                arith.append(float(lwk[dd - 1]) + math.log(err_units) - p * _ln2() if err_units else -np.inf)
                wk = xe**dd + (xe ** (n - dd) if n - dd != dd else 0)
                value_terms.append((wk * arb(2) ** (-p), g_abs))
        log_arith = _logsumexp(np.array(arith)) - s * _ln2() + math.log1p(_BOUND_MARGIN)
        return _finish(value_terms, s, _logsumexp(np.array([log_bound, log_arith, log_skipped])))

    def scale_for(log_value: float) -> int:
        return int(math.ceil((log_unit - target - log_value) / _ln2())) + 2

    # A rigorous lower bound from the dominant sector alone (cheap: one sector, prefix moments up to it). The
    # i = 1 bound above is far too low (e^6 against C_l1 ~ e^186 at N = 1000), which cost ~2x the bits.
    guess = low_log if np.isfinite(low_log) else log_unit - 64 * _ln2()  # no lower bound: assume 2^-64 U
    top = np.zeros(jmax, dtype=bool)
    top[int(np.argmax(sector_upper))] = True
    first = evaluate(scale_for(guess), top, -np.inf)
    if first.rel_bound < 1.0:
        value_log = first.log10 * math.log(10.0)
        low_log = max(low_log, value_log + math.log1p(-math.exp(first.log_abs_bound - value_log)))
    # Sectors whose upper bounds are negligible together (below rel_tol/8 of the lower bound) are bounded,
    # not computed (a third of the work at N = 4000, T = 1).
    computed = np.ones(jmax, dtype=bool)
    log_skipped = -np.inf
    if np.isfinite(low_log):
        budget = low_log + math.log(rel_tol) - math.log(8.0)
        for c in np.argsort(sector_upper):
            total = float(np.logaddexp(log_skipped, sector_upper[c]))
            if total > budget:
                break
            log_skipped, computed[c] = total, False
        log_skipped += math.log1p(_BOUND_MARGIN)
    s = scale_for(low_log if np.isfinite(low_log) else guess)
    return _refine(lambda s_: evaluate(s_, computed, log_skipped), s, rel_tol)


def _logsumexp_columns(a: np.ndarray) -> np.ndarray:
    """Column-wise log-sum-exp (-inf for an all -inf column)."""
    top = np.max(a, axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(top), safe + np.log(np.sum(np.exp(a - safe), axis=0)), -np.inf)


def certified_coherence_l1(n: int, q: ArrayLike, *, rel_tol: float = 1e-12) -> tuple[float, float]:
    r"""l1 coherence (2.7) of :math:`\rho = \sum_{j,k} (q_{j,k}/d_J)\Pi_{j,k}` with a certified error bound.

    .. math::

        C_{l1} = \sum_{k=1}^{N-1}\sum_{i=1}^{D_k}\Big|\sum_{j=0}^{D_k} q_{j,k} P_i(j)\Big|.

    Evaluated with exact integers after scaling q to :math:`\lfloor 2^s q\rfloor` (Hahn moments + Taylor
    shifts, see the module comments), s raised until the bound is below ``rel_tol`` (at most 6 passes);
    up to N = ``BALL_ENGINE_MAX_ATOMS`` as exact Eberlein matrices times arb balls (the same bound or tighter).

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
    n = _check_n(n)
    rel_tol = check_real("rel_tol", rel_tol, minimum=0.0, strict_min=True, maximum=1.0)
    q = _check_q(n, q)
    if q.dtype.kind in "fiu" and not np.all(np.isfinite(q)):
        raise ParameterError("Argument `q` must have finite entries, but has inf or nan.")
    if n <= BALL_ENGINE_MAX_ATOMS:
        return _certified_l1_balls(n, q, rel_tol)
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
    log_share = log_unit - math.log(4.0 * ks.size)  # each sector's fixed-point error: U / (4 #sectors)
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
        arith = []
        binom_n = [math.comb(n, k) for k in range(n + 1)]
        binom_n1 = [math.comb(n + 1, k) for k in range(n + 2)]
        for c, k in enumerate(ks):
            kk = int(dk[c])
            p = _arith_scale(0.0, n, kk, log_share)
            moments = [mom[l, c] for l in range(kk + 1)]
            g_abs, err_units = _sector_abs_sum(n, kk, moments, p, int(bmat[0, c]) * binom_n[k], binom_n1[kk + 1])
            arith.append(math.log(err_units) - p * _ln2() if err_units else -np.inf)
            value_terms.append((flint.arb(2) ** (-p), g_abs))
        log_arith = _logsumexp(np.array(arith)) - s * _ln2() + math.log1p(_BOUND_MARGIN)
        return _finish(value_terms, s, float(np.logaddexp(log_bound, log_arith)))

    return _refine(evaluate, s, rel_tol)


# ----------------------------------------------------------------------------------------- small N: balls
# Up to this N the generic C_l1 is one exact-integer Eberlein matrix per sector times the q balls (arb_mat, C
# speed): ~1 ms per time at N = 40 instead of ~10 ms of per-entry big-integer work. Beyond it the matrices
# (O(N^3) entries in all, built in O(N^4)) cost more than the Taylor shifts.
BALL_ENGINE_MAX_ATOMS = 64


@lru_cache(maxsize=8)
def _eberlein_matrices(n: int) -> tuple:
    r"""Per kk = 1..N/2 the exact :math:`E[i, j] = P_i(j)` (i, j = 0..kk) as fmpz_mat, from the Hahn form
    :math:`E = \mathrm{diag}\binom{N-kk}{i}\, S\, D\, T` (S: Taylor shift, D: the signs over
    :math:`\binom{N-kk}{l}`, T: the Hahn moments; see the comments at the top). Checked: the row i = 0 is
    :math:`P_0 = 1` and the column sums are the Eberlein row sums :math:`\binom N{kk}\delta_{j0}`."""
    flint = _flint()
    out = [None]
    for kk in range(1, n // 2 + 1):
        size = kk + 1
        left = flint.fmpq_mat(size, size)
        for i in range(size):
            for l in range(i + 1):
                left[i, l] = flint.fmpq(math.comb(n - kk, i) * math.comb(kk - l, i - l) * (-1) ** l, math.comb(n - kk, l))
        tmat = flint.fmpq_mat(size, size)
        for l in range(size):
            for j in range(size):
                tmat[l, j] = math.comb(j, l) * math.comb(n + 1 - j, l)
        prod = left * tmat
        mat = flint.fmpz_mat(size, size)
        for i in range(size):
            for j in range(size):
                v = prod[i, j]
                if v.q != 1 or (i == 0 and v != 1):
                    raise RuntimeError(f"internal check failed: Eberlein matrix N = {n}, kk = {kk}")
                mat[i, j] = v.p
        for j in range(size):
            if sum(int(mat[i, j]) for i in range(size)) != (math.comb(n, kk) if j == 0 else 0):
                raise RuntimeError(f"internal check failed: Eberlein column sums N = {n}, kk = {kk}")
        out.append(mat)
    return tuple(out)


def _as_arb(value):
    """An arb ball containing ``value`` (int, float, Fraction, Decimal or arb) at the working precision."""
    flint = _flint()
    if isinstance(value, flint.arb):
        return value
    if isinstance(value, (float, np.floating)):
        return flint.arb(float(value))  # exact
    fr = Fraction(value)
    return flint.arb(flint.fmpq(fr.numerator, fr.denominator))


def _certified_l1_balls(n: int, q: np.ndarray, rel_tol: float) -> _L1:
    r"""Generic certified C_l1 at small N: per sector :math:`g = E\,b` in ball arithmetic, summed as
    :math:`\sum_k\sum_{i\ge1}|g_k(i)|`. E is exact, so the result's radius is the input radii carried
    through (at most the Cauchy-Schwarz bound of the integer engine: :math:`\sum_{i\ge1}|P_i(j)|\le\beta_{j,k}`)
    plus arb's rounding at the working precision, which is raised until the bound meets ``rel_tol``."""
    flint = _flint()
    ks = np.arange(1, n)
    if ks.size == 0:
        return _zero_l1()
    mats = _eberlein_matrices(n)
    entries = q.tolist()
    cols = {}  # kk -> the b vectors of the sectors k = kk and N - kk
    for k in ks:
        kk = int(min(k, n - k))
        cols.setdefault(kk, []).append([entries[j][k] for j in range(kk + 1)])
    arb = flint.arb
    for kk, vecs in cols.items():  # as balls once (exact for floats, ints and arb; fmpq rounded at 2^-256)
        with _ArbPrecision(256):
            for c, vec in enumerate(vecs):
                if all(type(v) is arb for v in vec):  # noqa: E721 - the common case (enclosures), no conversion
                    continue
                k = kk if c == 0 else n - kk
                for j, v in enumerate(vec):
                    if type(v) is arb:  # noqa: E721 - a ball is taken as given (an infinite one certifies nothing)
                        continue
                    try:
                        vec[j] = _as_arb(v)
                    except (TypeError, ValueError, OverflowError):
                        vec[j] = None
                    if vec[j] is None or not vec[j].is_finite():
                        raise ParameterError(f"Argument `q` must have finite real entries, but q[{j}, {k}] = {v!r}.")

    def evaluate(extra: int) -> _L1:
        with _ArbPrecision(extra):
            total = flint.arb(0)
            for kk, vecs in cols.items():
                bmat = flint.arb_mat(len(vecs), kk + 1, [v for vec in vecs for v in vec]).transpose()
                g = (flint.arb_mat(mats[kk]) * bmat).entries()
                for e in g[len(vecs) :]:  # rows i >= 1 (row-major)
                    total += abs(e)
            if not total.is_finite():
                return _L1(np.nan, np.inf, np.inf, total)  # an infinite input ball: nothing is certified
            return _finish([(total, 1)], 0, -np.inf)

    # Working precision: arb rounds each sum to ~2^-prec of sum |E b|, so the cancellation (that sum over the
    # value, first guessed as 2^64) plus the requested digits; _refine adds the missing bits while the bound
    # is rounding- rather than input-dominated.
    prec = int(math.ceil(-math.log(rel_tol) / _ln2())) + 64 + 2 * n.bit_length()
    return _refine(evaluate, max(prec, 64), rel_tol)


def _l1_fields(res: _L1, extra_log_bound: float = -np.inf) -> tuple[float, float, float, float]:
    """(log10 value, value, absolute bound, relative bound) as floats (inf on overflow). The bounds cover the
    reported float itself: the ball's midpoint rounded to float64 (or 10^log10 where there is no ball), not only
    the ball's width (a new user found 594503458.2862327 reported with a bound 2.9e-16 from a midpoint 1.6e-6
    away)."""
    log_abs = np.logaddexp(res.log_abs_bound, extra_log_bound)
    log10_v = res.log10
    if res.ball is not None and log10_v < 308 and np.isfinite(log10_v):
        value = float(res.ball.mid())  # nearest float of the midpoint: relative error <= u
        float_rel = _FLOAT_EPS
    else:
        value = 10.0**log10_v if log10_v < 308 else np.inf
        float_rel = _float_rounding(log10_v * math.log(10.0))
    with np.errstate(over="ignore"):
        abs_bound = float(np.exp(log_abs)) if np.isfinite(log_abs) else 0.0
    if log_abs == -np.inf:
        rel = 0.0
    elif log_abs == np.inf:
        rel = np.inf
    elif not np.isfinite(log10_v) or log_abs >= log10_v * math.log(10.0):
        rel = np.inf
    else:
        r = math.exp(log_abs - log10_v * math.log(10.0))
        rel = r / (1.0 - r)
    return _with_float_rounding(log10_v, value, abs_bound, rel, float_rel)


# Unit roundoff with a factor 2 to spare (float(), 10**x and log10 each round once to nearest).
_FLOAT_EPS = 2.0 * 2.0**-53


def _float_rounding(ln_value: float) -> float:
    """Relative error of 10**log10 as a float for a value e^ln_value: log10 carries ~u |log10| absolute error,
    which 10** turns into relative error (plus its own rounding)."""
    return _FLOAT_EPS * (2.0 + abs(ln_value)) if np.isfinite(ln_value) else 0.0


def _with_float_rounding(log10_v, value, abs_bound, rel, float_rel):
    """The fields with the reported float's own rounding added to both bounds (an exact zero stays exact)."""
    if value == 0.0 or not np.isfinite(rel):
        return log10_v, value, abs_bound, rel
    if np.isfinite(value):
        abs_bound = abs_bound + float_rel * value
    return log10_v, value, abs_bound, rel + float_rel * (1.0 + rel)

