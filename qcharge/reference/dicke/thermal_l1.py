r"""Certified finite-time C_l1 from product thermal initial states (docs/physics.md §2.7-2.8).

The sum (2.7) cancels massively (beyond 1e16 from N ~ 60), so the block probabilities
:math:`q_{j,k}(t)` must be known as rigorous enclosures to the absolute accuracy
:math:`\sim \epsilon\, C_{l1}/\beta_{j,k}` the certified engine (:mod:`.certified_l1`) asks for. They are
handed to it as arb balls (midpoint + radius); two ways to get them, chosen per time and per multiplet
(each chain gets an equal share of the allowed error and takes the cheaper route that meets it):

* **Uniformisation in exact integers** (chains not yet relaxed). With
  :math:`\lambda = \max_m(\text{up}_m + \text{down}_m)` of the chain,
  :math:`e^{Gt} = \sum_n \mathrm{Pois}(n;\lambda t) P^n`, :math:`P = I + G/\lambda`, a non-negative
  column-stochastic matrix with *integer* entries after scaling by the denominator of the binary
  :math:`\bar n` (``A = lambda' I + 2^e G``). The vectors :math:`y_n \approx 2^s P^n q(0)` are integers,
  ``y_{n+1} = (A y_n) // lambda'``: each floor errs by < 1 per entry, and P is non-expansive in l1, so
  :math:`\|y_n - 2^s P^n q(0)\|_1 \le E_0 + nL` (E_0: the initial rounding). The Poisson weights are
  arb balls floored to integers (their error enters), the tail beyond the last term is bounded by its
  rigorous mass times the chain weight. Cost: (#terms ~ λt) x L big-integer operations per chain, so
  the work per time is capped (``budget_s``). Why not an ODE enclosure or arb matrices:
  the non-negative iteration has no cancellation, so plain floors give a rigorous bound with no
  wrapping effect, and exact integers let numpy's object arrays run the loop (arb would need one
  Python object per entry and operation; a dense arb matrix exponential costs O(L^3) per chain).
* **Spectral relaxation bound** (late times). Each chain is reversible with respect to
  :math:`\pi_m \propto x^m`, so :math:`S = R^{-1}GR` is symmetric with eigenvalues
  :math:`0 > -g_2 \ge \dots`; in the :math:`\pi^{-1}`-weighted norm
  :math:`\|q(t) - P_J\pi\| \le e^{-g t}\sqrt{\sum_m q_m(0)^2/\pi_m - P_J^2} =: D`, hence
  :math:`|q_m(t) - P_J\pi_m| \le \sqrt{\pi_m}\,D` for any certified :math:`g \le g_2`. g is a float
  estimate of the gap checked rigorously by Sylvester's inertia (the LDL^T pivots of :math:`S + gI`
  in arb, exactly one positive). The midpoints are the exact long-time :math:`q_{j,k}(\infty)` (2.1).
  Large chains relax first (gap ~ L), short ones are cheap to uniformise, so the mix covers late times.

* **Dense arb exponential** (short chains, L <= ``_EXPM_MAX_LENGTH``): :math:`e^{tG}q(0)` with FLINT's
  rigorous arb_mat.exp where it is cheaper than the Poisson-term loop; its radii are the bound.

* **Slow-mode enclosure** (intermediate times, long chains; :mod:`.slow_modes`): the r slowest modes
  (r <= ``MAX_MODES``) from high-precision inverse iteration, a Rayleigh-Ritz solution in ball arithmetic,
  and a rigorous a-posteriori bound (residual, Davis-Kahan angle, certified cut :math:`e^{-g t}`). It is
  the general form of the relaxation bound (r = 1) and covers e.g. N = 500-1000 at :math:`\gamma t = 0.1`.

A time where none applies within budget gets ``None`` (the caller prints an uncertified estimate).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .certified_l1 import _ArbPrecision, _certified_l1_generic, _flint, _log_beta, _logsumexp, _scaled_floor
from .combinatorics import _log_degeneracies, _poisson_terms

__all__ = ["thermal_l1_certified", "DEFAULT_BUDGET_S"]

# The certified evaluation of one time is planned before any work and refused (the caller's estimate) when
# it would exceed ``budget_s`` CPU seconds. Seconds per planned unit (this 2-core x86 machine):
_UNIFORM_STEP_S = 1e-6  # one (Poisson term x chain entry) big-integer step: 0.6-0.9 us measured at N = 1000
# slow-mode work is planned in the same units (_slow_mode_work: microseconds, fitted)
_SLOW_UNIT_S = _UNIFORM_STEP_S
_EVALUATION_S_AT_1000 = 22.0  # the certified sum (2.7) of the enclosure, ~N^3: 22 s at N = 1000, 2.2 s at 500
# Default budget per time (also the ground / excited uniformisation's, .symmetric_l1): from T0 = 0.5 to T = 1,
# N = 200-300 at any t, N = 500 except gamma t ~ 0.003-0.03, N = 1000 from gamma t ~ 0.3 on.
DEFAULT_BUDGET_S = 60.0
# The relaxation bound is used once it is below this fraction of the requested bound (it then costs
# nothing in accuracy); the uniformisation otherwise.
_RELAX_SHARE = 0.25
# Uniformisation is preferred while its planned steps per chain entry stay below this (a slow-mode
# enclosure costs ~ sweeps x r mpfr operations per entry plus its arb checks).
_SLOW_MODE_BREAK_EVEN = 400.0
# Chains' Krylov vectors are kept across times while (terms x entries) stays below this (~10-20 MB of ints).
_KRYLOV_CACHE_MAX_ENTRIES = 2e5
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


@lru_cache(maxsize=4)
def _log_beta_all(n: int) -> np.ndarray:
    """:func:`.certified_l1._log_beta` over all k = 0..N, once per N (read-only)."""
    out = _log_beta(n, np.arange(n + 1))
    out.setflags(write=False)
    return out


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


# ----------------------------------------------------------------------------------------- uniformisation
def _terms_estimate(mu: float, length: int, log_target: float) -> float:
    """Poisson terms planned for one chain: a tail below e^{-c}, c = -log_target + ln L + 10 (planning only:
    the loop stops on the rigorous arb tail)."""
    c = max(-log_target, 0.0) + math.log(length) + 10.0
    return float(_poisson_terms(mu, -c)[0])


class _KrylovCache:
    r"""One chain's integer Krylov vectors :math:`y_n \approx 2^s P^n q(0)` (``y_{n+1} = (A y_n) // lambda'``),
    kept across times: they do not depend on t, only the Poisson weights do. Rebuilt when a time asks for
    more bits than ``s`` (with 16 bits to spare, so later times reuse it); extended term by term. With
    ``keep=False`` only the latest vector is held (sequential access: the uncached route, no memory)."""

    def __init__(self, length: int, nbar: float, q0: list, s: int, keep: bool = True) -> None:
        num, den = _rational(nbar)
        m = range(length)
        up = [num * (mm + 1) * (length - 1 - mm) for mm in m]  # den x rate m -> m+1
        down = [(num + den) * mm * (length - mm) for mm in m]  # den x rate m -> m-1
        self.lam, self.den, self.s = max(u + d for u, d in zip(up, down)), den, int(s)
        self.diag = np.array([self.lam - u - d for u, d in zip(up, down)], dtype=object)
        self.sub = np.array(up[:-1], dtype=object)  # A[i+1, i]
        self.sup = np.array(down[1:], dtype=object)  # A[i, i+1]
        y = np.empty(length, dtype=object)
        self.e0 = 0.0
        for i, v in enumerate(q0):
            y[i], e = _scaled_floor(v, self.s)
            self.e0 += e
        self.ys, self.top, self.keep = [y], 0, keep

    def vector(self, n_term: int) -> np.ndarray:
        """y_n (n_term >= the last one asked for, unless kept)."""
        while self.top < n_term:
            y = self.ys[-1]
            nxt = self.diag * y
            nxt[1:] += self.sub * y[:-1]
            nxt[:-1] += self.sup * y[1:]
            self.ys.append(nxt // self.lam)
            if not self.keep:
                del self.ys[0]
            self.top += 1
        return self.ys[n_term if self.keep else n_term - self.top - 1]


def _chain_uniformised(
    length: int, nbar: float, q0: list, gamma_t: float, log_target: float, max_work: float, cache: dict | None = None
):
    r"""One chain's q(gamma t) by integer uniformisation: (midpoints as arb, one radius for all entries,
    work), the radius about :math:`e^{\text{log\_target}}` (absolute, per entry); None if over ``max_work``.
    ``cache`` (a dict, filled on first use): this chain's :class:`_KrylovCache`, shared by the times."""
    arb = _flint().arb
    num, den = _rational(nbar)
    lam = max(num * (mm + 1) * (length - 1 - mm) + (num + den) * mm * (length - mm) for mm in range(length))
    mu_f = lam / den * gamma_t
    k_est = _terms_estimate(mu_f, length, log_target)
    if k_est * length > max_work:
        return None
    # Fixed-point scale: the l1 rounding error after K steps is <= E0 + K L in units of 2^-s.
    s = int(math.ceil((-log_target + math.log(k_est * length + length)) / math.log(2.0))) + 8
    if cache is not None and k_est * length > _KRYLOV_CACHE_MAX_ENTRIES:
        cache = None  # too many vectors to hold: the sequential route
    krylov = cache.get("krylov") if cache is not None else None
    if krylov is None or krylov.s < s:
        krylov = _KrylovCache(length, nbar, q0, s + (16 if cache is not None else 0), keep=cache is not None)
        if cache is not None:
            cache["krylov"] = krylov
    s = krylov.s  # a larger s only tightens the bound below
    e0 = krylov.e0
    s_w = s + 16
    prec = s_w + 64
    with _ArbPrecision(prec):
        mu = arb(lam) / den * arb(gamma_t)  # exact: gamma_t and nbar are binary numbers
        w = (-mu).exp()
        cum = arb(0)
        acc = np.zeros(length, dtype=object)
        werr = 0.0  # sum of the weight floors' errors (units 2^-s_w)
        wsum = 0  # sum of the integer weights W_n
        wnl = 0  # sum of W_n * n
        n_term = 0
        tail_target = arb(math.exp(log_target)) / 4
        total = sum(q0, arb(0)).upper()
        while True:
            big_w, ew = _scaled_floor(w, s_w)
            if big_w:
                acc += big_w * krylov.vector(n_term)
            werr += ew
            wsum += big_w
            wnl += big_w * n_term
            cum += w
            if n_term > mu_f and ((1 - cum) * total).upper() < tail_target:
                break
            if n_term > 4 * k_est + 100:
                return None
            n_term += 1
            w = w * mu / n_term
        tail = (1 - cum).upper()
        scale = arb(2) ** (-(s + s_w))
        # Per entry: sum_n W_n (E0 + n L) + werr 2^s total, in units 2^-(s + s_w); + tail * total.
        units = arb(wsum) * arb(e0) + arb(wnl) * length + arb(werr) * arb(2) ** s * total
        radius = (units * scale + tail * total).upper()
        values = [arb(int(v)) * scale for v in acc]
    return values, radius, n_term * length


