"""Certified finite-time C_l1 from product thermal states (qcharge.reference.dicke.thermal_l1)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from qcharge.exceptions import ParameterError
from qcharge.params import Atoms, Bath, InitialState
from qcharge.reference.dicke import solve_dicke
from qcharge.reference.dicke.certified_l1 import _certified_l1_generic, _certified_l1_long_time, _log_beta, _logsumexp
from qcharge.reference.dicke.spectral import ChainSpectrum, thermal_l1_spectral
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


# ----------------------------------------------------------------------------------------- slow-mode enclosure
def _arb_chain_propagator(length: int, nbar: float, q0: list, t: float, prec: int) -> list:
    """Independent reference: q(t) = e^{tG} q(0) with FLINT's rigorous dense arb matrix exponential."""
    import flint

    from qcharge.reference.dicke.certified_l1 import _ArbPrecision

    arb = flint.arb
    fr = Fraction(nbar)
    with _ArbPrecision(prec):
        nb = arb(fr.numerator) / fr.denominator
        gen = flint.arb_mat(length, length)
        for m in range(length):
            up, down = nb * ((m + 1) * (length - 1 - m)), (nb + 1) * (m * (length - m))
            gen[m, m] = -(up + down)
            if m + 1 < length:
                gen[m + 1, m] = up
            if m:
                gen[m - 1, m] = down
        qt = (gen * arb(t)).exp() * flint.arb_mat([[v] for v in q0])
        return [qt[m, 0] for m in range(length)]


@pytest.mark.parametrize(("n", "j", "t"), [(40, 0, 0.5), (50, 5, 0.2), (60, 0, 0.1)])
def test_slow_mode_chain_enclosure_contains_the_arb_propagator(n, j, t):
    # The slow-mode enclosure of one chain (a few modes, rigorous residual / Davis-Kahan bound) against
    # FLINT's dense arb exponential at ~2x the precision: every reference ball must meet ours, and the
    # reference radius must be far below ours (else the check would not be sharp).
    from qcharge.reference.dicke.slow_modes import chain_slow_modes, slow_mode_count
    from qcharge.reference.dicke.thermal_l1 import _initial_balls

    nbar, pe0 = BATH.nbar, excited_probability(0.5)
    length = n - 2 * j + 1
    start = sum(n - 2 * jj + 1 for jj in range(j))
    q0 = _initial_balls(n, pe0, 600)[start : start + length]
    log_target = -300.0  # pi-norm error asked: radii sqrt(pi_m) e^-300
    plan = slow_mode_count(length, nbar, t, -log_target + 5.0)
    assert plan is not None and 1 < plan[0] < length  # a genuine truncation, not the full spectrum
    values, radii = chain_slow_modes(length, nbar, q0, t, log_target, plan)
    ref = _arb_chain_propagator(length, nbar, q0, t, 800)
    for m in range(length):
        diff = abs(arb_to_fraction(values[m]) - arb_to_fraction(ref[m]))
        radius = Fraction(float(radii[m])) + Fraction(float(values[m].rad())) + Fraction(float(ref[m].rad()))
        assert diff <= radius
        assert float(ref[m].rad()) < 1e-6 * float(radii[m])
    assert max(float(r) for r in radii) <= math.exp(log_target) * 1.001  # sqrt(pi_0) = 1: the target met


def _certified_with_slow_modes(monkeypatch, n, t):
    import qcharge.reference.dicke.slow_modes as slow_modes
    import qcharge.reference.dicke.thermal_l1 as thermal

    calls = []
    original = slow_modes.chain_slow_modes

    def counted(*args):
        calls.append(args[0])
        return original(*args)

    # Take the slow-mode route wherever it applies (it is cheaper than uniformisation only for long chains).
    monkeypatch.setattr(thermal, "_SLOW_MODE_BREAK_EVEN", 0.0)
    monkeypatch.setattr(thermal, "_slow_mode_work", lambda length, modes: 0.0)
    monkeypatch.setattr(slow_modes, "chain_slow_modes", counted)
    (res,) = thermal.thermal_l1_certified(n, BATH.x, BATH.nbar, excited_probability(0.5), [t], 1e-12, [math.nan])
    assert len(calls) >= n // 4  # most chains went through the slow-mode enclosure
    return res


