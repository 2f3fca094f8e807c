"""Coherence measures, coherence classes, energy/heat and the T_eff branches (thermo.temperature_from_ratio)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip

from qcharge import ParameterError
from qcharge.coherence import (
    coherence_classes,
    dephase,
    heat_exchange_coherence,
    l1_coherence,
    relative_entropy_coherence,
    von_neumann_entropy,
)
from qcharge.states import dicke_state, thermal_state
from qcharge.thermo import (
    TEFF_RATIO_RTOL,
    effective_temperature,
    energy,
    excitation_number,
    heat,
    temperature_from_ratio,
)

from . import systems
from .conftest import random_density_matrix

EXACT = 1e-12  # float64 round-off on matrices of dimension <= 16


def test_l1_and_re_of_dicke_state_closed_forms():
    # |D_1> of N = 3: all 3x3 block entries 1/3 -> C_l1 = 6 * 1/3 = 2; C_re = S(diag) = ln 3.
    rho = dicke_state(3, 1)
    assert l1_coherence(rho) == pytest.approx(2.0, abs=EXACT)
    assert relative_entropy_coherence(rho) == pytest.approx(math.log(3), abs=EXACT)
    assert heat_exchange_coherence(rho) == pytest.approx(2.0, abs=EXACT)


def test_incoherent_states_have_zero_coherence():
    rho = thermal_state(3, 0.7)
    assert l1_coherence(rho) == 0.0
    assert relative_entropy_coherence(rho) == pytest.approx(0.0, abs=EXACT)


def test_entropy_matches_qutip(rng):
    rho = random_density_matrix(8, rng)
    assert von_neumann_entropy(rho) == pytest.approx(qutip.entropy_vn(qutip.Qobj(rho)), abs=1e-10)


def test_block_spectrum_of_states_that_commute_with_n(rng, monkeypatch):
    # Issue 9 (N = 12 full space): a state without Delta n != 0 entries is diagonalised per excitation
    # number (from N = 9 on; lowered to N = 6 here). Same spectrum as one eigvalsh to backward-stable
    # round-off (dim * eps ~ 1e-14 for ||rho|| <= 1).
    from qcharge import _checks
    from qcharge.states import excitation_numbers

    monkeypatch.setattr(_checks, "_BLOCK_SPECTRUM_MIN_DIM", 64)
    k = excitation_numbers(6)
    commuting = np.where(k[:, None] == k[None, :], random_density_matrix(64, rng), 0.0)  # pinching keeps a state
    lam = np.linalg.eigvalsh(commuting)
    assert np.abs(_checks.hermitian_eigenvalues(commuting) - lam).max() < 1e-14
    assert von_neumann_entropy(commuting) == pytest.approx(-np.sum(lam * np.log(lam)), abs=1e-13)
    # one Delta n = 1 entry: the whole matrix is diagonalised, so its negative eigenvalue is found
    bad = commuting.copy()
    bad[0, 1] = bad[1, 0] = 0.5
    assert np.array_equal(_checks.hermitian_eigenvalues(bad), np.linalg.eigvalsh(bad))
    with pytest.raises(ParameterError, match="positive semidefinite"):
        _checks.check_density_matrix("rho", bad)


def test_classes_partition_the_l1_norm(rng):
    rho = random_density_matrix(16, rng)
    classes = coherence_classes(rho)
    assert sum(classes.values()) == pytest.approx(l1_coherence(rho), rel=1e-12)
    assert all(v > 0 for v in classes.values())  # a generic state has every class


def test_classes_of_known_elements():
    # |+>|+> of two atoms: elements with Δn = 0 (eg,ge), ±1 and ±2 (gg,ee), all of size 1/4.
    plus = np.full((2, 2), 0.5)
    rho = np.kron(plus, plus)
    c = coherence_classes(rho)
    assert c == pytest.approx({"heat_exchange": 0.5, "displacement": 2.0, "squeezing": 0.5, "higher": 0.0})


def test_dephase_keeps_populations():
    rho = dicke_state(2, 1)
    d = dephase(rho)
    assert np.allclose(np.diag(d), np.diag(rho)) and l1_coherence(d) == 0.0


def test_energy_and_first_law():
    rho0 = thermal_state(3, 0.5)
    rho = thermal_state(3, 1.0)
    pe0, pe = systems.excited_probability(0.5), systems.excited_probability(1.0)
    assert excitation_number(rho0) == pytest.approx(3 * pe0, abs=EXACT)
    assert energy(rho, omega=2.0) == pytest.approx(6 * pe, abs=EXACT)
    assert heat(rho, rho0, omega=2.0) == pytest.approx(6 * (pe - pe0), abs=EXACT)


@pytest.mark.parametrize(
    "p, expected",
    [
        (0.0, 0.0),
        (0.5, math.inf),
        (systems.excited_probability(1.0), 1.0),
        (systems.excited_probability(-1.0), -1.0),  # p_e = 1/(1 + e^{-1}) > 1/2: inverted, T = -1
    ],
)
def test_effective_temperature_branches(p, expected):
    assert effective_temperature(p) == pytest.approx(expected, rel=1e-12)


def test_effective_temperature_zero_minus_and_errors():
    t = effective_temperature(1.0)
    assert t == 0.0 and math.copysign(1.0, t) == -1.0  # 0^-: fully excited probe
    with pytest.raises(ParameterError, match="p_excited"):
        effective_temperature(1.5)


@pytest.mark.parametrize("ulps", [-2, -1, 1, 2])
def test_effective_temperature_is_inf_within_round_off_of_one_half(ulps):
    # The maximally mixed probe computed in float64 lands an ulp or two off 1/2 (0.5 +- 1.1e-16 for
    # the steady state of the maximally mixed pair): that is T_eff = inf, not +-2.25e15 (docs/physics.md §4.5).
    p = 0.5 + ulps * 2.0**-53
    assert effective_temperature(p) == math.inf


def test_temperature_from_ratio_branches_and_tolerance():
    assert temperature_from_ratio(0.0, 1.0) == 0.0 and math.copysign(1.0, temperature_from_ratio(0.0, 1.0)) == 1.0
    assert temperature_from_ratio(1.0, 0.0) == 0.0 and math.copysign(1.0, temperature_from_ratio(1.0, 0.0)) == -1.0
    assert temperature_from_ratio(2.0, 2.0) == math.inf
    # the round-off band is relative, on either side of 1, and scale free
    for scale in (1e-30, 1.0, 1e30):
        assert temperature_from_ratio(scale, scale * (1 + TEFF_RATIO_RTOL / 2)) == math.inf
        assert temperature_from_ratio(scale * (1 + TEFF_RATIO_RTOL / 2), scale) == math.inf
    # just outside the band: a finite T_eff ~ 1/(2 rtol) = 5e11, of either sign (float64 log of the ratio
    # is accurate to ~1e-16 / 2e-12 relative, hence rel 1e-3)
    assert temperature_from_ratio(1.0, 1 + 2 * TEFF_RATIO_RTOL) == pytest.approx(0.5 / TEFF_RATIO_RTOL, rel=1e-3)
    assert temperature_from_ratio(1 + 2 * TEFF_RATIO_RTOL, 1.0) == pytest.approx(-0.5 / TEFF_RATIO_RTOL, rel=1e-3)
    assert temperature_from_ratio(1.0, math.e, omega=2.0) == pytest.approx(2.0, rel=1e-12)
    # effective_temperature is this function of (p_e, 1 - p_e)
    assert effective_temperature(0.2, omega=3.0) == temperature_from_ratio(0.2, 0.8, omega=3.0)
    # a caller with less accurate populations widens the band
    assert effective_temperature(0.5 + 1e-11) < 0
    assert effective_temperature(0.5 + 1e-11, rtol=1e-9) == math.inf


def test_temperature_from_ratio_errors_name_the_argument():
    with pytest.raises(ParameterError, match="`up, down` must not both be zero"):
        temperature_from_ratio(0.0, 0.0)
    with pytest.raises(ParameterError, match="`up, down` must be >= 0"):
        temperature_from_ratio(-1.0, 1.0)
    with pytest.raises(ParameterError, match="`omega`"):
        temperature_from_ratio(1.0, 2.0, omega=0.0)