# ----------------------------------------------------------------------------------------- dense arb exponential
# Short chains: FLINT's rigorous dense arb matrix exponential (C speed, O(L^3)) instead of the Poisson-term
# loop; ~0.1 ms at L = 3, ~1-2 ms at L = 11, ~5-10 ms at L = 21 (200-400 bits).
_EXPM_MAX_LENGTH = 21


def _expm_work(length: int) -> float:
    """Cost of one dense arb exponential in uniformisation-step units (~3 us): fitted L = 3, 11, 21."""
    return 30.0 + 0.5 * float(length) ** 3


def _chain_expm(length: int, nbar: float, q0: list, gamma_t: float, log_target: float) -> list:
    r"""One chain's q(gamma t) = :math:`e^{tG}q(0)` as arb balls (their radii are the rigorous error: the
    rates are exact rationals in arb, arb_mat.exp bounds its truncation), at a precision for absolute
    errors about :math:`e^{\text{log\_target}}`."""
    flint = _flint()
    arb = flint.arb
    num, den = _rational(nbar)
    prec = max(128, int(math.ceil(-log_target / math.log(2.0))) + 96)
    with _ArbPrecision(prec):
        nb = arb(num) / den
        ht = arb(gamma_t)  # exact (a binary number)
        gen = flint.arb_mat(length, length)
        for m in range(length):
            up, down = nb * ((m + 1) * (length - 1 - m)), (nb + 1) * (m * (length - m))
            gen[m, m] = -(up + down) * ht
            if m + 1 < length:
                gen[m + 1, m] = up * ht
            if m:
                gen[m - 1, m] = down * ht
        qt = gen.exp() * flint.arb_mat([[v] for v in q0])
        return [qt[m, 0] for m in range(length)]


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


