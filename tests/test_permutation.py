"""Permutation-invariant solver (qcharge.reference.permutation) against the full-space solver, the Dicke
solver (its gamma12 = gamma limit), QuTiP's PIQS and the structure of (1.1).

Tolerances:
* ``FULL`` 1e-10: vs the full-space Krylov solver (tol 1e-10 per state; observed <= 1e-14 for N <= 6).
* ``DICKE`` 1e-10: vs ``solve_dicke`` at N = 40 (its C_l1 is certified to ~1e-5 absolute on values ~1e4,
  i.e. 1e-9 relative; our weights are accurate to ~1e-13 of their l1 norm; observed <= 3e-13 relative).
* ``PIQS`` 1e-7: vs PIQS's Liouvillian through ``qutip.mesolve``. PIQS computes its rates in C ``float``
  (32-bit, qutip/piqs/_piqs.pyx), so its answers move by ~1e-8 relative: at N = 6, t = 6 its converged energy
  (mesolve at 1e-13) is 1.37122787001 against 1.37122793307 here and from the full-space solver (to 1e-14).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from qcharge import Atoms, Bath, InitialState, ParameterError
from qcharge.reference.charging import charge, choose_method
from qcharge.reference.permutation import (
    class_basis,
    class_generator,
    is_permutation_invariant,
    memory_estimate_gb,
    solve_permutation,
    uniform_rates,
)

FULL = 1e-10
DICKE = 1e-10
PIQS = 1e-7


def uniform_atoms(n: int, gamma12: float, dipolar: float = 0.0) -> Atoms:
    g = np.full((n, n), gamma12) + (1.0 - gamma12) * np.eye(n)
    om = dipolar * (np.ones((n, n)) - np.eye(n))
    return Atoms(n, gamma_matrix=g, dipolar_matrix=om)


INITIALS = {"ground": InitialState(), "thermal": InitialState.thermal(0.5), "excited": InitialState("excited")}
FULL_CASES = [
    (2, 0.8, 0.0, 1.0, "thermal"),
    (3, 0.7, 0.3, 1.0, "ground"),  # uniform Omega: no effect in Delta n = 0, checked by the full solver
    (3, -0.4, 0.0, 2.0, "excited"),  # negative gamma12 (PSD needs gamma12 >= -gamma/(N-1))
    (4, 0.9, -0.5, 1.5, "thermal"),
    (5, 0.5, 0.2, 1.0, "excited"),
    (6, 0.9, 0.0, 1.0, "ground"),
    (6, 0.3, 0.7, 3.0, "thermal"),
]


@pytest.mark.parametrize("n,g12,dipolar,temperature,kind", FULL_CASES)
def test_matches_full_space(n, g12, dipolar, temperature, kind):
    atoms, bath = uniform_atoms(n, g12, dipolar), Bath(temperature)
    times = [0.0, 0.3, 1.0, 4.0]
    ours = charge(atoms, bath, INITIALS[kind], times, method="permutation")
    full = charge(atoms, bath, INITIALS[kind], times, method="full")
    for key in ("coherence_l1", "coherence_re", "energy", "heat"):
        assert np.abs(np.subtract(getattr(ours, key), getattr(full, key))).max() < FULL, key
    # not vacuous: coherences are created on the way
    assert max(ours.coherence_l1) > 1e-2


@pytest.mark.parametrize("kind", ["ground", "thermal"])
def test_dicke_limit_matches_dicke_solver_n40(kind):
    # gamma12 = gamma through the permutation solver (a general Gamma matrix) vs the J-multiplet chains
    n = 40
    atoms = Atoms(n, gamma_matrix=np.ones((n, n)))
    times = [0.1, 1.0, 10.0]
    ours = solve_permutation(atoms, Bath(1.0), INITIALS[kind], times)
    ref = charge(Atoms.dicke(n), Bath(1.0), INITIALS[kind], times, method="dicke")
    rel = np.abs(np.array(ours.coherence_l1) / np.array(ref.coherence_l1) - 1)
    assert rel.max() < DICKE
    assert np.abs(np.subtract(ours.energy, ref.energy)).max() < DICKE
    assert np.abs(np.subtract(ours.coherence_re, ref.coherence_re)).max() < DICKE


def test_issue_target_n40_gamma12_09():
    # Issue 9 target: N = 40, gamma = 0.9 J + 0.1 I. Trace, positivity of the populations, monotone
    # approach to the Gibbs state (unique: Gamma has full rank), and the gamma12 < gamma coherence is
    # only transient, below the Dicke value at equal time.
    n = 40
    atoms = uniform_atoms(n, 0.9)
    times = np.linspace(0.0, 20.0, 21)
    res = solve_permutation(atoms, Bath(1.0), InitialState(), times, long_time=True)
    pops = np.array(res.populations)
    assert np.abs(pops.sum(axis=1) - 1).max() < 1e-12  # trace: sums of O(1) weights, round-off only
    assert pops.min() > -1e-12
    gibbs = res.long_time["energy"]
    assert gibbs == pytest.approx(n / (1 + math.e), abs=1e-12)
    gap = np.abs(np.array(res.energy) - gibbs)
    assert np.all(np.diff(gap[5:]) < 0)
    dicke = charge(Atoms.dicke(n), Bath(1.0), InitialState(), [2.0, 20.0])
    assert res.coherence_l1[2] < dicke.coherence_l1[0]
    assert res.coherence_l1[-1] < 1e-1 * dicke.coherence_l1[1]
    assert res.sector_dim == 21 * 21


def test_matches_piqs():
    # PIQS (qutip.piqs): collective rates gamma12 (nbar+1), gamma12 nbar; local (gamma - gamma12) (nbar+1), ...
    import qutip
    from qutip import piqs  # qutip binds the module qutip.piqs.piqs here (the package __init__ is empty)

    n, g12, temperature = 6, 0.9, 1.0
    nbar = Bath(temperature).nbar
    system = piqs.Dicke(
        n,
        emission=(1 - g12) * (nbar + 1),
        pumping=(1 - g12) * nbar,
        collective_emission=g12 * (nbar + 1),
        collective_pumping=g12 * nbar,
    )
    jz = piqs.jspin(n, "z")
    system.hamiltonian = jz
    rho0 = piqs.ground(n)
    times = [0.0, 0.5, 2.0, 6.0]
    res = qutip.mesolve(system.liouvillian(), rho0, times, [], e_ops=[jz], options={"atol": 1e-10, "rtol": 1e-10})
    ours = solve_permutation(uniform_atoms(n, g12), Bath(temperature), InitialState(), times)
    assert np.abs(np.asarray(res.expect[0]) + n / 2 - ours.energy).max() < PIQS


def test_generator_structure():
    # trace preservation: the population rows of M_y sum to 0 in every column (d/dt sum_k W_k = 0)
    n = 7
    gen = class_generator(uniform_atoms(n, 0.6, 0.4), Bath(0.8)).toarray()
    classes, _ = class_basis(n)
    pop = classes[:, 1] == 0
    assert np.abs(gen[pop].sum(axis=0)).max() < 1e-12  # sums of O(10) rates: round-off
    assert len(classes) == (n // 2 + 1) * ((n + 1) // 2 + 1)
    # all sectors together span the commutant of S_N: C(N+3, 3) classes
    assert sum(len(class_basis(n, d)[0]) * (2 if d else 1) for d in range(n + 1)) == math.comb(n + 3, 3)


def test_auto_dispatch_and_cli(tmp_path, capsys):
    # Issue 9: `charge --atoms 20 --gamma-matrix G.json` asked for 16 TiB; auto now picks this solver.
    from qcharge.cli import main

    atoms = uniform_atoms(20, 0.9)
    assert choose_method(atoms, InitialState()) == "permutation"
    assert choose_method(Atoms.dicke(20), InitialState()) == "dicke"
    assert choose_method(atoms, InitialState("eg")) == "full"
    path = tmp_path / "G.json"
    path.write_text(json.dumps(atoms.gamma_matrix.tolist()))
    rc = main(["charge", "--atoms", "20", "--temperature", "1", "--gamma-matrix", str(path), "--times", "0.5", "2", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["method"] == "permutation"
    assert out["log10_coherence_l1"][0] > 2.0  # ~10^2.3 at gamma t = 0.5


def test_long_time_is_gibbs_and_needs_full_rank():
    res = solve_permutation(uniform_atoms(4, 0.5), Bath(2.0), InitialState.thermal(0.5), [], long_time=True)
    assert res.long_time["coherence_l1"] == 0.0
    assert res.long_time["energy"] == pytest.approx(4 / (1 + math.exp(0.5)), abs=1e-14)
    late = solve_permutation(uniform_atoms(4, 0.5), Bath(2.0), InitialState.thermal(0.5), [200.0])
    assert late.energy[0] == pytest.approx(res.long_time["energy"], abs=1e-10)
    with pytest.raises(ParameterError, match="full-rank"):
        solve_permutation(uniform_atoms(3, -0.5), Bath(1.0), InitialState(), [], long_time=True)


def test_bad_input():
    g = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    g[0, 1] = g[1, 0] = 0.4
    bad = Atoms(3, gamma_matrix=g)
    assert not is_permutation_invariant(bad)
    with pytest.raises(ParameterError, match="Argument `atoms` must have uniform off-diagonal"):
        solve_permutation(bad, Bath(1.0), InitialState(), [1.0])
    with pytest.raises(ParameterError, match="method"):
        charge(bad, Bath(1.0), InitialState(), [1.0], method="permutation")
    with pytest.raises(ParameterError, match="Argument `initial`"):
        solve_permutation(uniform_atoms(2, 0.5), Bath(1.0), InitialState("eg"), [1.0])
    with pytest.raises(ParameterError, match="times"):
        solve_permutation(uniform_atoms(2, 0.5), Bath(1.0), InitialState(), [2.0, 1.0])
    with pytest.raises(ParameterError, match="temperature"):
        solve_permutation(uniform_atoms(2, 0.5), Bath(math.inf), InitialState(), [1.0])
    # size checked before allocating: Dicke atoms of N = 10^9 cost O(1) here
    assert uniform_rates(Atoms.dicke(10**9)) == (1.0, 1.0, 0.0)
    with pytest.raises(ParameterError, match=r"atoms = 1000000000 needs about [\d.e+]+ GB"):
        solve_permutation(Atoms.dicke(10**9), Bath(1.0), InitialState(), [1.0])
    assert memory_estimate_gb(40) < 0.01


@pytest.mark.parametrize("n,g12,dipolar,temperature", [(2, 0.8, 0.3, 1.0), (4, 0.9, -0.5, 0.5), (5, -0.2, 0.4, 2.0)])
def test_coherent_product_state_all_sectors(n, g12, dipolar, temperature):
    # rho_1^(x)N with a coherent rho_1: every Delta n sector (C(N+3, 3) classes), where uniform Omega and the
    # lab-frame phases do act; vs the full-space solver (FULL).
    from functools import reduce

    from qcharge.coherence import l1_coherence
    from qcharge.reference.lindblad import evolve
    from qcharge.thermo import energy

    psi = np.array([math.cos(0.35), np.exp(0.4j) * math.sin(0.35)])
    rho1 = 0.9 * np.outer(psi, psi.conj()) + 0.05 * np.eye(2)
    atoms, bath = uniform_atoms(n, g12, dipolar), Bath(temperature)
    times = [0.0, 0.3, 1.0, 4.0]
    ours = solve_permutation(atoms, bath, rho1, times)
    full = evolve(atoms, bath, reduce(np.kron, [rho1] * n), times)
    assert ours.sector_dim == math.comb(n + 3, 3)
    assert np.abs(np.subtract(ours.coherence_l1, [l1_coherence(r) for r in full])).max() < FULL
    assert np.abs(np.subtract(ours.energy, [energy(r, atoms.omega) for r in full])).max() < FULL
    assert all(math.isnan(c) for c in ours.coherence_re)  # documented: needs the multiplet spectrum
    with pytest.raises(ParameterError, match="Argument `initial` must be an InitialState or a 2x2"):
        solve_permutation(atoms, bath, np.eye(4) / 4, times)


def test_work_checked_before_starting():
    # N = 1000 to gamma t = 20 would run for days (dense Johnson tables, ~10^6 s of sparse propagation):
    # refused up front, naming atoms and the estimated time; the overflow-prone weights are built in logs.
    atoms = uniform_atoms(1000, 0.9)
    with pytest.raises(ParameterError, match=r"Argument `atoms`.*atoms = 1000 needs about [\d.e+]+ s"):
        solve_permutation(atoms, Bath(1.0), InitialState(), [20.0])
    with pytest.raises(ParameterError, match="float range"):
        solve_permutation(uniform_atoms(1100, 0.9), Bath(1.0), np.full((2, 2), 0.5), [1.0])
