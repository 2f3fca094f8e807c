"""Certified finite-time C_l1 from product thermal states (qcharge.reference.dicke.thermal_l1)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from qcharge.params import Atoms, Bath, InitialState
from qcharge.reference.dicke import solve_dicke
from qcharge.reference.dicke.certified_l1 import _certified_l1_generic, _certified_l1_long_time, _log_beta, _logsumexp
from qcharge.reference.dicke.thermal_l1 import thermal_l1_certified
from qcharge.states import excited_probability

from .test_dicke import arb_to_fraction

# T = 1/ln 2 gives nbar = 1 and x = 1/2 exactly in binary: the rates and the long-time law (2.1) then come
# from the same rational numbers (for other T the float x and nbar/(nbar+1) differ in the last bit, which
# the cancellation in (2.7) magnifies to ~1e-12 at N = 40).
BATH = Bath(1.0 / math.log(2.0))
assert BATH.nbar == 1.0 and BATH.x == 0.5


def _taylor_q(n: int, nbar: float, pe0: float, t: float, terms: int):
    """q(t) = sum_{m <= terms} (tG)^m / m! q(0) in exact rationals, and a bound on the dropped tail (l1)."""
    nb, pe, tf = Fraction(nbar), Fraction(pe0), Fraction(t)
    pg = 1 - pe
    q = [[Fraction(0)] * (n + 1) for _ in range(n // 2 + 1)]
    norm = 0.0
    for j in range(n // 2 + 1):
        length = n - 2 * j + 1
        d = math.comb(n, j) - (math.comb(n, j - 1) if j else 0)
        up = [nb * (m + 1) * (length - 1 - m) for m in range(length)]
        down = [(nb + 1) * m * (length - m) for m in range(length)]
        norm = max(norm, 2.0 * float(max(u + dd for u, dd in zip(up, down))))  # ||G||_1
        term = [d * pe ** (j + m) * pg ** (n - j - m) for m in range(length)]
        acc = list(term)
        for i in range(1, terms + 1):
            nxt = [-(up[m] + down[m]) * term[m] for m in range(length)]
            for m in range(length - 1):
                nxt[m + 1] += up[m] * term[m]
                nxt[m] += down[m + 1] * term[m + 1]
            term = [v * tf / i for v in nxt]
            acc = [a + v for a, v in zip(acc, term)]
        for m in range(length):
            q[j][j + m] = acc[m]
    x = norm * t  # Taylor remainder of e^{tG} in l1: x^(K+1)/(K+1)! e^x (q(0) has unit l1 norm)
    log_tail = (terms + 1) * math.log(x) - math.lgamma(terms + 2) + x
    return q, log_tail


@pytest.mark.parametrize(("n", "t"), [(7, 0.05), (30, 0.01), (60, 0.002)])
def test_certified_against_exact_rational_taylor_series(n, t):
    # The truncated Taylor series in Fractions is exact up to a tail whose effect on C_l1 is at most
    # tail x sum beta (the engine's Cauchy-Schwarz bound); |certified - exact| must stay below the sum of
    # the reported bound, the reference engine's bound (rational inputs: the floor at scale 2^s) and that.
    pe0 = excited_probability(0.5)
    q, log_tail = _taylor_q(n, BATH.nbar, pe0, t, 90)
    ref = _certified_l1_generic(n, np.array(q, dtype=object), 1e-20)
    (res,) = thermal_l1_certified(n, BATH.x, BATH.nbar, pe0, [t], 1e-12, [math.nan])
    assert res is not None and res.rel_bound <= 1e-12
    log_unit = _logsumexp(_log_beta(n, np.arange(n + 1)))
    allowance = math.exp(res.log_abs_bound) + math.exp(ref.log_abs_bound) + math.exp(log_tail + log_unit)
    diff = abs(arb_to_fraction(res.ball) - arb_to_fraction(ref.ball))
    assert float(diff) <= allowance
    assert allowance < 1e-12 * float(arb_to_fraction(ref.ball))  # the check is sharp: 12 digits at least


def test_n200_certified_at_early_and_late_times_and_relaxes_to_the_long_time_value():
    # Early time: integer uniformisation; late times: the spectral relaxation bound around the long-time
    # state, whose certified value (exact x = 1/2 here) must agree within the two bounds.
    pe0 = excited_probability(0.5)
    lt = _certified_l1_long_time(200, BATH.x, pe0, 1e-12)
    res = thermal_l1_certified(200, BATH.x, BATH.nbar, pe0, [0.002, 2.0, 20.0], 1e-12, [math.nan] * 3)
    assert all(r is not None and r.rel_bound <= 1e-12 for r in res)
    assert res[0].log10 < lt.log10 - 1.0  # C_l1 still growing at gamma t = 0.002
    for r in res[1:]:
        diff = abs(arb_to_fraction(r.ball) - arb_to_fraction(lt.ball))
        assert float(diff) <= math.exp(r.log_abs_bound) + math.exp(lt.log_abs_bound)


def test_solve_dicke_reports_certified_thermal_values():
    # N = 300 (above the float64 estimate's range): certified where a route fits, never a bare nan.
    res = solve_dicke(Atoms.dicke(300), BATH, InitialState.thermal(0.5), [5.0], long_time=True)
    assert res.coherence_l1_status == ("certified", "certified")
    assert res.coherence_l1_relative_error_bound[0] <= 1e-12
    assert res.log10_coherence_l1[0] == pytest.approx(res.log10_coherence_l1[1], rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("n", [500, 1000])
def test_large_n_late_time_certified_against_long_time(n):
    pe0 = excited_probability(0.5)
    lt = _certified_l1_long_time(n, BATH.x, pe0, 1e-12)
    (r,) = thermal_l1_certified(n, BATH.x, BATH.nbar, pe0, [5.0], 1e-12, [math.nan])
    assert r is not None and r.rel_bound <= 1e-12
    diff = abs(arb_to_fraction(r.ball) - arb_to_fraction(lt.ball))
    assert float(diff) <= math.exp(r.log_abs_bound) + math.exp(lt.log_abs_bound)


def test_input_radius_beyond_float_range_certifies_nothing():
    # A ball radius so large that 2^s x radius overflows a float made the bound inf, which was reported
    # as relative bound 0 (certified) -- N = 1000 at gamma t = 1e-4 printed the long-time value as certified.
    import flint

    n = 6
    q = np.empty((n // 2 + 1, n + 1), dtype=object)
    q[:] = flint.arb(0)
    q[0, 3] = flint.arb(0.5) + flint.arb(0, (flint.arb(2) ** 2000).upper())
    q[1, 3] = flint.arb(0.5)
    res = _certified_l1_generic(n, q, 1e-12)
    assert res.rel_bound == np.inf