def _chain_relaxed(length: int, xe, q0: list, gap: float, gamma_t: float, cache: dict | None = None):
    r"""One chain's q(gamma t) as (midpoints :math:`P_J\pi_m`, radii :math:`\sqrt{\pi_m} D`) in arb.

    ``cache`` (a dict, filled on first use): the time-independent midpoints, :math:`\sqrt{\pi_m}` and
    :math:`\chi`, reused by later times at the same or a lower working precision (balls stay balls)."""
    flint = _flint()
    arb = flint.arb
    if length == 1:
        return [q0[0]], [0]
    if cache is None or cache.get("prec", -1) < flint.ctx.prec:
        total = sum(q0, arb(0))
        norm = (1 - xe) / (1 - xe**length)
        pis = [norm * xe**mm for mm in range(length)]
        chi = sum((c * c / p for c, p in zip(q0, pis)), arb(0)) - total * total
        chi = arb(chi.upper()) if chi.upper() > 0 else arb(0)
        fresh = {"prec": flint.ctx.prec, "mids": [total * p for p in pis], "roots": [p.sqrt() for p in pis],
                 "chi": chi.sqrt()}
        if cache is None:
            cache = fresh
        else:
            cache.update(fresh)
    dist = cache["chi"] * (arb(-gap) * arb(gamma_t)).exp() if gap > 0 else arb("inf")
    return cache["mids"], [(r * dist).upper() for r in cache["roots"]]


