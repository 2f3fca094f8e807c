"""Small-N fast paths of the certified C_l1: the arb_mat engine, the shared Krylov vectors and the dense arb
exponential of short chains, against the big-integer engine and the per-time uniformisation they replace
(both kept for large N)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from qcharge.exceptions import ParameterError
from qcharge.params import Atoms, Bath, InitialState
from qcharge.reference.dicke import certified_l1, solve_dicke, thermal_l1
from qcharge.reference.dicke.certified_l1 import _certified_l1_generic, _eberlein_matrices

from .test_dicke import arb_to_fraction

_RANK = {"certified": 0, "estimate": 1, "not computed": 2}


def _old_routes(monkeypatch) -> None:
    """The engine and the uniformisation as before: integer Taylor shifts, Krylov vectors per time."""
    monkeypatch.setattr(certified_l1, "BALL_ENGINE_MAX_ATOMS", -1)
    monkeypatch.setattr(thermal_l1, "_KRYLOV_CACHE_MAX_ENTRIES", 0)
    monkeypatch.setattr(thermal_l1, "_EXPM_MAX_LENGTH", 0)


@pytest.mark.parametrize(("n", "t0", "t"), [(4, 0.5, 1.0), (10, 0.5, 1.0), (10, 2.0, 0.3), (20, 0.3, 2.0), (40, 0.5, 1.0)])
def test_fast_paths_agree_with_the_old_routes_within_both_bounds(monkeypatch, n, t0, t):
    times = [0.0, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 20.0]
    args = (Atoms.dicke(n), Bath(t), InitialState.thermal(t0), times)
    new = solve_dicke(*args)
    with monkeypatch.context() as m:
        _old_routes(m)
        old = solve_dicke(*args)
    for i in range(len(times)):
        assert _RANK[new.coherence_l1_status[i]] <= _RANK[old.coherence_l1_status[i]]  # statuses not worse
        if new.coherence_l1_status[i] == old.coherence_l1_status[i] == "certified":
            # Both rigorous: the true value lies in both intervals, so they must overlap (values within the
            # sum of the two bounds); the new bound stays within the requested relative tolerance 1e-12.
            diff = abs(new.coherence_l1[i] - old.coherence_l1[i])
            # 4 ulps: the two values are rounded to float separately
            assert diff <= new.coherence_l1_error_bound[i] + old.coherence_l1_error_bound[i] + 4e-16 * old.coherence_l1[i]
            assert new.coherence_l1_relative_error_bound[i] <= 1e-12


@pytest.mark.parametrize("n", [4, 11, 40])
def test_ball_engine_agrees_with_the_integer_engine(monkeypatch, n):
    # Random non-negative q with input radii: the two engines' enclosures must overlap (each contains the
    # exact C_l1 of every q inside the balls, the midpoints' in particular); radii 1e-30 relative keep the
    # cancellation (up to ~1e6 at N = 40) far inside the requested 1e-12.
    import flint

    rng = np.random.default_rng(7)
    q = np.empty((n // 2 + 1, n + 1), dtype=object)
    with certified_l1._ArbPrecision(200):
        for j in range(n // 2 + 1):
            for k in range(n + 1):
                v = float(rng.random()) if j <= min(k, n - k) else 0.0
                q[j, k] = flint.arb(v) + flint.arb(0, v * 1e-30) if v else flint.arb(0)
    new = _certified_l1_generic(n, q, 1e-12)
    with monkeypatch.context() as m:
        m.setattr(certified_l1, "BALL_ENGINE_MAX_ATOMS", -1)
        old = _certified_l1_generic(n, q, 1e-12)
    assert new.rel_bound <= 1e-12 and old.rel_bound <= 1e-12
    diff = abs(arb_to_fraction(new.ball) - arb_to_fraction(old.ball))
    assert float(diff) <= math.exp(new.log_abs_bound) + math.exp(old.log_abs_bound)


def test_ball_engine_exact_rationals_and_bad_entries():
    # Fractions: C_l1 of N = 2 is |q_{0,1} P_1(0) + q_{1,1} P_1(1)| = |1/3 - 1/5| (P_1 = (1, -1) in sector 1).
    n = 2
    q = np.array([[Fraction(0), Fraction(1, 3), Fraction(0)], [Fraction(0), Fraction(1, 5), Fraction(0)]], dtype=object)
    res = _certified_l1_generic(n, q, 1e-12)
    assert abs(10**res.log10 - 2 / 15) <= 1e-15  # float rounding of the log10 round trip
    assert res.rel_bound <= 1e-12
    bad = q.copy()
    bad[0, 1] = "x"
    with pytest.raises(ParameterError, match=r"q\[0, 1\]"):
        _certified_l1_generic(n, bad, 1e-12)


@pytest.mark.parametrize("n", [2, 9, 30])
def test_eberlein_matrices_against_the_recurrence(n):
    # The Hahn-form products (exact rationals) must give the Eberlein tables of the recurrence (2.6), exactly.
    from qcharge.reference.dicke import eberlein_matrix

    mats = _eberlein_matrices(n)
    for kk in range(1, n // 2 + 1):
        table = eberlein_matrix(n, kk)
        for i in range(kk + 1):
            for j in range(kk + 1):
                assert int(mats[kk][i, j]) == int(table[i, j])


@pytest.mark.parametrize(("length", "t"), [(3, 5.0), (11, 0.7), (21, 0.2)])
def test_dense_exponential_overlaps_the_integer_uniformisation(length, t):
    # Two rigorous enclosures of the same e^{tG} q(0) (independent methods): every entry's balls must
    # overlap, and the exponential's radii stay below the requested e^-60 (its precision is sized for it).
    import flint

    nbar = 0.75  # binary
    with certified_l1._ArbPrecision(300):
        q0 = [flint.arb(1) / (m + 2) for m in range(length)]
        balls = thermal_l1._chain_expm(length, nbar, q0, t, -60.0)
        values, radius, _ = thermal_l1._chain_uniformised(length, nbar, q0, t, -60.0, 1e9)
        for b, v in zip(balls, values):
            assert b.overlaps(v + flint.arb(0, radius))
            assert float(b.rad()) < math.exp(-60.0)


def test_ball_engine_infinite_input_ball_certifies_nothing():
    # An enclosure with an infinite radius is a valid (useless) input: no error, relative bound inf.
    import flint

    n = 6
    q = np.empty((n // 2 + 1, n + 1), dtype=object)
    q[:] = flint.arb(0)
    q[0, 3] = flint.arb(0.5) + flint.arb(0, flint.arb("inf"))
    q[1, 3] = flint.arb(0.25)
    assert _certified_l1_generic(n, q, 1e-12).rel_bound == np.inf
