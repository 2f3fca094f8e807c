"""Basis conventions (docs/physics.md §0) and parameter validation."""

from __future__ import annotations

import numpy as np
import pytest
import qutip
from qiskit import QuantumCircuit
from qiskit.quantum_info import DensityMatrix

from qcharge import Atoms, Bath, Collision, Harvest, InitialState, ParameterError
from qcharge.states import (
    SIGMA_MINUS,
    basis_state,
    collective_lowering,
    dicke_state,
    excited_probability,
    from_qiskit_order,
    mean_occupation,
    partial_trace,
    thermal_state,
)

from .conftest import random_density_matrix

# Exact-vs-exact comparisons of small matrices: float64 round-off is ~1e-16 per entry.
EXACT = 1e-12


def test_sigma_minus_is_qutip_destroy_not_sigmam():
    assert np.allclose(SIGMA_MINUS, qutip.destroy(2).full(), atol=0)
    # The pitfall of docs/physics.md §6.1: qutip.sigmam is our sigma_plus.
    assert not np.allclose(SIGMA_MINUS, qutip.sigmam().full())


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_collective_lowering_matches_qutip_tensor_order(n):
    ops = [qutip.tensor([qutip.destroy(2) if i == j else qutip.qeye(2) for i in range(n)]) for j in range(n)]
    assert np.allclose(collective_lowering(n), sum(ops).full(), atol=EXACT)


def test_qiskit_order_conversion():
    qc = QuantumCircuit(3)
    qc.x(0)  # atom 0 excited
    assert np.allclose(from_qiskit_order(DensityMatrix(qc).data), basis_state("100"), atol=EXACT)
    rho = DensityMatrix(qc).reverse_qargs().data
    assert np.allclose(from_qiskit_order(DensityMatrix(qc).data), rho, atol=EXACT)


def test_partial_trace_matches_qutip(rng):
    rho = random_density_matrix(16, rng)
    q = qutip.Qobj(rho, dims=[[2] * 4, [2] * 4])
    for keep in ([0], [1, 3], [0, 2, 3]):
        assert np.allclose(partial_trace(rho, keep, 4), q.ptrace(keep).full(), atol=EXACT)


def test_thermal_quantities_closed_forms():
    nbar = mean_occupation(1.0)
    assert nbar == pytest.approx(1 / (np.e - 1), rel=1e-15)
    assert excited_probability(1.0) == pytest.approx(nbar / (2 * nbar + 1), rel=1e-15)
    assert excited_probability(0.0) == 0.0 and excited_probability(np.inf) == 0.5
    assert mean_occupation(0.0) == 0.0 and mean_occupation(np.inf) == np.inf
    rho = thermal_state(3, 0.5)
    assert np.trace(rho).real == pytest.approx(1.0, abs=EXACT)


def test_dicke_state_is_symmetric_and_normalised():
    rho = dicke_state(4, 2)
    assert np.trace(rho).real == pytest.approx(1.0, abs=EXACT)
    assert np.allclose(rho @ rho, rho, atol=EXACT)


def test_atoms_defaults_and_limits():
    a = Atoms(3)
    assert a.is_dicke and np.all(a.gamma_matrix == 1.0) and np.all(a.dipolar_matrix == 0.0)
    assert not Atoms.independent(3).is_dicke
    assert not Atoms.pair(0.8, 0.3).is_dicke
    assert Atoms.dicke(3, dipolar=0.4).is_dicke
    om = np.array([[0, 0.1, 0.2], [0.1, 0, 0.3], [0.2, 0.3, 0]])
    assert not Atoms(3, dipolar_matrix=om).is_dicke
    with pytest.raises(AttributeError):
        a.n = 4  # frozen


def test_uniform_atoms_cost_no_memory():
    # The Dicke solver takes N = 10^5; a dense Gamma would need 80 GB.
    big = Atoms.dicke(100_000)
    assert big.is_dicke and big.gamma_matrix.strides == (0, 0) and big.gamma_matrix[5, 7] == 1.0
    assert big == Atoms(100_000) and big.to_dict() == {"n": 100_000, "gamma": 1.0, "omega": 1.0}
    assert Atoms(2, gamma_matrix=np.ones((2, 2))) == Atoms(2)  # same physics, other storage


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Atoms(0), "atoms.*>= 1"),
        (lambda: Atoms(2.5), "atoms.*integer"),
        (lambda: Atoms(2, gamma=-1), "gamma.*> 0"),
        (lambda: Atoms(2, gamma_matrix=[[1, 1.5], [1.5, 1]]), "positive semidefinite"),
        (lambda: Atoms(2, gamma_matrix=[[1, 0.5], [0.4, 1]]), "symmetric"),
        (lambda: Atoms(2, gamma_matrix=[[1, 0], [0, 2]]), "diagonal"),
        (lambda: Atoms(3, gamma_matrix=np.eye(2)), r"shape \(3, 3\)"),
        (lambda: Atoms(2, dipolar_matrix=[[1, 0], [0, 0]]), "zero diagonal"),
        (lambda: Atoms.pair(1.2), "gamma12"),
        (lambda: Bath(-0.1), "temperature.*>= 0"),
        (lambda: Bath(float("nan")), "temperature"),
        (lambda: InitialState("hot"), "initial_state.*one of"),
        (lambda: InitialState("thermal"), "initial_temperature"),
        (lambda: InitialState.thermal(-1.0), "initial_temperature"),
        (lambda: InitialState.from_matrix([[0.5, 0.6], [0.6, 0.5]]), "positive semidefinite"),
        (lambda: InitialState.from_matrix([[0.5, 0.1], [0.2, 0.5]]), "Hermitian"),
        (lambda: InitialState.from_matrix([[0.6, 0], [0, 0.6]]), "trace 1"),
        (lambda: InitialState("eg").density_matrix(3), "2 atoms"),
        (lambda: Collision(0.0), "theta"),
        (lambda: Collision(0.3, ordering="sideways"), "ordering.*palindromic"),
        (lambda: Collision(0.3, ancilla="pure"), "ancilla.*purify"),
        (lambda: Harvest(rate=0.0), "rate"),
        (lambda: Harvest(theta=-0.1), "theta"),
        (lambda: Harvest(cluster_size=0), "cluster_size"),
    ],
)
def test_bad_parameters_raise_clear_errors(build, match):
    with pytest.raises(ParameterError, match=match):
        build()


def test_collision_time_step_eq_5_2():
    bath = Bath(1.0)
    dt = Collision(0.3).time_step(bath, gamma=2.0)
    assert dt == pytest.approx(0.09 / (2.0 * (2 * bath.nbar + 1)), rel=1e-15)
    with pytest.raises(ParameterError, match="finite"):
        Collision(0.3).time_step(Bath(np.inf))