def _log_relax_terms(n: int, x: float, pe0: float, gamma_t: float, gaps: list) -> np.ndarray:
    r"""Per chain a float estimate of ln :math:`\sum_k\sqrt{\pi_m}D_j\beta_{j,k}` (to choose its route)."""
    return _log_relax_base(n, x, pe0, tuple(gaps)) - np.asarray(gaps, dtype=float) * gamma_t


@lru_cache(maxsize=4)
def _log_relax_base(n: int, x: float, pe0: float, gaps: tuple) -> np.ndarray:
    """:func:`_log_relax_terms` at t = 0 (its only time dependence is -g_j t): computed once per solve."""
    from .combinatorics import _log_multiplet_weights
    from .long_time import _ladder_log_norm, _u_of_x

    u = _u_of_x(x)
    jmax = n // 2
    lbeta = _log_beta_all(n)
    lp = _log_multiplet_weights(n, pe0)
    ld = _log_degeneracies(n)
    lpe = math.log(pe0) if pe0 > 0 else -np.inf
    lpg = math.log1p(-pe0) if pe0 < 1 else -np.inf
    out = np.full(jmax + 1, -np.inf)
    for j in range(jmax + 1):
        length = n - 2 * j + 1
        if length == 1 or not np.isfinite(lp[j]):
            continue
        if gaps[j] <= 0:
            out[j] = np.inf
            continue
        mm = np.arange(length)
        lpi = _ladder_log_norm(np.array([length]), u)[0] - u * mm
        k = j + mm
        # 0^0 = 1: the terms with exponent 0 contribute 0 (not 0 * -inf).
        with np.errstate(invalid="ignore"):
            lq0 = ld[j] + np.where(k > 0, k * lpe, 0.0) + np.where(n - k > 0, (n - k) * lpg, 0.0)
        lchi = _logsumexp(2 * lq0 - lpi)  # upper bound of chi^2 + P_J^2 (the subtraction only helps)
        out[j] = _logsumexp(0.5 * lpi + lbeta[j, j : j + length]) + 0.5 * lchi
    out.setflags(write=False)
    return out


