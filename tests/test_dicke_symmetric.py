"""Dicke solver at scale: memory checks, C_l1(t) of the symmetric multiplet at any N, the C_l1 status field."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

from qcharge import Atoms, Bath, InitialState, ParameterError
from qcharge.coherence import l1_coherence
from qcharge.reference.charging import charge, default_times
from qcharge.reference.dicke import solve_dicke
from qcharge.reference.dicke.certified_l1 import _certified_l1_long_time
from qcharge.reference.dicke.dynamics import _chain_rates
from qcharge.reference.lindblad import evolve

BATH = Bath(1.0)


def _arb_ground_l1(n: int, nbar: float, gamma_t: float, prec: int = 256) -> float:
    """log10 C_l1(t) from the ground state with the chain propagator in arb balls (the exact reference)."""
    import flint

    up, down = _chain_rates(n + 1, nbar)
    old = flint.ctx.prec
    flint.ctx.prec = prec
    try:
        gen = flint.arb_mat(n + 1, n + 1)
        t = flint.arb(gamma_t)
        for m in range(n + 1):
            gen[m, m] = -flint.arb(float(up[m] + down[m])) * t
            if m < n:
                gen[m + 1, m] = flint.arb(float(up[m])) * t
                gen[m, m + 1] = flint.arb(float(down[m + 1])) * t
        col = gen.exp()
        total = sum((col[k, 0] * (math.comb(n, k) - 1) for k in range(1, n)), flint.arb(0))
        assert total.rad() < 1e-20 * total.mid()  # the ball is tight: the reference is exact to 20 digits
        return float(total.log() / flint.arb(10).log())
    finally:
        flint.ctx.prec = old


# ----------------------------------------------------------------------------------------- memory
@pytest.mark.parametrize("times, long_time", [([0.0, 1.0], False), ((), True)])
def test_memory_is_checked_before_allocating(times, long_time):
    # N = 10^9 needs hundreds of GB; the check must raise before any large array exists.
    tracemalloc.start()
    try:
        with pytest.raises(ParameterError, match=r"Argument `atoms` must .* would need [0-9.]+ GB"):
            solve_dicke(Atoms.dicke(10**9), BATH, InitialState("ground"), times, long_time=long_time)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # one length-N vector alone would be 8 GB


def test_charge_reports_the_memory_it_would_need():
    with pytest.raises(ParameterError, match="atoms"):
        charge(Atoms.dicke(10**9), BATH, InitialState("ground"), [1.0])


# ----------------------------------------------------------------------------------------- C_l1(t), symmetric
@pytest.mark.parametrize("n, kind", [(3, "ground"), (3, "excited"), (5, "excited"), (8, "ground")])
def test_symmetric_l1_against_full_space_solver(n, kind):
    # The full-space master equation knows nothing of multiplets. Measured agreement 2e-14 relative;
    # 1e-9 leaves room for evolve's tol = 1e-10 on every matrix entry.
    times = [0.05, 0.3, 2.0]
    states = evolve(Atoms.dicke(n), BATH, InitialState(kind).density_matrix(n, 1.0), times)
    res = solve_dicke(Atoms.dicke(n), BATH, InitialState(kind), times)
    ref = np.array([l1_coherence(r) for r in states])
    assert np.allclose(10.0**res.log10_coherence_l1, ref, rtol=1e-9, atol=0)
    assert res.coherence_l1_status == ("certified",) * 3
    assert np.all(res.coherence_l1_relative_error_bound < 1e-10)


def test_ground_l1_early_time_n100_is_the_exact_value():
    # Issue 9: this printed 3.379 (bound 7e7) while a 40-digit evaluation gives 2.150120539.
    res = solve_dicke(Atoms.dicke(100), BATH, InitialState("ground"), [0.001])
    ref = _arb_ground_l1(100, BATH.nbar, 0.001)
    assert abs(res.log10_coherence_l1[0] - 2.150120539) < 1e-9  # the 10 digits
    assert abs(res.log10_coherence_l1[0] - ref) < 1e-12  # relative 2e-12 in C_l1 vs a 256-bit reference
    assert res.coherence_l1_status[0] == "certified"
    assert res.coherence_l1_relative_error_bound[0] < 1e-10


@pytest.mark.parametrize("n, gamma_t", [(40, 0.2), (100, 0.02), (20, 1.0)])
def test_ground_l1_against_arb_propagator(n, gamma_t):
    # Where uniformisation applies the value is certified; its bound must hold against the exact value.
    res = solve_dicke(Atoms.dicke(n), BATH, InitialState("ground"), [gamma_t])
    ref = _arb_ground_l1(n, BATH.nbar, gamma_t)
    rel = abs(10.0 ** (res.log10_coherence_l1[0] - ref) - 1.0)
    assert res.coherence_l1_status[0] == "certified"
    assert rel <= res.coherence_l1_relative_error_bound[0] + 1e-15  # the bound is a bound


@pytest.mark.parametrize("n", [50, 200, pytest.param(1000, marks=pytest.mark.slow)])
def test_ground_l1_converges_to_the_certified_long_time_value(n):
    # gamma t = 20 is relaxed far below 1e-12 (the chain's slowest rate is O(gamma)); 1e-9 relative
    # covers the late-time estimate's own error (its bound is asserted below it).
    res = solve_dicke(Atoms.dicke(n), BATH, InitialState("ground"), [20.0], long_time=True)
    lt = _certified_l1_long_time(n, BATH.x, 0.0, 1e-12)
    assert res.coherence_l1_status[-1] == "certified"
    assert abs(res.log10_coherence_l1[-1] - lt.log10) < 1e-13
    assert abs(10.0 ** (res.log10_coherence_l1[0] - lt.log10) - 1.0) < 1e-9
    assert res.coherence_l1_relative_error_bound[0] < 1e-9


def test_ground_l1_at_large_n_is_a_number_not_nan():
    # Issue 9: N = 10^4 printed nan. From the ground state the value now exists at every time; where
    # its bound does not separate it from 0 it is flagged 'estimate'.
    res = solve_dicke(Atoms.dicke(600), BATH, InitialState("ground"), [1e-3, 1.0])
    assert np.all(np.isfinite(res.log10_coherence_l1))
    lt = _certified_l1_long_time(600, BATH.x, 0.0, 1e-12)
    assert abs(res.log10_coherence_l1[1] - lt.log10) < 1e-8  # relaxed at gamma t = 1 for N = 600


# ----------------------------------------------------------------------------------------- status
@pytest.mark.parametrize(
    "n, initial, times",
    [
        (500, InitialState("ground"), [1e-4, 0.003, 0.01, 1.0]),
        (300, InitialState.thermal(0.5), [0.5]),
        (60, InitialState.thermal(0.5), [0.5]),
        (30, InitialState("excited"), [0.001, 0.1, 5.0]),
    ],
)
def test_no_value_is_certified_that_its_bound_does_not_separate(n, initial, times):
    res = solve_dicke(Atoms.dicke(n), BATH, initial, times, long_time=True)
    for status, value, rel in zip(res.coherence_l1_status, res.log10_coherence_l1, res.coherence_l1_relative_error_bound):
        assert status in ("certified", "estimate", "not computed")
        if status == "certified":
            assert rel < 1.0 and np.isfinite(value)
        if not rel < 1.0:
            assert status != "certified"
        assert np.isnan(value) == (status == "not computed")  # never a silent nan


def test_finite_time_l1_can_be_switched_off():
    kwargs = dict(atoms=Atoms.dicke(50), bath=BATH, initial=InitialState("ground"), times=[0.1, 1.0])
    full, light = solve_dicke(**kwargs), solve_dicke(**kwargs, finite_time_l1=False)
    assert light.coherence_l1_status == ("not computed",) * 2
    assert np.all(np.isnan(light.log10_coherence_l1))
    assert np.array_equal(full.energy, light.energy)  # same dynamics, same arithmetic
    assert np.array_equal(full.coherence_re, light.coherence_re)


def test_charge_passes_the_status_through():
    out = charge(Atoms.dicke(20), BATH, InitialState("ground"), [0.5], long_time=True)
    assert out.coherence_l1_status == ("certified",)
    assert out.long_time.coherence_l1_status == "certified"


def test_default_times_resolve_the_superradiant_scale():
    # N = 500 from T0 = 0.5: t = 0.5 and t = 2 print the same values (relaxed); times on the collective
    # scale 2/(N gamma) do not.
    times = default_times(Atoms.dicke(500))
    assert times == [0.0, 0.0008, 0.004, 0.02, 0.08]
    res = solve_dicke(Atoms.dicke(500), BATH, InitialState.thermal(0.5), times[1:3], finite_time_l1=False)
    assert abs(res.heat[1] - res.heat[0]) > 1e-3  # the first two default times see different states
    # independent atoms and a pair keep the pair's times; a full-rank gamma_ij uses its largest eigenvalue
    assert default_times(Atoms.independent(3)) == default_times(Atoms.pair(0.5)) == [0.0, 0.2, 1.0, 5.0, 20.0]
    assert default_times(Atoms(4, gamma_matrix=0.5 * np.ones((4, 4)) + 0.5 * np.eye(4))) == [0.0, 0.16, 0.8, 4.0, 16.0]


@pytest.mark.parametrize("n, temperature, kind", [(2, 1.0, "ground"), (50, 1.0, "ground"), (50, 2.0, "excited"),
                                                  (400, 0.5, "ground")])
def test_long_time_closed_form_matches_the_certified_engine(n, temperature, kind):
    # The pure-state long-time C_l1 now comes from the closed form (2.3) in logs; the exact-integer
    # engine is an independent evaluation of the same number (certified to 1e-12 relative).
    res = solve_dicke(Atoms.dicke(n), Bath(temperature), InitialState(kind), (), long_time=True)
    x = math.exp(-1.0 / temperature)
    engine = _certified_l1_long_time(n, x, 1.0 if kind == "excited" else 0.0, 1e-12)
    assert res.coherence_l1_status[-1] == "certified"
    # both relative bounds are <= 1e-12; the closed form's rounding bound ~ N eps
    assert res.log10_coherence_l1[-1] == pytest.approx(engine.log10, rel=1e-12, abs=1e-12)
    assert res.coherence_l1_relative_error_bound[-1] < 1e-10


def test_long_time_from_ground_at_any_n():
    # Above the certified engine's cap (l1_max_atoms) the closed form still gives the value: it used to be nan.
    res = solve_dicke(Atoms.dicke(100_000), Bath(1.0), InitialState("ground"), (), long_time=True)
    x = math.exp(-1.0)
    expected = (math.log1p(-x) + 100_000 * math.log1p(x)) / math.log(10.0)  # x^{N+1} and the -1 are < 1e-300
    assert res.log10_coherence_l1[-1] == pytest.approx(expected, rel=1e-12)
    assert res.coherence_l1_status[-1] == "certified" and res.coherence_l1_relative_error_bound[-1] < 1e-9


# ----------------------------------------------------------------------------------------- small N (doubling)
@pytest.mark.parametrize("n, excited", [(10, False), (10, True), (40, False), (40, True)])
def test_doubling_l1_agrees_with_the_stepwise_uniformisation(n, excited):
    # Two certified evaluations of the same uniformisation series (dense doubling vs the tridiagonal step
    # loop): each value must lie within the other's bound; both bounds are < 1e-10 relative here.
    from qcharge.reference.dicke.symmetric_l1 import symmetric_l1_uniformised, symmetric_populations_doubling

    times = np.array([1e-3, 0.01, 0.05, 0.1])
    fast, _ = symmetric_populations_doubling(n, BATH.nbar, excited, times)
    slow = symmetric_l1_uniformised(n, BATH.nbar, excited, times)
    for (v1, b1), (v2, b2) in zip(fast, slow):
        assert abs(math.exp(v1) - math.exp(v2)) <= math.exp(b1) + math.exp(b2)
        assert math.exp(b1 - v1) < 1e-10 and math.exp(b2 - v2) < 1e-10


def test_doubling_certifies_late_times_at_n10():
    # The stepwise series stopped at 600 terms (gamma t <= ~4 at N = 10; later times were estimates); the
    # doubling reaches gamma t = 20 with 2048 terms. Checked against a 4096-bit arb propagator.
    res = solve_dicke(Atoms.dicke(10), BATH, InitialState("ground"), np.linspace(0.0, 20.0, 21))
    assert res.coherence_l1_status == ("certified",) * 21
    for t in (7.0, 20.0):
        ref = _arb_ground_l1(10, BATH.nbar, t, prec=4096)
        rel = abs(10.0 ** (res.log10_coherence_l1[int(t)] - ref) - 1.0)
        assert rel <= res.coherence_l1_relative_error_bound[int(t)] + 1e-15  # the bound is a bound
        assert res.coherence_l1_relative_error_bound[int(t)] < 1e-10


@pytest.mark.parametrize("n, kind", [(10, "ground"), (10, "excited"), (40, "ground"), (40, "excited")])
def test_doubling_populations_match_the_chain_solver(n, kind):
    # The previous path (contour rule on the symmetrised chain, LSODA from the excited state) and the
    # doubling must give the same W_k, energy and C_re: 1e-10 (contour ~1e-14, doubling ~K m u = 1e-12
    # before renormalisation, LSODA rtol 1e-11 with its 100x error allowance).
    from qcharge.reference.dicke.combinatorics import _log_tables
    from qcharge.reference.dicke.dynamics import _dynamics_observables
    from qcharge.reference.dicke.solve import _mean_and_cre

    times = np.array([0.001, 0.1, 1.0, 3.0])
    pe0 = 1.0 if kind == "excited" else 0.0
    res = solve_dicke(Atoms.dicke(n), BATH, InitialState(kind), times)
    w, s_rho, *_ = _dynamics_observables(n, BATH.x, pe0, times, BATH.nbar)
    mean, cre = _mean_and_cre(n, w, s_rho, _log_tables(n, pe0))
    assert np.max(np.abs(res.excitation_probabilities - w)) < 1e-10
    assert np.max(np.abs(res.energy - mean)) < 1e-10 * n
    assert np.max(np.abs(res.coherence_re - cre)) < 1e-9  # entropies of size ln C(N, N/2) <= 27


def test_relaxed_and_doubling_agree_where_both_apply():
    # N = 20, gamma t = 1, 2, 5: two independent certified routes (uniformisation series / relaxation around
    # the closed form); each value within the other's bound; from gamma t = 2 on both bounds are below 1e-9
    # relative (at gamma t = 1 the relaxation bound is 3e-7: a bound, not yet a tight one).
    from qcharge.reference.dicke.symmetric_l1 import symmetric_l1_relaxed, symmetric_populations_doubling

    times = np.array([1.0, 2.0, 5.0])
    fast, _ = symmetric_populations_doubling(20, BATH.nbar, False, times)
    relaxed = symmetric_l1_relaxed(20, BATH.nbar, BATH.x, False, times)
    for (v1, b1), (v2, b2) in zip(fast, relaxed):
        assert abs(math.exp(v1) - math.exp(v2)) <= math.exp(b1) + math.exp(b2)
    assert all(math.exp(b - v) < 1e-9 for v, b in fast + relaxed[1:])


@pytest.mark.parametrize("n, gamma_t", [(40, 1.0)])
def test_relaxed_late_time_l1_is_certified_and_exact(n, gamma_t):
    # Late times (beyond the doubling's budget) are certified by the relaxation bound around the
    # closed-form long-time value; checked against the arb propagator, whose exponential cancels like
    # e^{lambda t} (lambda = the largest rate): 1.5 lambda t / ln 2 + 256 bits keep its ball tight.
    up, down = _chain_rates(n + 1, BATH.nbar)
    prec = 256 + int(1.5 * float(np.max(up + down)) * gamma_t / math.log(2.0))
    res = solve_dicke(Atoms.dicke(n), BATH, InitialState("ground"), [gamma_t])
    assert res.coherence_l1_status[0] == "certified"
    assert res.coherence_l1_relative_error_bound[0] < 1e-9
    ref = _arb_ground_l1(n, BATH.nbar, gamma_t, prec=prec)
    rel = abs(10.0 ** (res.log10_coherence_l1[0] - ref) - 1.0)
    assert rel <= res.coherence_l1_relative_error_bound[0] + 1e-15  # the bound is a bound


def test_relaxed_bound_from_the_excited_state_holds():
    # From |e...e> chi^2 = 1/pi_N - 1 is huge (x^-N): the bound must still contain the exact value.
    from qcharge.reference.dicke.symmetric_l1 import symmetric_l1_relaxed

    n, gamma_t = 7, 3.0
    ((value, bound),) = symmetric_l1_relaxed(n, BATH.nbar, BATH.x, True, [gamma_t])
    states = evolve(Atoms.dicke(n), BATH, InitialState("excited").density_matrix(n, 1.0), [gamma_t], tol=1e-12)
    exact = l1_coherence(states[0])
    assert abs(math.exp(value) - exact) <= math.exp(bound) + 1e-9 * exact  # evolve's tol on each entry
    assert bound < value + math.log(1e-3)  # and it is a bound worth having (measured ~1e-5 relative)


def test_doubling_from_excited_at_zero_temperature_is_exact():
    # T = 0 from |e...e>: a pure death chain whose late populations are tiny (C_l1 ~ 1e-39 at N = 40,
    # gamma t = 3; the float64 estimate printed 1e-10 there). The doubling certifies it; checked against
    # the chain propagator in arb (1.5 lambda t / ln 2 + 256 bits), here at N = 20.
    import flint

    n, gamma_t, bath = 20, 3.0, Bath(0.0)
    res = solve_dicke(Atoms.dicke(n), bath, InitialState("excited"), [gamma_t])
    assert res.coherence_l1_status[0] == "certified"
    up, down = _chain_rates(n + 1, 0.0)
    old = flint.ctx.prec
    flint.ctx.prec = 256 + int(1.5 * float(np.max(up + down)) * gamma_t / math.log(2.0))
    try:
        gen = flint.arb_mat(n + 1, n + 1)
        for m in range(n + 1):
            gen[m, m] = -flint.arb(float(up[m] + down[m])) * gamma_t
            if m < n:
                gen[m, m + 1] = flint.arb(float(down[m + 1])) * gamma_t
        col = gen.exp()
        total = sum((col[k, n] * (math.comb(n, k) - 1) for k in range(1, n)), flint.arb(0))
        ref = float(total.log() / flint.arb(10).log())
    finally:
        flint.ctx.prec = old
    rel = abs(10.0 ** (res.log10_coherence_l1[0] - ref) - 1.0)
    assert rel <= res.coherence_l1_relative_error_bound[0] + 1e-12  # ref to ~1e-13 (float of a tight ball)
    assert res.coherence_l1_relative_error_bound[0] < 1e-10


def test_extended_range_step_matches_exact_arithmetic():
    # One uniformisation step y -> M y on a vector spanning 2^-3000 ... 2^3000 (float64 holds 2^+-1022): the
    # entrywise exponents keep every entry to a few eps of exact rational arithmetic.
    from fractions import Fraction

    from qcharge.reference.dicke.symmetric_l1 import _step_extended

    rng = np.random.default_rng(5)
    size = 40
    m = rng.uniform(0.5, 1.0, size)
    e = rng.integers(-3000, 3000, size).astype(np.int32)
    m[7], e[7] = 0.0, np.int32(-(2**29))  # an exact zero entry
    diag, sub, sup = rng.uniform(0, 1, size), rng.uniform(1e-9, 1, size - 1), rng.uniform(1e-9, 1, size - 1)
    diag[3] = 0.0
    with np.errstate(divide="ignore"):
        l2 = [np.where(c > 0, np.log2(c), -(2.0**29)) for c in (diag, sub, sup)]
    m1, e1 = _step_extended(m, e, diag, sub, sup, *l2)
    y = [Fraction(float(mi)) * Fraction(2) ** int(ei) if mi else Fraction(0) for mi, ei in zip(m, e)]
    for i in range(size):
        exact = Fraction(float(diag[i])) * y[i]
        if i:
            exact += Fraction(float(sub[i - 1])) * y[i - 1]
        if i + 1 < size:
            exact += Fraction(float(sup[i])) * y[i + 1]
        got = Fraction(float(m1[i])) * Fraction(2) ** int(e1[i]) if m1[i] else Fraction(0)
        assert (got == 0) == (exact == 0)
        if exact:
            assert abs(float((got - exact) / exact)) < 4 * np.finfo(float).eps  # 3 eps: products and two sums


def test_ground_l1_at_n10000_early_time_is_certified_and_within_the_rigorous_bound():
    # Issue 9's own command: N = 10^4 from ground at gamma t ~ 1e-4 (inside the superradiant burst) printed
    # nan. One common scale made the uniformisation exceed the rigorous bound C_l1 <= (1 + x)^N - 1
    # (p_k(t) <= x^k from ground) by 10^1300 at gamma t = 3e-4: entries underflowed at small k and re-entered
    # amplified. With entrywise exponents it is certified and below that bound.
    res = solve_dicke(Atoms.dicke(10_000), BATH, InitialState("ground"), [1e-4])
    assert res.coherence_l1_status == ("certified",)
    assert res.coherence_l1_relative_error_bound[0] < 1e-9
    bound = 10_000 * math.log10(1.0 + BATH.x)
    assert 900.0 < res.log10_coherence_l1[0] < bound  # 999.633 (the long-time value is 1360.279)

