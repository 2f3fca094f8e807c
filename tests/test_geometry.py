"""Free-space geometry (qcharge.geometry, Atoms.from_positions) against independent closed forms, and the
charging of pairs, chains and symmetric clusters built from positions.

The references here are the elementary trigonometric forms of Ficek & Tanaś (2002) eqs. (9)-(10), written out
again (the module evaluates spherical Bessel functions), and their Taylor series at small k r.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import qcharge.params
from qcharge import Atoms, Bath, ParameterError
from qcharge.coherence import l1_coherence
from qcharge.geometry import dipole_vector, pair_matrices, pattern_f, pattern_g
from qcharge.reference.lindblad import evolve
from qcharge.states import ground_state

# Same function by two float64 routes at k r >= 0.3 (cancellation in the closed form <= 1/xi^3 ~ 40 eps).
EXACT = 1e-12
# Numbers printed with 4 significant digits in the issue: half a unit of the last digit.
FOUR_DIGITS = 5e-5


def f_closed(xi, c2):
    return 1.5 * ((1 - c2) * np.sin(xi) / xi + (1 - 3 * c2) * (np.cos(xi) / xi**2 - np.sin(xi) / xi**3))


def g_closed(xi, c2):
    return 0.75 * (-(1 - c2) * np.cos(xi) / xi + (1 - 3 * c2) * (np.sin(xi) / xi**2 + np.cos(xi) / xi**3))


@pytest.mark.parametrize("r", [0.05, 0.1, 0.25, 0.5, 1.0, 2.3])
@pytest.mark.parametrize("c2", [0.0, 0.3, 1.0])
def test_patterns_match_closed_forms(r, c2):
    xi = 2 * math.pi * r
    assert float(pattern_f(xi, c2)) == pytest.approx(f_closed(xi, c2), abs=EXACT)
    assert float(pattern_g(xi, c2)) == pytest.approx(g_closed(xi, c2), abs=EXACT)


@pytest.mark.parametrize("c2", [0.0, 0.5, 1.0])
def test_small_distance_limits(c2):
    xi = 1e-3
    # F = 1 - xi^2 (2 - cos^2)/10 + O(xi^4): the O(xi^4) remainder is < 1e-13 here
    assert float(pattern_f(xi, c2)) == pytest.approx(1 - xi**2 * (2 - c2) / 10, abs=1e-13)
    # G xi^3 = 3/4 [(1 - 3c^2) + xi^2 ((1 - 3c^2)/2 - (1 - c^2))] + O(xi^4): the near-field divergence
    expected = 0.75 * ((1 - 3 * c2) + xi**2 * ((1 - 3 * c2) / 2 - (1 - c2)))
    assert float(pattern_g(xi, c2)) * xi**3 == pytest.approx(expected, abs=1e-10)
    # and F -> 1 for every orientation (the elementary form would lose ~eps/xi^3 = 2e-7 here)
    assert float(pattern_f(1e-7, c2)) == pytest.approx(1.0, abs=1e-13)


def test_matrices_symmetric_and_invariant(rng):
    pos = rng.uniform(-1, 1, size=(5, 3))
    d = dipole_vector([0.3, -0.2, 0.9])
    f, g = pair_matrices(pos, d)
    assert np.array_equal(f, f.T) and np.array_equal(g, g.T)
    assert np.all(np.diag(f) == 1) and np.all(np.diag(g) == 0)
    # translation, inversion, a joint rotation of positions and dipole, and a permutation of the atoms
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    perm = rng.permutation(5)
    for pos2, d2, p in [(pos + [0.4, -1.0, 2.0], d, np.arange(5)), (-pos, d, np.arange(5)),
                        (pos @ q.T, q @ d, np.arange(5)), (pos[perm], d, perm)]:
        f2, g2 = pair_matrices(pos2, d2)
        np.testing.assert_allclose(f2, f[np.ix_(p, p)], atol=EXACT)
        np.testing.assert_allclose(g2, g[np.ix_(p, p)], rtol=1e-10, atol=EXACT)
    # free-space Gamma is positive semidefinite (Atoms validates it)
    assert np.linalg.eigvalsh(f).min() > -1e-12


def test_from_positions_pair_matches_patterns():
    a = Atoms.from_positions([[0, 0, 0], [0.1, 0, 0]], dipole="z", gamma=2.0)
    xi = 2 * math.pi * 0.1
    assert a.gamma_matrix[0, 1] == pytest.approx(2.0 * f_closed(xi, 0.0), abs=EXACT)
    assert a.dipolar_matrix[0, 1] == pytest.approx(2.0 * g_closed(xi, 0.0), abs=EXACT)
    b = Atoms.from_positions([[0, 0, 0], [0.1, 0, 0]], dipole="x")  # dipole along the axis: cos^2 = 1
    assert b.gamma_matrix[0, 1] == pytest.approx(f_closed(xi, 1.0), abs=EXACT)
    assert Atoms.from_positions([[0, 0, 0]]).n == 1


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(positions=[[0, 0, 0], [0, 0, 0]]), "at least 1e-06 wavelengths apart"),
        (dict(positions=[[0, 0], [1, 0]]), "shape \\(N, 3\\)"),
        (dict(positions=[[0, 0, 0], [np.nan, 0, 0]]), "finite"),
        (dict(positions=[[0, 0, 0], [1, 0, 0]], dipole="w"), "`dipole` must be one of"),
        (dict(positions=[[0, 0, 0], [1, 0, 0]], dipole=[0, 0, 0]), "non-zero"),
        (dict(positions=[[0, 0, 0], [1, 0, 0]], dipole=[1, 0]), "3-vector"),
        (dict(positions=[[0, 0, 0], [1, 0, 0]], gamma=0.0), "`gamma` must be > 0"),
    ],
)
def test_bad_input_refused(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        Atoms.from_positions(**kwargs)


@pytest.mark.parametrize(
    "r, dipole, expected",
    [
        # the numbers: dipoles perpendicular to the pair's axis (z dipoles, pair on x)
        (0.01, "z", 0.2422),
        (0.1, "z", 0.0878),
        (0.5, "z", 1.204e-5),
        # dipoles along the axis: longer-range F, hence more coherence at 0.1 lambda
        (0.01, "x", 0.2434),
        (0.1, "x", 0.1459),
    ],
)
def test_pair_coherence_versus_distance(r, dipole, expected):
    a = Atoms.from_positions([[0, 0, 0], [r, 0, 0]], dipole)
    rho = evolve(a, Bath(1.0), ground_state(2), [5.0])[0]
    # solver tol 1e-10 << the 4-digit rounding of the issue
    assert l1_coherence(rho) == pytest.approx(expected, abs=FOUR_DIGITS if expected > 1e-3 else 5e-9)


R = 0.01
S3 = math.sqrt(3)
CHAIN3 = [[0, 0, 0], [R, 0, 0], [2 * R, 0, 0]]
TRIANGLE = [[0, 0, 0], [R, 0, 0], [R / 2, R * S3 / 2, 0]]  # in the xy plane


def _uniform(a: Atoms) -> tuple[float, float]:
    off = ~np.eye(a.n, dtype=bool)
    return float(np.ptp(a.gamma_matrix[off])), float(np.ptp(a.dipolar_matrix[off]))


def test_chain_loses_and_triangle_keeps_coherence():
    bath = Bath(1.0)
    dicke = l1_coherence(evolve(Atoms.dicke(3), bath, ground_state(3), [5.0])[0])  # 0.6481
    chain = Atoms.from_positions(CHAIN3, "z")
    tri = Atoms.from_positions(TRIANGLE, "z")  # dipoles perpendicular to the triangle's plane
    # the chain's nearest and next-nearest Omega differ by thousands of gamma; the triangle's are equal
    assert _uniform(chain)[1] > 2000
    assert _uniform(tri)[1] <= 1e-9 * abs(tri.dipolar_matrix[0, 1])
    c_chain = l1_coherence(evolve(chain, bath, ground_state(3), [5.0])[0])
    c_tri = l1_coherence(evolve(tri, bath, ground_state(3), [5.0])[0])
    assert c_chain == pytest.approx(0.3120, abs=FOUR_DIGITS)  # less than half of the Dicke value
    assert c_tri == pytest.approx(0.6414, abs=FOUR_DIGITS)  # within 1% of Dicke
    assert c_tri > 0.98 * dicke > 2 * c_chain


def test_triangle_with_in_plane_dipole_is_not_uniform():
    # an in-plane dipole makes angles 0, 60, 120 degrees with the sides: Omega is not uniform
    assert _uniform(Atoms.from_positions(TRIANGLE, "x"))[1] > 1000


@pytest.mark.parametrize("dipole", ["x", "z", [1, 1, 1], [0.2, -0.7, 0.4]])
def test_tetrahedron_is_never_uniform_for_a_common_dipole(dipole):
    # equal |d . e| on all six edges would need ab = ac = bc = 0 and then fails for d = a unit axis
    tet = (R / math.sqrt(8)) * np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]])
    spread_gamma, spread_omega = _uniform(Atoms.from_positions(tet, dipole))
    assert spread_omega > 100 and spread_gamma > 1e-5