def _slow_mode_logs(n: int, x: float, pe0: float, j: int, lbeta: np.ndarray) -> tuple[float, float]:
    r"""Float estimates for chain j with :math:`\pi_m = x^m`: (ln :math:`\|h_0\|_\pi`, ln :math:`\sum_m\sqrt{\pi_m}\beta_{j,j+m}`)."""
    from .long_time import _u_of_x

    u = _u_of_x(x)
    length = n - 2 * j + 1
    mm = np.arange(length)
    k = j + mm
    ld = _log_degeneracies(n)[j]
    lpe = math.log(pe0) if pe0 > 0 else -np.inf
    lpg = math.log1p(-pe0) if pe0 < 1 else -np.inf
    with np.errstate(invalid="ignore"):
        lq0 = ld + np.where(k > 0, k * lpe, 0.0) + np.where(n - k > 0, (n - k) * lpg, 0.0)
    return 0.5 * _logsumexp(2 * lq0 + u * mm), _logsumexp(-0.5 * u * mm + lbeta[j, j : j + length])


def _uniformisation_work(length: int, nbar: float, gamma_t: float, log_target: float) -> float:
    """Planned big-integer steps of one chain's uniformisation (lambda ~ L^2 (2 nbar + 1) / 4)."""
    mu = (2.0 * nbar + 1.0) * float(length) ** 2 / 4.0 * gamma_t
    return _terms_estimate(mu, int(length), log_target) * float(length)


def _slow_mode_work(length: int, modes: int) -> float:
    """Planned cost of one slow-mode enclosure in uniformisation steps (microseconds). Fitted on 806 enclosures
    (N = 200-1000, gamma t = 0.03-0.1, r <= 26: per time 1.1-2.6x the measured) with the large-r point L = 501,
    r = 151: 14 s (13 s planned); the r L and L terms carry a 1.5x margin."""
    return 1.5 * (12.9 * modes * length + 44.9 * length) + 1.0 * modes**2 * length