def _reference_l1(n, t, prec):
    """C_l1 from every chain's dense arb exponential (independent of the routes), certified engine at 1e-20."""
    from qcharge.reference.dicke.thermal_l1 import _initial_balls

    q0 = _initial_balls(n, excited_probability(0.5), prec)
    q = np.empty((n // 2 + 1, n + 1), dtype=object)
    import flint

    q[:] = flint.arb(0)
    start = 0
    for j in range(n // 2 + 1):
        length = n - 2 * j + 1
        for m, v in enumerate(_arb_chain_propagator(length, BATH.nbar, q0[start : start + length], t, prec)):
            q[j, j + m] = v
        start += length
    return _certified_l1_generic(n, q, 1e-20)


@pytest.mark.parametrize(("n", "t"), [(40, 0.15), pytest.param(60, 0.05, marks=pytest.mark.slow)])
def test_slow_mode_route_certified_against_independent_propagator(monkeypatch, n, t):
    # Chains on the slow-mode route (forced) give a certified C_l1 whose bound must cover the difference to
    # the same quantity from FLINT's dense exponential at 2x the precision (its own bound added).
    res = _certified_with_slow_modes(monkeypatch, n, t)
    ref = _reference_l1(n, t, 800)
    assert res is not None and res.rel_bound <= 1e-12
    diff = abs(arb_to_fraction(res.ball) - arb_to_fraction(ref.ball))
    assert float(diff) <= math.exp(res.log_abs_bound) + math.exp(ref.log_abs_bound)
    assert math.exp(ref.log_abs_bound) < 1e-3 * math.exp(res.log_abs_bound)  # the reference is the sharper one


@pytest.mark.slow
def test_slow_mode_route_n150_against_independent_propagator(monkeypatch):
    res = _certified_with_slow_modes(monkeypatch, 150, 0.05)
    ref = _reference_l1(150, 0.05, 1200)
    assert res is not None and res.rel_bound <= 1e-12
    diff = abs(arb_to_fraction(res.ball) - arb_to_fraction(ref.ball))
    assert float(diff) <= math.exp(res.log_abs_bound) + math.exp(ref.log_abs_bound)


# ----------------------------------------------------------------------------------------- long-time engine
@pytest.mark.parametrize(("n", "temps"), [(150, (1.0, 0.5)), (300, (1.0, 0.5)), (300, (2.0, 1.5))])
def test_long_time_engine_against_the_eberlein_recurrence_baseline(n, temps):
    # The fixed-point Taylor-shift engine (sector lower bound, negligible sectors bounded) against the
    # docs/physics.md §2.6 baseline (exact integer Eberlein rows, Decimal weights; bound ~1e-38): equal
    # within the two bounds (log10 differences: relative bound / ln 10, + 1e-15 for the float log10).
    from benchmarks.bench_dicke import baseline_coherence_l1

    temperature, t0 = temps
    x, pe0 = math.exp(-1.0 / temperature), excited_probability(t0)
    res = _certified_l1_long_time(n, x, pe0, 1e-12)
    base_log10, base_rel = baseline_coherence_l1(n, x, pe0)
    assert res.rel_bound <= 1e-12
    assert abs(res.log10 - base_log10) <= (res.rel_bound + base_rel) / math.log(10.0) + 1e-15 * abs(base_log10)


@pytest.mark.slow
def test_n500_slow_mode_route_relaxes_to_the_long_time_value():
    # gamma t = 0.1 at N = 500: every chain of length > 1 goes through the slow-mode enclosure or
    # uniformisation (the relaxation bound alone needs gamma t ~ 1); the state is within e^{-mu_1 t} ~ e^-50 of
    # the long-time one, far below the bounds, so the two certified values must agree within them.
    pe0 = excited_probability(0.5)
    lt = _certified_l1_long_time(500, BATH.x, pe0, 1e-12)
    (r,) = thermal_l1_certified(500, BATH.x, BATH.nbar, pe0, [0.1], 1e-12, [math.nan])
    assert r is not None and r.rel_bound <= 1e-12
    diff = abs(arb_to_fraction(r.ball) - arb_to_fraction(lt.ball))
    assert float(diff) <= math.exp(r.log_abs_bound) + math.exp(lt.log_abs_bound)


def test_budget_refuses_before_any_work_and_reports_the_plan(monkeypatch):
    # A time whose plan exceeds budget_s gets None without entering a chain's uniformisation, and its planned
    # CPU seconds are reported (the caller's note names them); with the default budget it is certified.
    from qcharge.reference.dicke import thermal_l1

    pe0 = excited_probability(0.5)
    guess = [29.0 * math.log(10.0)]  # log C_l1 ~ 1e29 at N = 400, gamma t = 0.01: sizes the plan as solve_dicke does
    monkeypatch.setattr(thermal_l1, "_chain_uniformised", lambda *a, **k: pytest.fail("worked over the budget"))
    planned: list = []
    assert thermal_l1_certified(400, BATH.x, BATH.nbar, pe0, [0.01], 1e-12, guess, budget_s=1.0, planned=planned) == [None]
    assert len(planned) == 1 and planned[0] > 1.0


def test_l1_budget_is_checked():
    with pytest.raises(ParameterError, match="l1_budget_s"):
        solve_dicke(Atoms.dicke(4), BATH, InitialState.thermal(0.5), [1.0], l1_budget_s=-1.0)



# ----------------------------------------------------------------------------------------- spectral route (small N)
@pytest.mark.parametrize(("n", "times"), [(7, [0.05, 1.0]), (30, [0.01])])
def test_spectral_route_against_exact_rational_taylor_series(n, times):
    # qcharge.reference.dicke.spectral (one refined eigendecomposition per chain, every time) against the
    # exact-rational Taylor series, as the per-time routes above: |certified - exact| within the two bounds and
    # the Taylor tail, which is itself below 1e-12 of the value.
    pe0 = excited_probability(0.5)
    guesses = [math.log(10.0) * r.log10 for r in thermal_l1_certified(n, BATH.x, BATH.nbar, pe0, times, 1e-6,
                                                                       [math.nan] * len(times))]
    got = thermal_l1_spectral(n, BATH.nbar, pe0, times, 1e-12, guesses)
    log_unit = _logsumexp(_log_beta(n, np.arange(n + 1)))
    for res, t in zip(got, times):
        assert res is not None and res.rel_bound <= 1e-12
        q, log_tail = _taylor_q(n, BATH.nbar, pe0, t, 90 if t < 0.1 else 400)  # tail < 1e-33 of the value
        ref = _certified_l1_generic(n, np.array(q, dtype=object), 1e-20)
        allowance = math.exp(res.log_abs_bound) + math.exp(ref.log_abs_bound) + math.exp(log_tail + log_unit)
        assert float(abs(arb_to_fraction(res.ball) - arb_to_fraction(ref.ball))) <= allowance
        assert allowance < 1e-12 * float(arb_to_fraction(ref.ball))


@pytest.mark.parametrize(("n", "temperature", "t0"), [(10, 1.0, 0.5), (10, 1.2, 1.0), (21, 1.0, 2.0), (40, 3.0, 0.5)])
def test_spectral_route_against_the_per_time_routes(n, temperature, t0):
    # Two independent enclosures of the same C_l1(t) (dense arb exponential / integer uniformisation /
    # relaxation bound per time, against the spectral one): they must overlap within their rigorous bounds, at
    # early, intermediate and relaxed times, and the long-time certified value must be reached at gamma t = 40.
    bath = Bath(temperature)
    pe0 = excited_probability(t0)
    times = [0.001, 0.05, 0.5, 5.0, 40.0]
    ref = thermal_l1_certified(n, bath.x, bath.nbar, pe0, times, 1e-12, [math.nan] * len(times))
    got = thermal_l1_spectral(n, bath.nbar, pe0, times, 1e-12, [math.log(10.0) * r.log10 for r in ref])
    for a, b in zip(got, ref):
        assert a is not None and a.rel_bound <= 1e-12
        diff = abs(arb_to_fraction(a.ball) - arb_to_fraction(b.ball))
        assert float(diff) <= math.exp(a.log_abs_bound) + math.exp(b.log_abs_bound)
    lt = _certified_l1_long_time(n, bath.x, pe0, 1e-12)
    assert got[-1].log10 == pytest.approx(lt.log10, abs=1e-11)  # relaxed to 10^-17 at gamma t = 40


def test_spectral_route_declines_where_float64_cannot_split_the_pairs():
    # T = 0.2: the chains' eigenvalue pairs are split by ~x^{L/2} = 1e-33; the refinement cannot start from
    # float64 there, so the route returns None and solve_dicke certifies by the per-time routes.
    bath = Bath(0.2)
    pe0 = excited_probability(0.1)
    assert not ChainSpectrum(31, bath.nbar, 100).ok
    assert thermal_l1_spectral(30, bath.nbar, pe0, [0.1], 1e-12, [0.0]) == [None]
    res = solve_dicke(Atoms.dicke(30), bath, InitialState.thermal(0.1), [0.1, 1.0])
    assert res.coherence_l1_status == ("certified", "certified")


def test_solve_dicke_small_n_certifies_every_time_by_the_spectral_route(monkeypatch):
    # N = 10, t = 0..20: every time certified within rel_tol with the per-time routes disabled.
    import qcharge.reference.dicke.solve as solve_module

    def refuse(*args, **kwargs):
        raise AssertionError("the per-time routes were used")

    monkeypatch.setattr(solve_module, "thermal_l1_certified", refuse)
    res = solve_dicke(Atoms.dicke(10), Bath(1.0), InitialState.thermal(0.5), np.linspace(0.0, 20.0, 21))
    assert set(res.coherence_l1_status) == {"certified"}
    assert np.max(res.coherence_l1_relative_error_bound) <= 1e-12


def test_dicke_result_str_is_a_table_not_an_array_dump():
    # A new user got ~800 numbers from print(solve_dicke(N = 200)); the README promises a readable str().
    res = solve_dicke(Atoms.dicke(200), Bath(1.0), InitialState.thermal(0.5), [1.0], long_time=True)
    text = str(res)
    assert len(text.splitlines()) == 5 and "shape (2, 201)" in text
    assert text.count("certified") == 2 and "e-" not in text.split("\n")[3].split()[1]  # log10 C_l1 printed plainly


def test_the_reported_float_is_within_its_own_bound():
    # A new user found C_l1 = 594503458.2862327 reported 'certified' with a bound 2.9e-16, 1.6e-6 from the
    # ball's midpoint (the float was 10**log10, the bound the ball's width). The float is now the midpoint's
    # nearest float and both bounds include its rounding (relative bound >= u).
    bath, pe0, times = Bath(3.0), excited_probability(0.1), [0.1, 1.0]
    res = solve_dicke(Atoms.dicke(40), bath, InitialState.thermal(0.1), times)
    ref = thermal_l1_certified(40, bath.x, bath.nbar, pe0, times, 1e-14, [math.nan] * 2)
    for value, bound, rel, r in zip(res.coherence_l1, res.coherence_l1_error_bound,
                                    res.coherence_l1_relative_error_bound, ref):
        exact_within = math.exp(r.log_abs_bound)  # the independent enclosure's own bound
        assert abs(Fraction(value) - arb_to_fraction(r.ball)) <= Fraction(bound) + Fraction(exact_within)
        assert rel >= 2.0**-53
