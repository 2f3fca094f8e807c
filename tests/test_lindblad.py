"""Full-space collective master equation (qcharge.reference.lindblad) against QuTiP, closed forms and
the symmetry facts of docs/physics.md §1.1-1.3.

Tolerances (each assertion repeats the relevant one):
* ``LIOUV`` 1e-13: our sparse Liouvillian vs ``qutip.liouvillian``: same formula, only the summation
  order of a handful of O(1) terms differs (observed <= 1e-15).
* ``QUTIP`` 1e-10: states vs ``qutip.mesolve`` at atol = rtol = 1e-12. QuTiP's adaptive integrator
  accumulates ~1e-12 per unit time (observed <= 3e-12 vs dense expm for t <= 5); ours is ~1e-14.
* ``EXACT`` 1e-12: quantities that are exact identities (conserved p_A, Omega12 irrelevance, Gibbs
  stationarity) in float64 at dimension <= 64 with solver tol 1e-10 (observed <= 1e-13).
* ``LONG`` 1e-9: long-time states; ``long_time_state`` guarantees ~tol = 1e-10 in Frobenius norm, the
  l1 sum over <= 56 off-diagonal entries can amplify that by a few.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import qutip
import scipy.integrate
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from qcharge import Atoms, Bath, ConvergenceError, InitialState, ParameterError
from qcharge.reference.lindblad import (
    evolve,
    liouvillian,
    long_time_state,
    memory_estimate_gb,
    sector_indices,
)
from qcharge.states import (
    SIGMA_MINUS,
    basis_state,
    excitation_numbers,
    ground_state,
    local_operator,
    thermal_state,
)

from . import systems
from .conftest import random_density_matrix

LIOUV = 1e-13
QUTIP = 1e-10
EXACT = 1e-12
LONG = 1e-9

T_BATH = 1.0  # bath temperature T = omega (x = e^-1) unless stated otherwise
OMEGA_NONUNIFORM = np.array([[0.0, 0.3, 0.1], [0.3, 0.0, -0.2], [0.1, -0.2, 0.0]])
GAMMA_N3 = np.array([[1.0, 0.8, 0.5], [0.8, 1.0, 0.6], [0.5, 0.6, 1.0]])


# ---------------------------------------------------------------------------------------------
# helpers (independent of the solver)
# ---------------------------------------------------------------------------------------------


def l1(rho: np.ndarray) -> float:
    """C_l1 = sum of |off-diagonal| (inline: coherence.py is tested on its own)."""
    return float(np.abs(rho).sum() - np.abs(np.diag(rho)).sum())


def n_avg(rho: np.ndarray) -> float:
    n = int(round(math.log2(rho.shape[0])))
    return float(np.real(np.diag(rho)) @ excitation_numbers(n))


def qutip_model(atoms: Atoms, bath: Bath) -> tuple[qutip.Qobj, list[qutip.Qobj]]:
    """H and collapse operators of docs/physics.md (1.1): sigma_- = destroy(2) (never sigmam), atom 0 leftmost,
    L_mu from the eigendecomposition of Gamma, CSR format."""
    n, nbar = atoms.n, bath.nbar
    sm, eye = qutip.destroy(2).to("CSR"), qutip.qeye(2).to("CSR")
    s = [qutip.tensor([sm if q == i else eye for q in range(n)]).to("CSR") for i in range(n)]
    h = sum(atoms.omega * s[i].dag() * s[i] for i in range(n))
    om = atoms.dipolar_matrix
    for i in range(n):
        for j in range(n):
            if i != j and om[i, j] != 0:
                h = h + om[i, j] * s[i].dag() * s[j]
    lam, vec = np.linalg.eigh(atoms.gamma_matrix)
    c_ops = []
    for mu in range(n):
        if lam[mu] <= 1e-14:
            continue
        lop = sum(vec[i, mu] * s[i] for i in range(n))
        c_ops.append((math.sqrt(lam[mu] * (nbar + 1)) * lop).to("CSR"))
        if nbar > 0:
            c_ops.append((math.sqrt(lam[mu] * nbar) * lop.dag()).to("CSR"))
    return h.to("CSR"), c_ops


def qutip_states(atoms: Atoms, bath: Bath, rho0: np.ndarray, times) -> list[np.ndarray]:
    h, c_ops = qutip_model(atoms, bath)
    dims = [[2] * atoms.n] * 2
    res = qutip.mesolve(
        h,
        qutip.Qobj(rho0, dims=dims).to("CSR"),
        list(times),
        c_ops,
        options={"atol": 1e-12, "rtol": 1e-12, "nsteps": 10**6},
    )
    return [s.full() for s in res.states]


def multiplet_basis(n: int) -> list[tuple[float, np.ndarray]]:
    """Schur-Weyl basis: for each J a (2J+1, d_J, 2^N) array of |J, M, alpha> (M descending), built from the
    highest-weight vectors (ker J+ in sector k >= N/2) and the ladder J-."""
    jm = sum(local_operator(SIGMA_MINUS, i, n) for i in range(n)).real
    jp = jm.T
    exc = excitation_numbers(n)
    out = []
    for k in range(n, (n - 1) // 2, -1):
        sector = np.flatnonzero(exc == k)
        up = jp[:, sector]  # J+ restricted to sector k
        _, sv, vh = np.linalg.svd(up, full_matrices=True)
        rank = int(np.sum(sv > 1e-10))
        hw = vh[rank:].conj()  # orthonormal highest-weight vectors, d_J of them
        if len(hw) == 0:
            continue
        vecs = np.zeros((len(hw), 2**n))
        vecs[:, sector] = hw.real
        ladder = [vecs]
        big_j = k - n / 2
        for _ in range(int(round(2 * big_j))):
            nxt = ladder[-1] @ jm.T
            ladder.append(nxt / np.linalg.norm(nxt, axis=1, keepdims=True))
        out.append((big_j, np.array(ladder)))
    return out


def dicke_long_time(rho0: np.ndarray, n: int, x: float) -> np.ndarray:
    """docs/physics.md (1.3): rho_inf = sum_J sigma_J (x) R_J(0)."""
    rho = np.zeros_like(rho0, dtype=complex)
    for big_j, vec in multiplet_basis(n):
        two_j = int(round(2 * big_j))
        # R_J[a, b] = sum_M <J M a| rho0 |J M b>
        r_j = sum(vec[m] @ rho0 @ vec[m].T for m in range(two_j + 1))
        for m in range(two_j + 1):  # m = 0 is M = +J
            exc = two_j - m  # J + M
            weight = x**exc * (1 - x) / (1 - x ** (two_j + 1))
            rho += weight * vec[m].T @ r_j @ vec[m]
    return rho


def dissipator_and_hamiltonian(atoms: Atoms, bath: Bath):
    """Dense H0, H_Omega and a function D(rho) for (1.1), written out term by term."""
    n, nbar = atoms.n, bath.nbar
    sm = [local_operator(SIGMA_MINUS, i, n) for i in range(n)]
    sp_ = [s.conj().T for s in sm]
    h0 = atoms.omega * sum(sp_[i] @ sm[i] for i in range(n))
    hom = sum(
        atoms.dipolar_matrix[i, j] * sp_[i] @ sm[j] for i in range(n) for j in range(n) if i != j
    )
    g = atoms.gamma_matrix

    def diss(rho):
        out = np.zeros_like(rho)
        for i in range(n):
            for j in range(n):
                a = sp_[i] @ sm[j]
                out += g[i, j] * (nbar + 1) * (sm[j] @ rho @ sp_[i] - 0.5 * (a @ rho + rho @ a))
                b = sm[i] @ sp_[j]
                out += g[i, j] * nbar * (sp_[j] @ rho @ sm[i] - 0.5 * (b @ rho + rho @ b))
        return out

    return h0, hom, diss


def eg_pair() -> np.ndarray:
    return basis_state("10")


def pair_vectors():
    gg = np.array([1.0, 0, 0, 0])
    s = np.array([0, 1.0, 1.0, 0]) / math.sqrt(2)  # (|eg> + |ge>)/sqrt2; index 2 = |eg> (atom 0 excited)
    a = np.array([0, -1.0, 1.0, 0]) / math.sqrt(2)  # (|eg> - |ge>)/sqrt2
    ee = np.array([0, 0, 0, 1.0])
    return gg, s, a, ee


# ---------------------------------------------------------------------------------------------
# Liouvillian
# ---------------------------------------------------------------------------------------------

LIOUV_CASES = [
    ("dicke2", Atoms.dicke(2), Bath(T_BATH)),
    ("pair_g08_om03", Atoms.pair(0.8, dipolar=0.3), Bath(0.7)),
    ("n3_general", Atoms(3, gamma_matrix=GAMMA_N3, dipolar_matrix=OMEGA_NONUNIFORM), Bath(2.0)),
    ("n3_T0", Atoms(3, dipolar_matrix=OMEGA_NONUNIFORM), Bath(0.0)),
    ("n4_independent", Atoms.independent(4), Bath(1.5)),
]


@pytest.mark.parametrize("name,atoms,bath", LIOUV_CASES, ids=[c[0] for c in LIOUV_CASES])
def test_liouvillian_equals_qutip(name, atoms, bath):
    # same superoperator up to summation order (LIOUV = 1e-13)
    h, c_ops = qutip_model(atoms, bath)
    lq = qutip.liouvillian(h, c_ops).full()
    ours = liouvillian(atoms, bath).toarray()
    assert np.abs(ours - lq).max() < LIOUV
    # the rotating frame differs by -i omega [N, .] only
    rot = liouvillian(atoms, bath, frame="rotating").toarray()
    h0 = qutip.Qobj(np.diag(atoms.omega * excitation_numbers(atoms.n)).astype(complex), dims=h.dims)
    l0 = qutip.liouvillian(h0, []).full()
    assert np.abs(ours - rot - l0).max() < LIOUV


def test_qutip_liouvillian_has_u1_symmetry():
    # docs/physics.md §1.2.1, checked on QuTiP's own Liouvillian: no entry connects different Delta n sectors.
    atoms = Atoms(3, gamma_matrix=GAMMA_N3, dipolar_matrix=OMEGA_NONUNIFORM)
    h, c_ops = qutip_model(atoms, Bath(1.3))
    lq = qutip.liouvillian(h, c_ops).full()
    exc = excitation_numbers(3)
    dn = (exc[:, None] - exc[None, :]).ravel(order="F")  # QuTiP stacks columns
    rows, cols = np.nonzero(np.abs(lq) > 0)
    assert np.all(dn[rows] == dn[cols])


def test_sector_liouvillian_is_restriction():
    atoms, bath = Atoms.pair(0.8, dipolar=0.3), Bath(0.9)
    full = liouvillian(atoms, bath).toarray()
    for d in range(-2, 3):
        r, c = sector_indices(2, d)
        colstack = c * 4 + r
        block = full[np.ix_(colstack, colstack)]
        assert np.abs(liouvillian(atoms, bath, delta_n=d).toarray() - block).max() == 0.0  # same entries copied, no arithmetic
    assert sum(len(sector_indices(4, d)[0]) for d in range(-4, 5)) == 4**4
    assert len(sector_indices(10, 0)[0]) == math.comb(20, 10)  # 184756


# ---------------------------------------------------------------------------------------------
# Dynamics vs QuTiP
# ---------------------------------------------------------------------------------------------


def _initial(kind: str, n: int, rng) -> np.ndarray:
    if kind == "ground":
        return ground_state(n)
    if kind == "thermal":
        return thermal_state(n, 0.5)
    if kind == "eg":
        return basis_state("1" + "0" * (n - 1))
    return random_density_matrix(2**n, rng)  # coherences of every Delta n


QUTIP_CASES = [
    (Atoms.dicke(2), T_BATH, "ground"),
    (Atoms.dicke(2), T_BATH, "thermal"),
    (Atoms.dicke(2), T_BATH, "eg"),
    (Atoms.dicke(2), T_BATH, "random"),
    (Atoms.pair(0.8, dipolar=0.3), T_BATH, "ground"),
    (Atoms.pair(0.8, dipolar=0.3), T_BATH, "thermal"),
    (Atoms.pair(0.8, dipolar=0.3), T_BATH, "eg"),
    (Atoms.pair(0.8, dipolar=0.3), 0.4, "random"),
    (Atoms(3, dipolar_matrix=OMEGA_NONUNIFORM), T_BATH, "eg"),
    (Atoms(3, dipolar_matrix=OMEGA_NONUNIFORM), T_BATH, "random"),
    (Atoms(3, gamma_matrix=GAMMA_N3, dipolar_matrix=OMEGA_NONUNIFORM), 2.0, "random"),
    (Atoms(3, gamma_matrix=GAMMA_N3, dipolar_matrix=OMEGA_NONUNIFORM), 0.0, "random"),
    (Atoms.dicke(4, dipolar=0.25), T_BATH, "thermal"),
    (Atoms.dicke(4), T_BATH, "random"),
    (Atoms.dicke(5), T_BATH, "thermal"),
    (Atoms.dicke(5), 3.0, "random"),
]


@pytest.mark.parametrize(
    "atoms,temperature,kind",
    QUTIP_CASES,
    ids=[f"N{a.n}-{'dicke' if a.is_dicke else 'general'}-T{t}-{k}" for a, t, k in QUTIP_CASES],
)
def test_evolve_matches_qutip(atoms, temperature, kind, rng):
    bath = Bath(temperature)
    rho0 = _initial(kind, atoms.n, rng)
    times = [0.0, 0.3, 1.0, 2.5, 5.0]
    ours = evolve(atoms, bath, rho0, times)
    ref = qutip_states(atoms, bath, rho0, times)
    for r, q in zip(ours, ref):
        # QUTIP = 1e-10: mesolve at atol = rtol = 1e-12 is accurate to a few 1e-12 here
        assert np.abs(r - q).max() < QUTIP
    # t = 0 returns rho0 made exactly Hermitian: a Ginibre state g g^H carries ~1e-19 anti-Hermitian
    # round-off from its BLAS product (how much depends on the BLAS build), which evolve removes. So
    # compare to 1e-15 (a few ulp of entries <= 1), never bit by bit.
    assert np.abs(ours[0] - rho0).max() < 1e-15


def test_evolve_matches_dense_exponential(rng):
    # Tight reference: dense expm of the full 64x64 Liouvillian (QuTiP's own, column stacking).
    atoms = Atoms(3, gamma_matrix=GAMMA_N3, dipolar_matrix=OMEGA_NONUNIFORM)
    bath = Bath(0.8)
    h, c_ops = qutip_model(atoms, bath)
    lq = qutip.liouvillian(h, c_ops).full()
    rho0 = random_density_matrix(8, rng)
    times = np.array([0.0, 0.01, 0.7, 3.0, 12.0, 40.0])
    ours = evolve(atoms, bath, rho0, times)
    for t, r in zip(times, ours):
        exact = (scipy.linalg.expm(t * lq) @ rho0.ravel(order="F")).reshape(8, 8, order="F")
        # solver tol 1e-10 (absolute, Frobenius); observed ~1e-15
        assert np.linalg.norm(r - exact) < 1e-10
    # a tighter tolerance changes the answer by less than the looser one promises
    tight = evolve(atoms, bath, rho0, times, tol=1e-13)
    assert np.abs(tight - ours).max() < 1e-10


def test_dense_output_equals_separate_runs(rng):
    # Many output times inside one Krylov step vs one run per time: both within tol of the truth.
    atoms, bath = Atoms.dicke(4), Bath(0.6)
    rho0 = random_density_matrix(16, rng)
    times = np.linspace(0.0, 6.0, 41)
    many = evolve(atoms, bath, rho0, times)
    for i in (1, 7, 20, 40):
        single = evolve(atoms, bath, rho0, [times[i]])[0]
        assert np.abs(many[i] - single).max() < 1e-10


def test_accepts_initial_state_object():
    atoms, bath = Atoms.dicke(3), Bath(T_BATH)
    a = evolve(atoms, bath, InitialState.thermal(0.5), [0.0, 1.0])
    b = evolve(atoms, bath, thermal_state(3, 0.5), [0.0, 1.0])
    # same state through two entry points; compared to the solver tol (1e-10), not bit by bit
    assert np.abs(a - b).max() < 1e-12
    assert evolve(atoms, bath, ground_state(3), []).shape == (0, 8, 8)


# ---------------------------------------------------------------------------------------------
# Symmetries (docs/physics.md §1.2)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ground", "thermal", "eg", "dephased_random"])
def test_u1_delta_n_zero_stays(kind, rng):
    # 1.2.1: from [rho0, N] = 0 the Delta n != 0 blocks stay exactly 0 (they are never generated).
    atoms = Atoms(3, gamma_matrix=GAMMA_N3, dipolar_matrix=OMEGA_NONUNIFORM)
    n = 3
    if kind == "dephased_random":
        rho0 = random_density_matrix(8, rng)
        exc = excitation_numbers(n)
        rho0 = np.where(exc[:, None] == exc[None, :], rho0, 0)
    else:
        rho0 = _initial(kind, n, rng)
    states = evolve(atoms, Bath(1.2), rho0, [0.5, 3.0, 10.0])
    exc = excitation_numbers(n)
    mask = exc[:, None] != exc[None, :]
    assert np.all(states[:, mask] == 0)
    # and Delta n = 0 coherences are generated on the way (so the test is not vacuous; full-rank Gamma:
    # they decay again towards the unique Gibbs state)
    assert max(l1(r) for r in states) > 1e-2


GIBBS_CASES = [
    Atoms.dicke(3),
    Atoms.dicke(3, dipolar=0.7),
    Atoms.pair(0.8, dipolar=0.3),
    Atoms.pair(-0.5, dipolar=-1.1),
    Atoms(3, gamma_matrix=GAMMA_N3, dipolar_matrix=OMEGA_NONUNIFORM),
    Atoms.independent(3),
]


@pytest.mark.parametrize("atoms", GIBBS_CASES)
@pytest.mark.parametrize("temperature", [0.0, 0.4, 1.0, 5.0])
def test_gibbs_state_is_steady(atoms, temperature):
    # 1.2.2: product Gibbs state at the bath temperature is a steady state for every Gamma, Omega.
    bath = Bath(temperature)
    rho_g = thermal_state(atoms.n, temperature)
    lv = liouvillian(atoms, bath)
    assert np.abs(lv @ rho_g.ravel(order="F")).max() < EXACT
    states = evolve(atoms, bath, rho_g, [1.0, 30.0])
    assert np.abs(states - rho_g).max() < EXACT


@pytest.mark.parametrize(
    "rho0_name", ["gg", "ee", "thermal0.5", "thermal2", "random_SA_diagonal"]
)
def test_pair_omega12_irrelevant_from_sa_diagonal_states(rho0_name, rng):
    # 1.2.3: from states diagonal in {gg, S, A, ee}, C_l1(t) and E(t) do not depend on Omega12 (to 1e-12).
    gg, s, a, ee = pair_vectors()
    if rho0_name == "gg":
        rho0 = np.outer(gg, gg)
    elif rho0_name == "ee":
        rho0 = np.outer(ee, ee)
    elif rho0_name.startswith("thermal"):
        rho0 = thermal_state(2, float(rho0_name[7:]))
    else:
        p = rng.dirichlet(np.ones(4))
        rho0 = sum(pi * np.outer(v, v) for pi, v in zip(p, (gg, s, a, ee)))
    times = [0.2, 1.0, 3.0, 8.0]
    for g12 in (1.0, 0.8):
        base = evolve(Atoms.pair(g12, dipolar=0.0), Bath(T_BATH), rho0, times)
        for om in (0.3, -1.7):
            other = evolve(Atoms.pair(g12, dipolar=om), Bath(T_BATH), rho0, times)
            for r0, r1 in zip(base, other):
                assert abs(l1(r0) - l1(r1)) < EXACT
                assert abs(n_avg(r0) - n_avg(r1)) < EXACT


def test_pair_omega12_acts_from_eg():
    # 1.2.3: from |eg> = (|S> + |A>)/sqrt2, Omega12 rotates the S-A coherence: Im rho_{eg,ge} != 0.
    times = [0.5, 2.0]
    no_om = evolve(Atoms.pair(0.8, dipolar=0.0), Bath(T_BATH), eg_pair(), times)
    with_om = evolve(Atoms.pair(0.8, dipolar=0.3), Bath(T_BATH), eg_pair(), times)
    assert np.abs(no_om[:, 2, 1].imag).max() < EXACT
    assert np.abs(with_om[:, 2, 1].imag).max() > 1e-2


@pytest.mark.parametrize("dipolar", [0.0, 0.5])
@pytest.mark.parametrize("temperature", [0.0, 1.0, 4.0])
def test_singlet_population_conserved_in_dicke_limit(dipolar, temperature, rng):
    # 1.3: J = 0 singlet |A> is dark; p_A = <A|rho|A> is conserved (any initial state, uniform Omega).
    _, _, a, _ = pair_vectors()
    rho0 = random_density_matrix(4, rng)
    p_a0 = a @ rho0 @ a
    states = evolve(Atoms.dicke(2, dipolar=dipolar), Bath(temperature), rho0, [0.5, 5.0, 50.0])
    for r in states:
        assert abs(a @ r @ a - p_a0) < EXACT


# ---------------------------------------------------------------------------------------------
# Long-time states (docs/physics.md §1.3, 2.3, 2.4)
# ---------------------------------------------------------------------------------------------


def test_long_time_pair_from_ground():
    # 2.3: C_l1 = x/(1+x+x^2) = 0.2447284710547976 at T = omega
    rho = long_time_state(Atoms.dicke(2), Bath(T_BATH), ground_state(2))
    assert l1(rho) == pytest.approx(systems.pair_l1_from_ground(T_BATH), abs=LONG)
    assert l1(rho) == pytest.approx(0.2447284710547976, abs=LONG)
    # agrees with a plain evolution to gamma t = 60 (docs/physics.md: 40 and 60 agree to 1e-11)
    late = evolve(Atoms.dicke(2), Bath(T_BATH), ground_state(2), [40.0, 60.0])
    assert np.abs(late[1] - late[0]).max() < 1e-11
    assert np.abs(rho - late[1]).max() < 1e-10


def test_long_time_pair_from_thermal():
    # 2.4: T = omega, T0 = 0.5 omega: p_A = 0.1049935854, C_l1 = |p_S - p_A| = 0.1140399660, dQ = 0.2467771738
    _, p_s, p_a, _ = systems.pair_populations(T_BATH, 0.5)
    rho0 = thermal_state(2, 0.5)
    rho = long_time_state(Atoms.dicke(2), Bath(T_BATH), rho0)
    _, _, a, _ = pair_vectors()
    assert a @ rho @ a == pytest.approx(0.1049935854, abs=1e-10)
    assert l1(rho) == pytest.approx(abs(p_s - p_a), abs=LONG)
    assert l1(rho) == pytest.approx(0.1140399660, abs=LONG)
    assert n_avg(rho) - n_avg(rho0) == pytest.approx(0.2467771738, abs=LONG)


@pytest.mark.parametrize("dipolar", [0.0, 0.4])
def test_long_time_n3_dicke_formula(dipolar, rng):
    # (1.3): rho_inf = sum_J sigma_J (x) R_J(0) from a random state (inter-J and Delta n != 0 coherences
    # all decay at nbar > 0); uniform Omega does not change it.
    x = math.exp(-1.0)
    rho0 = random_density_matrix(8, rng)
    rho = long_time_state(Atoms.dicke(3, dipolar=dipolar), Bath(T_BATH), rho0)
    expected = dicke_long_time(rho0, 3, x)
    assert np.abs(rho - expected).max() < LONG
    # the multiplet basis helper itself: 2^3 = 4 + 2 * 2 states
    assert sum(v.shape[0] * v.shape[1] for _, v in multiplet_basis(3)) == 8


def test_long_time_dicke_ground_closed_form():
    # (2.3) for N = 2..6: C_l1 = (1-x)(1+x)^N/(1-x^(N+1)) - 1
    for n in range(2, 7):
        rho = long_time_state(Atoms.dicke(n), Bath(T_BATH), ground_state(n))
        assert l1(rho) == pytest.approx(systems.dicke_ground_l1(n, T_BATH), abs=LONG)


def test_long_time_nonuniform_omega_is_gibbs(rng):
    # 1.3: non-uniform Omega (N = 3) mixes multiplets: unique steady state = Gibbs, C_l1 -> 0 (slowly).
    atoms = Atoms(3, dipolar_matrix=OMEGA_NONUNIFORM)
    for rho0 in (ground_state(3), random_density_matrix(8, rng)):
        rho = long_time_state(atoms, Bath(T_BATH), rho0)
        assert np.abs(rho - thermal_state(3, T_BATH)).max() < LONG
        assert l1(rho) < LONG * 10


def test_zero_temperature_dark_coherence():
    # 1.3: nbar = 0, (|gg> + |A>)/sqrt2: |<gg|rho|A>| = 0.5 at gamma t = 50, phase +omega t (mod 2 pi);
    # for nbar = 0.1 it decays (0.0034 at gamma t = 50, quoted to 2 digits -> abs 5e-5).
    gg, _, a, _ = pair_vectors()
    psi = (gg + a) / math.sqrt(2)
    rho0 = np.outer(psi, psi)
    rho = evolve(Atoms.dicke(2), Bath(0.0), rho0, [50.0])[0]
    coh = gg @ rho @ a
    assert abs(coh) == pytest.approx(0.5, abs=1e-10)
    assert np.exp(1j * np.angle(coh)) == pytest.approx(np.exp(1j * 50.0), abs=1e-9)
    warm = evolve(Atoms.dicke(2), Bath(1 / math.log(11.0)), rho0, [50.0])[0]  # nbar = 0.1
    assert abs(gg @ warm @ a) == pytest.approx(0.0034, abs=5e-5)
    # the lab-frame state rotates forever: no long-time limit
    with pytest.raises(ConvergenceError, match="rotates"):
        long_time_state(Atoms.dicke(2), Bath(0.0), rho0)


def test_long_time_not_converged_raises():
    # non-uniform Omega relaxes slowly (rates ~1e-2): max_time = 20 is far too short
    with pytest.raises(ConvergenceError, match="not converged"):
        long_time_state(Atoms(3, dipolar_matrix=OMEGA_NONUNIFORM), Bath(T_BATH), ground_state(3), max_time=20.0)


# ---------------------------------------------------------------------------------------------
# Invariants over random parameters
# ---------------------------------------------------------------------------------------------


def _random_model(seed: int, n: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, n + rng.integers(-1, 2)))  # rank n-1, n or n: PSD, sometimes singular
    g = x @ x.T
    d = np.sqrt(np.diag(g))
    g = g / np.outer(d, d)
    om = rng.normal(size=(n, n))
    om = (om + om.T) / 2
    np.fill_diagonal(om, 0)
    temperature = float(rng.uniform(0.2, 2.0))
    return Atoms(n, gamma_matrix=g, dipolar_matrix=om), Bath(temperature), random_density_matrix(2**n, rng)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([2, 3]))
def test_invariants_random_parameters(seed, n):
    atoms, bath, rho0 = _random_model(seed, n)
    times = np.linspace(0.0, 2.0, 401)
    states = evolve(atoms, bath, rho0, times)
    for r in states:
        assert abs(np.trace(r) - 1) < 1e-10  # trace preserved to the solver tol
        assert np.abs(r - r.conj().T).max() < 1e-14  # Hermitian (made exact)
        assert np.linalg.eigvalsh(r).min() > -1e-10  # positive up to the solver tol
    # first law: dE/dt = Tr[H0 D(rho)] (heat current) and the work rate Tr[H0 (-i[H0 + H_Omega, rho])] = 0
    h0, hom, diss = dissipator_and_hamiltonian(atoms, bath)
    q = np.array([np.trace(h0 @ diss(r)).real for r in states])
    h = h0 + hom
    work = np.array([np.trace(h0 @ (-1j * (h @ r - r @ h))).real for r in states])
    assert np.abs(work).max() < 1e-13
    energy = np.array([np.trace(h0 @ r).real for r in states])
    heat = scipy.integrate.cumulative_simpson(q, x=times, initial=0.0)
    # Simpson with h = 0.005 on sums of exponentials with rates <= ~15 (T <= 2): error (h rate)^4/180 ~ 1e-7
    assert np.abs(heat - (energy - energy[0])).max() < 1e-6


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def _ok():
    return Atoms.dicke(2), Bath(T_BATH), ground_state(2)


@pytest.mark.parametrize(
    "rho0,match",
    [
        (np.array([[0.5, 0.3], [0.1, 0.5]]), "Hermitian"),
        (np.diag([1.2, -0.2, 0.0, 0.0]), "positive semidefinite"),
        (np.diag([0.5, 0.2, 0.2, 0.2]), "trace 1"),
        (np.eye(2) / 2, r"shape \(4, 4\)"),
        (np.ones((4, 3)) / 4, "square"),
    ],
)
def test_bad_rho0(rho0, match):
    atoms, bath, _ = _ok()
    with pytest.raises(ParameterError, match=match) as err:
        evolve(atoms, bath, rho0, [1.0])
    assert "rho0" in str(err.value)
    with pytest.raises(ParameterError, match=match):
        long_time_state(atoms, bath, rho0)


@pytest.mark.parametrize(
    "times,match",
    [([0.0, -1.0], ">= 0"), ([2.0, 1.0], "ascending"), ([0.0, np.nan], "finite"), ([[1.0, 2.0]], "1-D")],
)
def test_bad_times(times, match):
    atoms, bath, rho0 = _ok()
    with pytest.raises(ParameterError, match=match) as err:
        evolve(atoms, bath, rho0, times)
    assert "times" in str(err.value)


def test_infinite_temperature():
    atoms, _, rho0 = _ok()
    hot = Bath(math.inf)
    with pytest.raises(ParameterError, match="temperature"):
        evolve(atoms, hot, rho0, [0.0, 1.0])
    assert np.array_equal(evolve(atoms, hot, rho0, [0.0])[0], rho0)  # t = 0 only: nothing to integrate
    with pytest.raises(ParameterError, match="temperature"):
        long_time_state(atoms, hot, rho0)
    with pytest.raises(ParameterError, match="temperature"):
        liouvillian(atoms, hot)


def test_too_many_atoms():
    bath = Bath(T_BATH)
    with pytest.raises(ParameterError, match=r"max_memory_gb = 2 GB, but atoms = 14 needs about \d+ GB.*'dicke'"):
        evolve(Atoms.dicke(14), bath, np.eye(2), [1.0])
    with pytest.raises(ParameterError, match="atoms = 11"):
        long_time_state(Atoms.dicke(11), bath, np.eye(2))
    with pytest.raises(ParameterError, match=r"max_memory_gb = 0.001 GB"):
        evolve(Atoms.dicke(6), bath, ground_state(6), [1.0], max_memory_gb=0.001)
    # N = 10 fits the default 2 GB, N = 11 does not; N = 12 fits a 24 GB machine (issue 9)
    assert memory_estimate_gb(10, n_times=5) < 2.0 < memory_estimate_gb(11)
    assert memory_estimate_gb(12, n_times=4) < 24.0
    assert all(memory_estimate_gb(n) < memory_estimate_gb(n + 1) for n in range(1, 60))


def test_chunked_assembly_equals_one_piece(monkeypatch):
    # Issue 9 (N = 12 within 24 GB): block rows are assembled in chunks of rows. Chunks of a few rows
    # must give the same matrix as one piece (same entries, same arithmetic: 1e-15 is round-off slack).
    from qcharge.reference import lindblad

    atoms = Atoms(4, gamma_matrix=np.full((4, 4), 0.6) + 0.4 * np.eye(4), dipolar_matrix=0.3 * (np.ones((4, 4)) - np.eye(4)))
    whole = {d: liouvillian(atoms, Bath(0.9), delta_n=d).toarray() for d in (0, 1, 2)}
    monkeypatch.setattr(lindblad, "_BUILD_CHUNK_ENTRIES", 40)  # 1-2 rows of rho_{k,k'} per chunk
    for d, ref in whole.items():
        assert np.abs(liouvillian(atoms, Bath(0.9), delta_n=d).toarray() - ref).max() < 1e-15
    # and the estimate counts a chunk, not the whole block row, once that is larger (N = 12: 17.7 -> 12.3 GB)
    assert memory_estimate_gb(12, n_times=4) < 13.0


def test_memory_estimate_bounds_the_traced_peak(monkeypatch):
    # Issue 9 (N = 12 in 24 GB): the check is honest only if the estimate is an upper bound. tracemalloc sees
    # every numpy array (not the interpreter, so _BASELINE_BYTES is taken off). Before this test the peak
    # was 1.28x the estimate for the assembly (52 B per chunk entry counted, 98 B used; now 67 B used and
    # 80 counted) and 1.33x for 20 times (the Hermitian symmetrization held three more copies of all
    # states); now 0.83-0.88x.
    import tracemalloc

    from qcharge.reference import lindblad

    n, atoms, bath = 8, Atoms.dicke(8), Bath(T_BATH)

    def traced_peak(run) -> int:
        tracemalloc.start()
        try:
            run()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def bound(**kw) -> float:
        return memory_estimate_gb(n, **kw) * 1e9 - lindblad._BASELINE_BYTES

    times = np.linspace(0.0, 2.0, 20)
    assert traced_peak(lambda: evolve(atoms, bath, thermal_state(n, 0.5), times)) < bound(n_times=len(times))
    # assembly alone (krylov_dim = 1 so that the build term is the one counted): whole block rows, then chunks
    for chunk in (lindblad._BUILD_CHUNK_ENTRIES, 5 * 10**4):
        monkeypatch.setattr(lindblad, "_BUILD_CHUNK_ENTRIES", chunk)
        assert traced_peak(lambda: liouvillian(atoms, bath, delta_n=0)) < bound(n_times=0, krylov_dim=1)


def test_size_checked_before_allocating():
    # Issue 6: `charge -N 1000000000 --method full` spent 17 s building the 2^N ground state, then raised
    # a bare ValueError. The estimate is now cheap at any N (inf beyond float range) and runs first.
    from qcharge.reference.charging import charge

    assert memory_estimate_gb(10**9) == math.inf
    assert memory_estimate_gb(400) < math.inf
    with pytest.raises(ParameterError, match=r"Argument `atoms`.*atoms = 1000000000 needs about 10\^60205999\d\.\d GB"):
        charge(Atoms.dicke(10**9), Bath(T_BATH), InitialState(), [1.0], method="full")
    with pytest.raises(ParameterError, match=r"atoms = 20 needs about \d\.\d\de\+06 GB"):
        charge(Atoms.dicke(20), Bath(T_BATH), InitialState(), [1.0], method="full")
    # the cap is the caller's: N = 8 refused at 1 MB, accepted at the default
    with pytest.raises(ParameterError, match="max_memory_gb = 0.001 GB"):
        charge(Atoms.dicke(8), Bath(T_BATH), InitialState(), [1.0], method="full", max_memory_gb=0.001)


@pytest.mark.parametrize(
    ("times", "match"),
    [("abc", "real numbers"), ("1.5", "real numbers"), ([1j], "real numbers"), (None, "real numbers"),
     ([np.nan], "nan is not a time"), ([-1.0], ">= 0"), ([np.inf], "finite"), ([2.0, 1.0], "ascending")],
)
@pytest.mark.parametrize("method", ["dicke", "full"])
def test_charge_names_bad_times(times, match, method):
    # A new user found charge(times="abc") raising a bare ValueError and times=[1j] a bare TypeError: it now
    # shares solve_dicke's check, with every engine.
    from qcharge.reference.charging import charge

    with pytest.raises(ParameterError, match=match) as err:
        charge(Atoms.dicke(2), Bath(T_BATH), InitialState(), times, method=method)
    assert "`times`" in str(err.value)


def test_other_bad_arguments():
    atoms, bath, rho0 = _ok()
    with pytest.raises(ParameterError, match="atoms"):
        evolve("two atoms", bath, rho0, [1.0])
    with pytest.raises(ParameterError, match="bath"):
        evolve(atoms, 1.0, rho0, [1.0])
    with pytest.raises(ParameterError, match="omega"):
        evolve(atoms, Bath(1.0, omega=2.0), rho0, [1.0])
    with pytest.raises(ParameterError, match="tol"):
        evolve(atoms, bath, rho0, [1.0], tol=0.0)
    with pytest.raises(ParameterError, match="frame"):
        liouvillian(atoms, bath, frame="interaction")
    with pytest.raises(ParameterError, match="delta_n"):
        liouvillian(atoms, bath, delta_n=3)


# ---------------------------------------------------------------------------------------------
# Larger systems
# ---------------------------------------------------------------------------------------------


def test_n6_general_random_matches_qutip(rng):
    # all 13 Delta n sectors of a generic state, non-uniform Gamma and Omega (~2 s, mostly QuTiP)
    g = np.full((6, 6), 0.6) + 0.4 * np.eye(6)
    om = 0.2 * rng.normal(size=(6, 6))
    om = om + om.T
    np.fill_diagonal(om, 0)
    atoms = Atoms(6, gamma_matrix=g, dipolar_matrix=om)
    rho0 = random_density_matrix(64, rng)
    times = [0.0, 0.5, 2.0]
    for r, q in zip(evolve(atoms, Bath(T_BATH), rho0, times), qutip_states(atoms, Bath(T_BATH), rho0, times)):
        assert np.abs(r - q).max() < QUTIP


def test_n8_dicke_thermal_long_time_closed_form():
    # (2.1)/(2.7) via the docs/physics.md §2.8 table: N = 8, T0 = 0.5 omega: log10 C_l1 = 0.35148 (5 decimals)
    rho = long_time_state(Atoms.dicke(8), Bath(T_BATH), thermal_state(8, 0.5))
    assert math.log10(l1(rho)) == pytest.approx(0.35148, abs=6e-6)


def test_full_rank_gamma_long_time_is_gibbs(rng):
    # 1.2.2: |gamma12| < gamma -> unique steady state (Gibbs) from any state, C_l1 -> 0
    rho = long_time_state(Atoms.pair(0.8, dipolar=0.3), Bath(0.7), random_density_matrix(4, rng))
    assert np.abs(rho - thermal_state(2, 0.7)).max() < LONG


@pytest.mark.slow
def test_n7_dicke_random_matches_qutip(rng):
    # generic state at N = 7 (QuTiP ~10-20 s)
    rho0 = random_density_matrix(128, rng)
    times = [0.0, 1.0, 4.0]
    atoms, bath = Atoms.dicke(7), Bath(T_BATH)
    for r, q in zip(evolve(atoms, bath, rho0, times), qutip_states(atoms, bath, rho0, times)):
        assert np.abs(r - q).max() < QUTIP


@pytest.mark.slow
def test_n10_within_2gb():
    # issue target: N = 10 (Delta n = 0 sector of 184 756) within 2 GB peak memory, in a fresh process
    code = (
        "from qcharge import Atoms, Bath\n"
        "from qcharge.reference.lindblad import evolve\n"
        "from qcharge.states import thermal_state\n"
        "rho = evolve(Atoms.dicke(10), Bath(1.0), thermal_state(10, 0.5), [0.0, 5.0, 20.0])\n"
        "assert abs(rho[-1].trace() - 1) < 1e-10\n"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    peak_mb = int(proc.stdout.strip()) / 1024
    assert peak_mb < 2000