def _enclosure(n, x, nbar, pe0, gamma_t, log_allowed, gaps, q0, lbeta_chain, budget_s, krylovs=None):
    """(q(gamma t) as an object array of arb balls, each chain by its cheapest route, or None when the plan
    exceeds ``budget_s``; the plan's CPU seconds).
    ``krylovs``: a dict j -> that chain's uniformisation cache (see :class:`_KrylovCache`), ("relax", j) -> its
    relaxation-bound parts, shared by the times.

    Routes per chain: the relaxation bound where it is already negligible; else integer uniformisation
    where it is cheap (short chains, early times; chains up to ``_EXPM_MAX_LENGTH`` take the dense arb
    exponential where that is cheaper and meets the chain's share of the error); else the slow-mode
    enclosure (:mod:`.slow_modes`) where at most ``MAX_MODES`` modes carry the populations; else
    uniformisation within the work budget.
    """
    from .slow_modes import MAX_MODES, chain_slow_modes, slow_mode_count

    flint = _flint()
    starts, lengths, _m = _chain_layout(n)
    relax = _log_relax_terms(n, x, pe0, gamma_t, gaps)
    active = [j for j in range(n // 2 + 1) if np.isfinite(lbeta_chain[j])]
    log_share = log_allowed - math.log(max(len(active), 1))  # each chain's part of the allowed error
    lbeta = _log_beta_all(n)
    num, den = _rational(nbar)
    q = np.empty((n // 2 + 1, n + 1), dtype=object)
    q[:] = flint.arb(0)
    routes: list = []
    for j, length in enumerate(lengths):
        if lengths[j] == 1 or relax[j] < log_share + math.log(_RELAX_SHARE):
            routes.append(("relax",))
            continue
        work_u = _uniformisation_work(length, nbar, gamma_t, log_share - lbeta_chain[j])
        slow = None
        if work_u > _SLOW_MODE_BREAK_EVEN * length:
            log_h0, log_sum = _slow_mode_logs(n, x, pe0, j, lbeta)
            log_e = log_share - log_sum  # pi-norm error of this chain
            plan = slow_mode_count(int(length), nbar, gamma_t, log_h0 - log_e + math.log(8.0))
            if plan is not None and plan[0] <= MAX_MODES:
                slow = ("slow", plan, log_e, _slow_mode_work(int(length), plan[0]))
        routes.append(("uniform", work_u, slow))
    # Each chain the cheaper of the two; if together they exceed the budget, every chain with a slow-mode
    # plan takes it instead; refuse before any work when the plan still exceeds it.
    routes = [r[2] if r[0] == "uniform" and r[2] is not None and r[2][3] < r[1] else r for r in routes]
    max_uniform = budget_s / _UNIFORM_STEP_S

    def planned_s(rs) -> float:
        return _EVALUATION_S_AT_1000 * (n / 1000.0) ** 3 + sum(r[1] for r in rs if r[0] == "uniform") * _UNIFORM_STEP_S + sum(
            r[3] for r in rs if r[0] == "slow") * _SLOW_UNIT_S

    if planned_s(routes) > budget_s:
        fallback = [r[2] if r[0] == "uniform" and r[2] is not None else r for r in routes]
        if planned_s(fallback) > budget_s:
            # refused: say the smallest budget that one of the two plans fits (the note quotes it)
            return None, min(planned_s(routes), planned_s(fallback))
        routes = fallback
    work = 0.0
    with _ArbPrecision(int((lbeta_chain.max() - log_allowed) / math.log(2.0)) + 160):
        # The chains' stationary ratio is nbar/(nbar+1) of the binary nbar the rates are built from; the
        # float x differs from it in the last bit, which the cancellation in (2.7) would magnify.
        xe = flint.arb(num) / (num + den)
        for j, (a, length) in enumerate(zip(starts, lengths)):
            chain = q0[a : a + length]
            route = routes[j]
            got = None
            if route[0] == "uniform" and length <= _EXPM_MAX_LENGTH and route[1] > _expm_work(int(length)):
                balls = _chain_expm(int(length), nbar, chain, gamma_t, log_share - lbeta_chain[j])
                rads = np.array([float(b.rad()) for b in balls]) * (1.0 + 1e-12)  # float of a radius: 1 rounding
                with np.errstate(divide="ignore"):
                    spent = _logsumexp(np.log(rads) + lbeta[j, j : j + length])
                if spent <= log_share:  # within this chain's share (else: the uniformisation below)
                    route = ("expm",)
                    values, radii = balls, [0] * int(length)
            if route[0] == "relax":
                values, radii = _chain_relaxed(
                    int(length), xe, chain, gaps[j], gamma_t, None if krylovs is None else krylovs.setdefault(("relax", j), {})
                )
            elif route[0] == "slow":
                got = chain_slow_modes(int(length), nbar, chain, gamma_t, route[2], route[1])
                if got is not None:
                    values, radii = got
            if route[0] == "uniform" or (route[0] == "slow" and got is None):
                got = _chain_uniformised(
                    int(length), nbar, chain, gamma_t, log_share - lbeta_chain[j], max_uniform - work,
                    None if krylovs is None else krylovs.setdefault(j, {}),
                )
                if got is None:
                    return None, planned_s(routes)
                values, radius, used = got
                work += used
                radii = [radius] * int(length)
            for mm in range(length):
                v = values[mm]
                q[j, j + mm] = v + flint.arb(0, radii[mm]) if radii[mm] else v
    return q, planned_s(routes)


# ----------------------------------------------------------------------------------------- entry point
def thermal_l1_certified(
    n: int, x: float, nbar: float, pe0: float, gamma_t, rel_tol: float, log_guess, progress: bool = False,
    budget_s: float = DEFAULT_BUDGET_S, planned: list | None = None,
) -> list:
    r"""Certified C_l1 at each :math:`\gamma t > 0` from a product thermal state, or None per time.

    Args:
        n: atoms; x, nbar: bath (:math:`x = \bar n/(\bar n+1)`, :math:`0 < \bar n < \infty`); pe0: initial
            excited probability; gamma_t: times; rel_tol: requested relative bound.
        log_guess: per time an estimate of :math:`\ln C_{l1}` (nan if unknown), to size the precision.
        progress: show a tqdm bar over the times.
        budget_s: CPU seconds one time may cost (planned before any work: N = 1000 at gamma t = 0.01 plans
            ~780 s and takes ~600 s, at 0.1 ~100 s); a time over it gets None at once.
        planned: if a list, the planned CPU seconds of each time are appended to it (to say what was refused).

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

    lbeta_all = _log_beta_all(n)
    log_unit = _logsumexp(np.where(np.isfinite(lbeta_all), lbeta_all, -np.inf))
    lbeta_chain = np.array([_logsumexp(row) for row in lbeta_all])
    gaps = [_certified_gap(n - 2 * j + 1, nbar) if n - 2 * j + 1 > 1 else 0.0 for j in range(n // 2 + 1)]
    q0 = None
    krylovs: dict = {}  # per chain its integer Krylov vectors, shared by all times
    out = []
    pairs = list(zip(np.asarray(gamma_t, dtype=float), log_guess))
    for h, guess in tqdm(pairs, desc="certified C_l1(t)", disable=not progress, leave=False):
        if not np.isfinite(guess):
            guess = log_unit - 64 * math.log(2.0)  # C_l1 >= 2^-64 x sum beta: a first guess, lowered below
        log_allowed = guess + math.log(rel_tol) - math.log(4.0)
        res = None
        for _attempt in range(3):
            prec = int((log_unit - log_allowed) / math.log(2.0)) + 192
            if q0 is None or q0[0] < prec:
                q0 = (prec, _initial_balls(n, pe0, prec))
            q, cost = _enclosure(n, x, nbar, pe0, float(h), log_allowed, gaps, q0[1], lbeta_chain, budget_s, krylovs)
            if q is None:
                res = None
                break
            res = _certified_l1_generic(n, q, rel_tol)
            if res.rel_bound <= rel_tol or not np.isfinite(res.log10):
                break
            # The guess was too high: lower the allowance by the missing digits (and some slack), at least
            # to the value just found (a heuristic size of C_l1(t); an infinite bound gave no digits to count:
            # without it N = 1000 repeated the all-relaxed evaluation three times, 80 s each).
            deficit = (math.log(res.rel_bound) - math.log(rel_tol)) if np.isfinite(res.rel_bound) else 64.0
            log_allowed = min(log_allowed - deficit, res.log10 * math.log(10.0) + math.log(rel_tol / 4.0)) - 4.0
        if res is not None and not res.rel_bound <= _ACCEPT:
            res = None  # a bound that does not pin the value down certifies nothing: the caller estimates
        out.append(res)
        if planned is not None:
            planned.append(cost)
    return out
