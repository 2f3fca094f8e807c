"""Coherence lifetime (qcharge.reference.lifetime) against closed forms and against the time evolution it explains.

Independent references: the two-level rate picture of a pair near the Dicke limit (singlet <-> triplet
exchange through the antisymmetric channel L_A at rate gamma - gamma12, docs/physics.md §1.1), the Dicke cascade
rate gamma (J + M)(J - M + 1), and the Krylov propagator of lindblad.evolve (a different algorithm).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qcharge import Atoms, Bath, InitialState, ParameterError
from qcharge.coherence import l1_coherence
from qcharge.reference.lifetime import coherence_lifetime, excited_rates
from qcharge.reference.lindblad import evolve
from qcharge.states import ground_state


def pair_slow_rate(eps: float, temperature: float) -> float:
    r"""First order in eps = 1 - gamma12: out of the singlet (gamma - gamma12)(2 nbar + 1), plus the
    feeding from the (internally equilibrated) triplet, (1 - g12)[nbar p_gg + (nbar + 1) p_ee]/p_T:
    together eps (1 + x)^3 / ((1 - x)(1 + x + x^2)), x = exp(-omega/T)."""
    x = math.exp(-1.0 / temperature)
    return eps * (1 + x) ** 3 / ((1 - x) * (1 + x + x * x))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_pair_near_dicke_lifetime_is_one_over_eps_rate(temperature):
    eps = 1e-4
    tau = coherence_lifetime(Atoms.pair(1 - eps), Bath(temperature), ground_state(2))
    # the closed form is first order in eps: relative O(eps) = 1e-4 difference allowed (x10)
    assert tau * pair_slow_rate(eps, temperature) == pytest.approx(1.0, rel=1e-3)


def test_lifetime_explains_long_and_finite_time_coherence():
    bath = Bath(1.0)
    atoms = Atoms.pair(0.9999)
    tau = coherence_lifetime(atoms, bath, ground_state(2))
    assert tau == pytest.approx(3712.6, abs=0.1)
    rho = evolve(atoms, bath, ground_state(2), [100.0, 30 * tau])
    c100, c_late = l1_coherence(rho[0]), l1_coherence(rho[1])
    assert c100 == pytest.approx(0.238, abs=5e-4)  # the 3-digit figure
    assert c_late < 1e-10  # e^-30 of the slow mode, below the solver tolerance
    # the slow mode carries the Dicke value 0.244728 = x/(1+x+x^2); after 100 it has lost ~ 100/tau
    dicke = math.exp(-1) / (1 + math.exp(-1) + math.exp(-2))
    assert c100 / dicke == pytest.approx(math.exp(-100 / tau), abs=2e-3)  # fast modes: e^-240, O(eps) shifts


@pytest.mark.parametrize("n", [2, 3, 4])
def test_dicke_limit_is_protected(n):
    assert coherence_lifetime(Atoms.dicke(n), Bath(1.0), ground_state(n)) == math.inf


def test_relaxing_to_gibbs_is_finite():
    # independent atoms: every mode decays at gamma (2 nbar + 1) (single atom) or a multiple
    bath = Bath(1.0)
    assert coherence_lifetime(Atoms.independent(2), bath, ground_state(2)) == pytest.approx(
        1 / (2 * bath.nbar + 1), rel=1e-10
    )
    # Dicke, T = 0, from |eee>: everything ends in |ggg> = Gibbs; slowest step |J=3/2, M=-1/2> -> ground,
    # rate gamma (J + M)(J - M + 1) = 3
    assert coherence_lifetime(Atoms.dicke(3), Bath(0.0), InitialState("excited")) == pytest.approx(1 / 3, rel=1e-10)


def test_modes_forbidden_by_symmetry_are_not_counted():
    # from |gg> with a symmetric Gamma only parity-even modes are excited: the pair's 4 excited levels
    modes = excited_rates(Atoms.pair(0.9999), Bath(1.0), ground_state(2))
    rates = [m[1] for m in modes]
    assert rates[0] == 0.0 and rates[1] == pytest.approx(pair_slow_rate(1e-4, 1.0), rel=1e-3)
    assert len(modes) == 4


def test_delta_n_coherence_counts():
    # |+> of one atom at T = 0: the Delta n = 1 coherence decays at gamma/2, populations at gamma
    plus = 0.5 * np.ones((2, 2))
    assert coherence_lifetime(Atoms.independent(1), Bath(0.0), plus) == pytest.approx(2.0, rel=1e-10)


def test_geometry_pair_lifetime():
    a = Atoms.from_positions([[0, 0, 0], [0.01, 0, 0]], "z")
    eps = 1 - a.gamma_matrix[0, 1]
    tau = coherence_lifetime(a, Bath(1.0), ground_state(2))
    assert tau * pair_slow_rate(eps, 1.0) == pytest.approx(1.0, rel=1e-2)  # first order in eps = 8e-4
    assert tau == pytest.approx(470.3, abs=0.1)


def test_size_refused_before_allocating():
    with pytest.raises(ParameterError, match="needs about .* GB"):
        coherence_lifetime(Atoms.dicke(6), Bath(1.0), ground_state(6), max_memory_gb=1e-3)


def test_infinite_temperature_refused():
    with pytest.raises(ParameterError, match="finite"):
        coherence_lifetime(Atoms.dicke(2), Bath(math.inf), ground_state(2))



def test_very_long_lifetimes_until_the_zero_threshold():
    # eps = 1e-8: the slow rate 2.7e-8 lies within LEVEL_RTOL ||L|| (5.9e-8) of the kernel but above
    # ZERO_RTOL ||L|| (5.9e-10): it must still be resolved, not merged into the kernel (read as protected)
    tau = coherence_lifetime(Atoms.pair(1 - 1e-8), Bath(1.0), ground_state(2))
    assert tau * pair_slow_rate(1e-8, 1.0) == pytest.approx(1.0, rel=1e-3)
    # below the documented threshold (~1e10/||L||) the mode is indistinguishable from a zero mode
    assert coherence_lifetime(Atoms.pair(1 - 1e-12), Bath(1.0), ground_state(2)) == math.inf


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("temperature", [0.0, 0.7, 2.0])
@pytest.mark.parametrize("initial", [InitialState(), InitialState("excited"), InitialState.thermal(0.7),
                                     InitialState.thermal(3.0)], ids=["ground", "excited", "T0=0.7", "T0=3"])
def test_dicke_closed_form_matches_the_spectral_route(n, temperature, initial):
    atoms, bath = Atoms.dicke(n, dipolar=0.3), Bath(temperature)
    closed = coherence_lifetime(atoms, bath, initial)  # InitialState in the Dicke limit: closed form
    dense = coherence_lifetime(atoms, bath, initial.density_matrix(n))  # a matrix: Schur route
    assert closed == pytest.approx(dense, rel=1e-10) if math.isfinite(dense) else closed == math.inf


def test_dicke_closed_form_at_large_n():
    assert coherence_lifetime(Atoms.dicke(10**5), Bath(1.0), InitialState()) == math.inf
    assert coherence_lifetime(Atoms.dicke(50), Bath(0.0), InitialState("excited")) == pytest.approx(1 / 50)


def test_triangle_outlives_chain_at_a_hundredth_of_a_wavelength():
    r = 0.01
    chain = Atoms.from_positions([[0, 0, 0], [r, 0, 0], [2 * r, 0, 0]], "z")
    tri = Atoms.from_positions([[0, 0, 0], [r, 0, 0], [r / 2, r * math.sqrt(3) / 2, 0]], "z")
    tau_chain = coherence_lifetime(chain, Bath(1.0), ground_state(3))
    tau_tri = coherence_lifetime(tri, Bath(1.0), ground_state(3))
    # eigenvalues of a 20 x 20 sector from a Schur form: ~1e-12 relative, far below the 0.1 printed here
    assert tau_chain == pytest.approx(117.67, abs=0.1)
    assert tau_tri == pytest.approx(481.44, abs=0.1)
