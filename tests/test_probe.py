"""Probe harvesting (docs/physics.md §3-4): moments, the exact probe map, its fixed point, Poisson and second-order
dynamics, effective temperatures and the heat current.

References used here are independent of the module under test: the charged pair is built from the
closed form of docs/physics.md §2.4, the probe map is rebuilt with scipy ``expm`` + ``qutip.ptrace``, the
Poisson-averaged probe dynamics with ``qutip.mesolve``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from qcharge import Bath, ConvergenceError, Harvest, InitialState, ParameterError
from qcharge.coherence import dephase
from qcharge.reference.harvest import harvest_summary, make_cluster
from qcharge.reference.probe import (
    charged_cluster,
    cluster_moments,
    heat_current,
    heat_current_second_order,
    probe_collision_map,
    probe_dynamics,
    probe_fixed_point,
    second_order_generator,
    second_order_steady_state,
    teff_closed_form_pair,
    teff_second_order,
)
from qcharge.states import (
    SIGMA_MINUS,
    SIGMA_PLUS,
    collective_lowering,
    dicke_state,
    excitation_numbers,
    excited_probability,
    ground_state,
    local_operator,
    mean_occupation,
    thermal_qubit,
)
from qcharge.thermo import effective_temperature

from . import systems
from .systems import charged_ground_cluster, charged_pair
from .conftest import random_density_matrix

# Exact-vs-exact comparisons of matrices of dimension <= 64: float64 round-off ~1e-16 per entry,
# amplified at most by a few hundred operations.
EXACT = 1e-12
# T_eff from a fixed point found by SVD: the null vector is accurate to ~1e-16/gap (gap ~ theta^2 ~ 1e-2)
# and dT/dp_e = T^2/(p_e p_g) <= ~100 for T <= 5, so a relative 1e-10 is still ~1000x above round-off.
TEFF_EXACT = 1e-10
# Numbers printed with 6 decimals in docs/physics.md: half a unit of the last printed digit.
SIX_DIGITS = 5e-7

S_VEC = np.array([0, 1, 1, 0]) / math.sqrt(2)
A_VEC = np.array([0, 1, -1, 0]) / math.sqrt(2)


def _vec(rho):
    return np.asarray(rho).reshape(-1, order="F")


def _unvec(v, d):
    return np.asarray(v).reshape(d, d, order="F")


def random_dn0_cluster(k: int, rng) -> np.ndarray:
    """Random state with only Delta n = 0 coherence (block diagonal in the excitation number)."""
    rho = random_density_matrix(2**k, rng)
    n = excitation_numbers(k)
    return np.where(n[:, None] == n[None, :], rho, 0)


# ======================================================================================================================
# harvesting: moments and the exact probe map


def test_cluster_moments_closed_forms():
    # |S>: J+J-|S> = 2|S>, J-J+|S> = 2|S>, C = 2 Re rho_{eg,ge} = 1.
    m = cluster_moments(dicke_state(2, 1))
    assert (m["jp_jm"], m["jm_jp"], m["C"], m["excitations"]) == pytest.approx((2, 2, 1, 1), abs=EXACT)
    # The singlet is dark: every moment vanishes except <N> = 1 and C = -1.
    m = cluster_moments(np.outer(A_VEC, A_VEC))
    assert (m["jp_jm"], m["jm_jp"], m["C"]) == pytest.approx((0, 0, -1), abs=EXACT)
    # Product of pure states sqrt(1-q)|g> + sqrt(q)|e>: <J-> = K sqrt(q(1-q)), <J-^2> = K(K-1) q(1-q).
    q, k = 0.3, 3
    psi = np.array([math.sqrt(1 - q), math.sqrt(q)])
    rho = np.outer(psi, psi)
    rho = np.kron(np.kron(rho, rho), rho)
    m = cluster_moments(rho)
    assert m["jm"] == pytest.approx(k * math.sqrt(q * (1 - q)), abs=EXACT)
    assert m["jm2"] == pytest.approx(k * (k - 1) * q * (1 - q), abs=EXACT)
    assert m["C"] == pytest.approx(k * (k - 1) * q * (1 - q), abs=EXACT)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_cluster_moment_identities(k, rng):
    # (3.1): <J+J-> = <N> + C, <J-J+> = K - <N> + C, with C the brute-force sum over i != j.
    rho = random_density_matrix(2**k, rng)
    m = cluster_moments(rho)
    c = sum(
        np.trace(rho @ local_operator(SIGMA_PLUS, i, k) @ local_operator(SIGMA_MINUS, j, k))
        for i in range(k)
        for j in range(k)
        if i != j
    )
    assert m["C"] == pytest.approx(c.real, abs=EXACT)
    assert abs(c.imag) < EXACT  # C is real
    assert m["jp_jm"] == pytest.approx(m["excitations"] + m["C"], abs=EXACT)
    assert m["jm_jp"] == pytest.approx(k - m["excitations"] + m["C"], abs=EXACT)


def test_dephase_keeps_populations_only(rng):
    rho = random_density_matrix(8, rng)
    d = dephase(rho)
    assert np.array_equal(np.diag(d), np.diag(rho))
    assert np.count_nonzero(d - np.diag(np.diag(d))) == 0
    assert cluster_moments(d)["C"] == pytest.approx(0.0, abs=EXACT)


def _qutip_probe_map(rho_cluster: np.ndarray, theta: float, coupling=None) -> np.ndarray:
    """Independent M: U from scipy expm of (4.1), reduction with qutip.ptrace, probe = factor 0."""
    k = int(round(math.log2(rho_cluster.shape[0])))
    g = np.ones(k) if coupling is None else np.asarray(coupling, dtype=float)
    jm = sum(
        g[j] * qutip.tensor([qutip.destroy(2) if i == j else qutip.qeye(2) for i in range(k)]) for j in range(k)
    ).full()
    sp = qutip.destroy(2).dag().full()
    v = np.kron(sp, jm) + np.kron(sp.conj().T, jm.conj().T)
    u = scipy.linalg.expm(-1j * theta * v)
    dims = [[2] * (k + 1)] * 2
    out = np.zeros((4, 4), dtype=complex)
    for b in range(2):
        for g in range(2):
            e = np.zeros((2, 2))
            e[b, g] = 1.0
            joint = qutip.Qobj(u @ np.kron(e, rho_cluster) @ u.conj().T, dims=dims)
            out[:, b + 2 * g] = _vec(joint.ptrace(0).full())
    return out


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("theta", [0.1, 0.7, 2.0])
def test_probe_map_matches_qutip(k, theta, rng):
    rho_c = random_density_matrix(2**k, rng)  # generic: coherences of every Delta n
    m = probe_collision_map(rho_c, theta)
    assert np.max(np.abs(m - _qutip_probe_map(rho_c, theta))) < EXACT
    # Column-stacking convention = QuTiP's super representation: apply it as a qutip superoperator.
    rho_p = random_density_matrix(2, rng)
    s = qutip.Qobj(m, dims=[[[2], [2]], [[2], [2]]], superrep="super")
    via_qutip = qutip.vector_to_operator(s * qutip.operator_to_vector(qutip.Qobj(rho_p))).full()
    assert np.max(np.abs(via_qutip - _unvec(m @ _vec(rho_p), 2))) < EXACT


@settings(max_examples=25, deadline=None)
@given(theta=st.floats(0.0, math.pi), seed=st.integers(0, 2**31))
def test_probe_map_is_cptp(theta, seed):
    rng = np.random.default_rng(seed)
    m = probe_collision_map(random_density_matrix(4, rng), theta)
    # trace preserving: Tr M(|b><g|) = delta_bg, i.e. the rows of the populations sum to vec(1)
    assert np.max(np.abs(np.array([1, 0, 0, 1]) @ m - np.array([1, 0, 0, 1]))) < EXACT
    # completely positive: the Choi matrix sum_bg |b><g| (x) M(|b><g|) is PSD
    choi = np.zeros((4, 4), dtype=complex)
    for b in range(2):
        for g in range(2):
            choi[2 * b : 2 * b + 2, 2 * g : 2 * g + 2] = _unvec(m[:, b + 2 * g], 2)
    assert np.linalg.eigvalsh(0.5 * (choi + choi.conj().T)).min() > -EXACT


# ======================================================================================================================
# harvesting: docs/physics.md §4.1 results


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0, 5.0])
@pytest.mark.parametrize("theta", [0.1, 0.5, 1.0])
@pytest.mark.parametrize(
    "make",
    [
        lambda t: charged_pair(t),  # K = 2 from |gg>
        lambda t: charged_pair(t, 0.5),  # K = 2 from thermal T0 = 0.5
        lambda t: charged_ground_cluster(3, t),  # K = 3 from |ggg>
    ],
    ids=["pair-gg", "pair-T0=0.5", "K3-ggg"],
)
def test_theorem_charged_clusters_give_bath_temperature(make, temperature, theta):
    rho_c = make(temperature)
    tau = thermal_qubit(temperature)
    # The exact statement: the Gibbs probe is a fixed point of M for every theta.
    assert np.max(np.abs(_unvec(probe_collision_map(rho_c, theta) @ _vec(tau), 2) - tau)) < EXACT
    fp = probe_fixed_point(rho_c, theta)
    assert effective_temperature(fp[1, 1].real) == pytest.approx(temperature, rel=TEFF_EXACT)
    assert abs(fp[0, 1]) < EXACT
    # and the second-order formula agrees
    assert teff_second_order(rho_c) == pytest.approx(temperature, rel=EXACT)


@pytest.mark.parametrize(
    "temperature, expected", [(0.5, 0.396970), (1.0, 0.763038), (2.0, 1.506834), (5.0, 3.752771)]
)
def test_dephased_twin_is_colder(temperature, expected):
    rho_c = dephase(charged_pair(temperature))
    closed = systems.dephased_pair_teff(temperature)  # e^{-1/T_eff} = x(1+2x)/(2+x)
    assert closed == pytest.approx(expected, abs=SIX_DIGITS)
    assert teff_second_order(rho_c) == pytest.approx(closed, rel=EXACT)
    for theta in (0.1, 0.5, 1.0):  # K = 2, Delta n = 0: the exact fixed point is theta independent
        fp = probe_fixed_point(rho_c, theta)
        assert effective_temperature(fp[1, 1].real) == pytest.approx(closed, rel=TEFF_EXACT)


def test_teff_ratio_limits_of_dephased_twin():
    # T_eff/T -> 3/4 for T >> omega, -> 1 for T << omega (docs/physics.md §4.1).
    assert teff_second_order(dephase(charged_pair(1e3))) / 1e3 == pytest.approx(0.75, abs=1e-3)
    # low T: e^{-1/T_eff} = x/2 up to O(x) = 1e-44, so T_eff = 1/(1/T + ln 2) -> T (linearly in T)
    assert teff_second_order(dephase(charged_pair(0.01))) == pytest.approx(1 / (100 + math.log(2)), rel=EXACT)


def test_thermal_start_dephased_twin():
    rho_c = dephase(charged_pair(1.0, 0.5))
    assert teff_second_order(rho_c) == pytest.approx(0.878330, abs=SIX_DIGITS)
    assert effective_temperature(probe_fixed_point(rho_c, 0.5)[1, 1].real) == pytest.approx(0.878330, abs=SIX_DIGITS)


def test_collective_cooling_reverses_the_ordering():
    rho_c = charged_pair(0.5, 2.0)  # T0 = 2 > T = 0.5 leaves p_A > p_S
    assert cluster_moments(rho_c)["C"] == pytest.approx(-0.14526, abs=5e-6)  # 5 printed decimals
    assert effective_temperature(probe_fixed_point(rho_c, 0.5)[1, 1].real) == pytest.approx(0.5, rel=TEFF_EXACT)
    t_deph = effective_temperature(probe_fixed_point(dephase(rho_c), 0.5)[1, 1].real)
    assert t_deph == pytest.approx(0.643526, abs=SIX_DIGITS)
    assert teff_second_order(dephase(rho_c)) == pytest.approx(t_deph, rel=TEFF_EXACT)


def test_teff_versus_coherence_table():
    rho = charged_pair(1.0)
    p0, p1, p2 = rho[0, 0].real, 2 * rho[1, 1].real, rho[3, 3].real
    # the specification printed p0 = 0.665242 (docs/physics.md corrects it), but 1/(1 + x + x^2) = 0.6652410 (and 0.665241 + 0.244728 + 0.090031 = 1):
    # a last-digit typo in the spec; the T_eff column below is unaffected.
    assert (p0, p1, p2) == pytest.approx((0.665241, 0.244728, 0.090031), abs=SIX_DIGITS)
    expected = [0.5, 0.637168, 0.763038, 0.883216, 1.0]
    cs = [-p1 / 2, -p1 / 4, 0.0, p1 / 4, p1 / 2]
    got = [teff_closed_form_pair(p0, p1, p2, c) for c in cs]
    assert got == pytest.approx(expected, abs=SIX_DIGITS)
    assert np.all(np.diff(got) > 0)  # monotonic in c
    # Im c is irrelevant; the closed form equals (4.5) of the corresponding pair
    assert teff_closed_form_pair(p0, p1, p2, p1 / 4 + 0.05j) == pytest.approx(got[3], rel=EXACT)
    for c, t in zip(cs, got):
        pair = np.diag([p0, p1 / 2, p1 / 2, p2]).astype(complex)
        pair[1, 2] = pair[2, 1] = c
        assert teff_second_order(pair) == pytest.approx(t, rel=EXACT)


@pytest.mark.parametrize("theta", [0.1, 0.5, 1.0, 1.4])
def test_exact_population_map_of_pairs(theta, rng):
    # docs/physics.md §4.1: for Delta n = 0 pairs p_e' = p_e + sin^2(sqrt2 theta)[(p_S+p2)p_g - (p0+p_S)p_e],
    # with p_S = <S|rho|S> (general pair: unequal |eg>/|ge> weights and complex rho_{eg,ge}).
    rho_c = random_dn0_cluster(2, rng)
    p0, p2 = rho_c[0, 0].real, rho_c[3, 3].real
    p_s = float(np.real(S_VEC @ rho_c @ S_VEC))
    m = probe_collision_map(rho_c, theta)
    s2 = math.sin(math.sqrt(2) * theta) ** 2
    for pe in (0.0, 0.3, 1.0):
        rho_p = np.diag([1 - pe, pe]).astype(complex)
        out = _unvec(m @ _vec(rho_p), 2)
        assert out[1, 1].real == pytest.approx(pe + s2 * ((p_s + p2) * (1 - pe) - (p0 + p_s) * pe), abs=EXACT)
        assert abs(out[0, 1]) < EXACT
    # fixed point p_e/p_g = (p_S + p2)/(p0 + p_S) = (4.5) for every theta
    fp = probe_fixed_point(rho_c, theta)
    assert fp[1, 1].real / fp[0, 0].real == pytest.approx((p_s + p2) / (p0 + p_s), rel=TEFF_EXACT)


@pytest.mark.parametrize("k", [2, 3])
def test_dn0_clusters_leave_probe_diagonal(k, rng):
    rho_c = random_dn0_cluster(k, rng)
    for theta in (0.1, 0.5, 1.0):
        m = probe_collision_map(rho_c, theta)
        # populations -> coherences block of M is exactly zero (selection rule, all orders)
        assert np.max(np.abs(m[np.ix_([1, 2], [0, 3])])) < EXACT
        assert abs(probe_fixed_point(rho_c, theta)[0, 1]) < EXACT


def test_k3_fixed_point_depends_on_theta_unless_charged():
    rho_c = dephase(charged_ground_cluster(3, 1.0))
    t2 = teff_second_order(rho_c)
    t = [effective_temperature(probe_fixed_point(rho_c, th)[1, 1].real) for th in (0.01, 0.1, 1.0)]
    assert t[0] == pytest.approx(t2, rel=1e-8)  # theta -> 0 recovers (4.5); deviation O(theta^4) ~ 1e-8
    assert abs(t[2] - t2) > 1e-3  # the exact fixed point drifts away at large theta
    # whereas the charged K = 3 cluster gives T exactly at every theta (theorem test above)


def test_dn1_clusters_are_not_thermal_fuel():
    q = excited_probability(1.0)
    psi = np.array([math.sqrt(1 - q), math.sqrt(q)])
    rho_c = np.kron(np.outer(psi, psi), np.outer(psi, psi))
    for theta in (0.1, 0.5, 1.0):
        assert abs(probe_fixed_point(rho_c, theta)[0, 1]) > 1e-2
    # theta -> 0: the O(theta) drive beats the O(theta^2) dissipation, p_e -> 1/2 with a gap ~ theta^2
    gaps = [0.5 - probe_fixed_point(rho_c, th)[1, 1].real for th in (0.1, 0.01)]
    assert 0 < gaps[1] < gaps[0] < 2e-3
    assert gaps[0] / gaps[1] == pytest.approx(100, rel=0.05)
    with pytest.warns(UserWarning, match="Delta n"):
        teff_second_order(rho_c)


# ======================================================================================================================
# harvesting: Poisson dynamics, second order, damping


def _harvest(theta=0.5, rate=1.3, probe_gamma=0.0, probe_temperature=0.0, k=2):
    return Harvest(theta, rate, k, probe_gamma, probe_temperature)


def test_second_order_generator_is_the_theta2_expansion(rng):
    # r(M - 1) = L2 + O(theta^3): halving theta divides the residual by ~8.
    rho_c = random_density_matrix(8, rng)
    res = []
    for theta in (0.02, 0.01):
        h = _harvest(theta=theta, k=3)
        exact = h.rate * (probe_collision_map(rho_c, theta) - np.eye(4))
        res.append(np.linalg.norm(exact - second_order_generator(rho_c, h)))
    assert res[0] / res[1] == pytest.approx(8, rel=0.1)


@pytest.mark.parametrize("probe_temperature", [0.0, 0.7, 3.0])
def test_damping_formula(probe_temperature):
    rho_c = dephase(charged_pair(1.0))
    h = _harvest(theta=0.3, rate=2.0, probe_gamma=0.05, probe_temperature=probe_temperature)
    a, b = cluster_moments(rho_c)["jp_jm"], cluster_moments(rho_c)["jm_jp"]
    nb = mean_occupation(probe_temperature)
    w = h.rate * h.theta**2
    ratio = (w * a + h.probe_gamma * nb) / (w * b + h.probe_gamma * (nb + 1))
    ss = second_order_steady_state(rho_c, h)
    assert ss[1, 1].real / ss[0, 0].real == pytest.approx(ratio, rel=EXACT)
    t = teff_second_order(rho_c, rate=h.rate, theta=h.theta, probe_gamma=h.probe_gamma, probe_nbar=nb)
    assert t == pytest.approx(-1 / math.log(ratio), rel=EXACT)
    # QuTiP steady state of the same (Lindblad-form) second-order equation
    sm = qutip.destroy(2)
    c_ops = [math.sqrt(w * a) * sm.dag(), math.sqrt(w * b) * sm, math.sqrt(h.probe_gamma * (nb + 1)) * sm]
    if nb > 0:
        c_ops.append(math.sqrt(h.probe_gamma * nb) * sm.dag())
    assert np.max(np.abs(qutip.steadystate(0 * sm, c_ops).full() - ss)) < 1e-10  # qutip's direct solver
    # with damping the exact-map fixed point tends to the same ratio at small theta
    fp = probe_fixed_point(rho_c, 0.01, probe_gamma=0.05 * 1e-4 / 0.09, probe_nbar=nb, rate=2.0)
    w_small = 2.0 * 1e-4
    g_small = 0.05 * 1e-4 / 0.09
    r_small = (w_small * a + g_small * nb) / (w_small * b + g_small * (nb + 1))
    assert fp[1, 1].real / fp[0, 0].real == pytest.approx(r_small, rel=1e-3)  # O(theta^2) corrections


@pytest.mark.parametrize("damped", [False, True])
def test_probe_dynamics_matches_qutip_mesolve(damped, rng):
    rho_c = random_density_matrix(4, rng)  # generic cluster: drive, squeezing and Delta n = 0 terms
    h = _harvest(theta=0.6, rate=1.7, probe_gamma=0.4 if damped else 0.0, probe_temperature=0.8)
    times = np.linspace(0.0, 6.0, 7)
    got = probe_dynamics(rho_c, h, times)
    # r[M(rho) - rho] in Lindblad form: Kraus K_jk = sqrt(lam_k) <j|_c U |psi_k>_c, r[sum K rho K^+ - rho]
    lam, vecs = np.linalg.eigh(rho_c)
    jm = collective_lowering(2)
    u = scipy.linalg.expm(-1j * h.theta * (np.kron(SIGMA_PLUS, jm) + np.kron(SIGMA_MINUS, jm.conj().T)))
    u4 = u.reshape(2, 4, 2, 4)
    c_ops = []
    for k in range(4):
        if lam[k] <= 1e-14:
            continue
        for j in range(4):
            kraus = np.einsum("acbd,d->ab", u4[:, j : j + 1, :, :], vecs[:, k])
            c_ops.append(qutip.Qobj(math.sqrt(h.rate * lam[k]) * kraus))
    if damped:
        nb = mean_occupation(h.probe_temperature)
        c_ops += [
            math.sqrt(h.probe_gamma * (nb + 1)) * qutip.destroy(2),
            math.sqrt(h.probe_gamma * nb) * qutip.create(2),
        ]
    res = qutip.mesolve(
        qutip.qzero(2), qutip.fock_dm(2, 0), times, c_ops, options={"atol": 1e-12, "rtol": 1e-10}
    )
    ref = np.array([s.full() for s in res.states])
    assert np.max(np.abs(got - ref)) < 1e-8  # mesolve's adaptive integrator at atol 1e-12 / rtol 1e-10
    # long times reach the fixed point
    late = probe_dynamics(rho_c, h, [200.0])[0]
    fp = probe_fixed_point(
        rho_c, h.theta, probe_gamma=h.probe_gamma, probe_nbar=mean_occupation(h.probe_temperature), rate=h.rate
    )
    assert np.max(np.abs(late - fp)) < 1e-10


def test_probe_dynamics_initial_state_and_shape():
    h = _harvest()
    rho_c = charged_pair(1.0)
    out = probe_dynamics(rho_c, h, [0.0, 1.0], probe_initial=np.diag([0.0, 1.0]))
    assert out.shape == (2, 2, 2)
    assert np.allclose(out[0], np.diag([0.0, 1.0]), atol=0)
    assert np.allclose(probe_dynamics(rho_c, h, 0.0)[0], np.diag([1.0, 0.0]), atol=0)  # default |g>


def test_second_order_heat_current_forms_and_zero_at_its_fixed_point(rng):
    rho_c = random_dn0_cluster(3, rng)
    m = cluster_moments(rho_c)
    for pe in (0.0, 0.2, 0.9):
        j = heat_current_second_order(rho_c, pe, 0.3, 2.0, omega=1.5)
        # (4.6) second form: omega r theta^2 [<N> - K p_e + C(p_g - p_e)]
        alt = 1.5 * 2.0 * 0.09 * (m["excitations"] - 3 * pe + m["C"] * (1 - 2 * pe))
        assert j == pytest.approx(alt, abs=EXACT)
    pe_star = second_order_steady_state(rho_c, _harvest(theta=0.3, rate=2.0, k=3))[1, 1].real
    assert heat_current_second_order(rho_c, pe_star, 0.3, 2.0) == pytest.approx(0.0, abs=EXACT)
    # at p_e = 0 the positive heat-exchange coherence (C > 0) of the charged pair adds to the current
    coherent = heat_current_second_order(charged_pair(1.0), 0.0, 0.3, 1.0)
    assert coherent > heat_current_second_order(dephase(charged_pair(1.0)), 0.0, 0.3, 1.0)


def test_teff_second_order_branches():
    # |g...g>: <J+J-> = 0 -> 0+ ; |e...e>: <J-J+> = 0 -> 0- ; |D_1> of K = 2: equal rates -> inf
    t = teff_second_order(ground_state(2))
    assert t == 0.0 and math.copysign(1, t) == 1
    t = teff_second_order(dicke_state(2, 2))
    assert t == 0.0 and math.copysign(1, t) == -1
    assert teff_second_order(dicke_state(2, 1)) == math.inf
    assert teff_second_order(dephase(dicke_state(3, 2))) < 0  # <N> > K/2: inverted probe
    # damping regularises the branches
    assert teff_second_order(ground_state(2), theta=0.5, probe_gamma=0.1, probe_nbar=0.2) > 0
    assert teff_closed_form_pair(1.0, 0.0, 0.0, 0.0) == 0.0


def test_harvest_errors_name_the_argument():
    singlet = np.outer(A_VEC, A_VEC).astype(complex)
    with pytest.raises(ConvergenceError, match="not unique"):
        probe_fixed_point(singlet, 0.5)  # dark cluster: the probe is never touched
    with pytest.raises(ConvergenceError, match="not unique"):
        probe_fixed_point(charged_pair(1.0), math.pi / math.sqrt(2))  # complete Rabi turn: M = 1 on populations
    with pytest.raises(ParameterError, match="rho_cluster"):
        teff_second_order(singlet)
    with pytest.raises(ParameterError, match="rho_cluster.*trace 1"):
        cluster_moments(2 * charged_pair(1.0))
    with pytest.raises(ParameterError, match="theta.*required"):
        teff_second_order(charged_pair(1.0), probe_gamma=0.1)
    with pytest.raises(ParameterError, match="cluster_size"):
        probe_dynamics(charged_pair(1.0), _harvest(k=3), [1.0])
    with pytest.raises(ParameterError, match="p0, p1, p2"):
        teff_closed_form_pair(0.5, 0.5, 0.5, 0.0)
    with pytest.raises(ParameterError, match="Argument `c`"):
        teff_closed_form_pair(0.6, 0.2, 0.2, 0.2)
    with pytest.raises(ParameterError, match="theta"):
        probe_collision_map(charged_pair(1.0), -0.1)
    with pytest.raises(ParameterError, match="probe_temperature"):
        probe_dynamics(charged_pair(1.0), _harvest(probe_gamma=0.1, probe_temperature=math.inf), [1.0])
    with pytest.raises(ParameterError, match="times"):
        probe_dynamics(charged_pair(1.0), _harvest(), [-1.0])


def test_charged_cluster_matches_closed_form():
    bath = Bath(1.0)
    got = charged_cluster(2, bath, InitialState.thermal(0.5))
    assert np.max(np.abs(got - charged_pair(1.0, 0.5))) < 1e-10  # dicke.py's own tolerance for long times
    got = charged_cluster(3, bath, InitialState())
    assert np.max(np.abs(got - charged_ground_cluster(3, 1.0))) < 1e-10


# ======================================================================================================================
# T_eff at infinite temperature: every path through thermo.temperature_from_ratio (docs/physics.md §4.5)


@pytest.mark.parametrize("k", [2, 3])
@pytest.mark.parametrize("theta", [0.001, 0.01, 0.5, 1.0])
def test_maximally_mixed_cluster_gives_infinite_teff(k, theta):
    # The steady state lands within ~eps/theta^2 of p_e = 1/2 (0.5 +- 1.1e-16 at theta = 0.5, 3.7e-11
    # relative at theta = 0.001); the old code printed teff = -2.25e15 (K = 2) or 2.7e10 (K = 3, 0.001).
    res = harvest_summary(np.eye(2**k) / 2**k, Harvest(theta=theta, cluster_size=k))
    assert res.teff == math.inf
    assert res.teff_second_order == math.inf


def test_charged_cluster_at_infinite_temperature_gives_infinite_teff():
    rho = make_cluster("charged", Bath(math.inf), InitialState(), 2)
    res = harvest_summary(rho, Harvest(theta=0.5))
    assert res.teff == math.inf and res.teff_second_order == math.inf  # old: 2.25e15 and inf


def test_rate_based_teff_uses_the_same_round_off_band():
    # Equal cluster rates and a probe bath of nbar = 5e13: the rate ratio is 1 - 2e-14, inside the
    # band TEFF_RATIO_RTOL = 1e-12 (T_eff > 1e12 omega is not distinguishable from inf here): inf, as
    # effective_temperature gives for the same ratio. The old rate code returned 5e13.
    rho = np.eye(4) / 4
    t = teff_second_order(rho, theta=0.5, probe_gamma=1.0, probe_nbar=5e13)
    assert t == math.inf
    assert effective_temperature(0.5 - 0.5e-14) == math.inf
    # and outside the band the rate path stays finite: nbar = 1e3 gives T = 1/ln(1 + 1/1000.5...) ~ 1e3
    assert 900 < teff_second_order(rho, theta=0.5, probe_gamma=1.0, probe_nbar=1e3) < 1100


# ======================================================================================================================
# heat current: exact map versus second order


def _probe_bath_outflow(rho_p, probe_gamma, nbar, omega):
    """Heat the probe passes to its own bath, -omega Tr[n (gamma(nbar+1)D[s-] + gamma nbar D[s+]) rho_p]."""
    pe, pg = rho_p[1, 1].real, rho_p[0, 0].real
    return omega * probe_gamma * ((nbar + 1) * pe - nbar * pg)


@pytest.mark.filterwarnings("ignore:rho_cluster has Delta n")  # teff_second_order on the random cluster
@pytest.mark.parametrize("theta", [0.3, 1.0])
@pytest.mark.parametrize("cluster", ["charged", "dephased", "random-K3"])
def test_exact_heat_current_is_the_probe_energy_flow_and_the_bath_outflow(cluster, theta, rng):
    if cluster == "random-K3":
        rho_c, k = random_density_matrix(8, rng), 3  # every Delta n: the probe keeps coherence
    else:
        rho_c, k = make_cluster(cluster, Bath(1.0), InitialState(), 2), 2
    omega, nbar_t = 1.5, 0.7
    h = Harvest(theta=theta, rate=0.8, cluster_size=k, probe_gamma=0.6, probe_temperature=nbar_t)
    nbar = mean_occupation(nbar_t, omega)
    res = harvest_summary(rho_c, h, omega)
    fp = probe_fixed_point(rho_c, theta, probe_gamma=0.6, probe_nbar=nbar, rate=0.8)
    # omega r [M(rho_p) - rho_p]_ee with M rebuilt independently (scipy expm + qutip.ptrace)
    flow = omega * 0.8 * (_unvec(_qutip_probe_map(rho_c, theta) @ _vec(fp), 2)[1, 1] - fp[1, 1]).real
    assert res.heat_current == pytest.approx(flow, abs=EXACT)
    assert heat_current(rho_c, fp, theta, 0.8, omega) == pytest.approx(flow, abs=EXACT)
    # first law at the steady state: what the clusters deliver, the probe's bath takes away
    assert res.heat_current == pytest.approx(_probe_bath_outflow(fp, 0.6, nbar, omega), abs=EXACT)
    assert abs(res.heat_current) > 1e-3  # a non-trivial current (the check above is not 0 = 0)


# 2 theta^2 / sin^2(sqrt2 theta) = 1.1848 (the issue's "x1.19"), 2.0498 ("x2.05"), 1.0067 at theta = 0.5, 1, 0.1
@pytest.mark.parametrize("theta, factor", [(0.5, 1.1848), (1.0, 2.0498), (0.1, 1.0067)])
@pytest.mark.parametrize("cluster", ["charged", "dephased"])
def test_second_order_heat_current_overstates_the_exact_one_for_pairs(cluster, theta, factor):
    # Delta n = 0 pairs: p_e' - p_e = sin^2(sqrt2 theta)[(p_S+p2)p_g - (p0+p_S)p_e] (docs/physics.md §4.1) and
    # <J+J-> = 2(p_S+p2), <J-J+> = 2(p0+p_S), so (4.6) / exact = 2 theta^2 / sin^2(sqrt2 theta) at any p_e.
    rho_c = make_cluster(cluster, Bath(1.0), InitialState(), 2)
    h = Harvest(theta=theta, rate=0.5, probe_gamma=1.0, probe_temperature=0.1)
    res = harvest_summary(rho_c, h)
    ratio = 2 * theta**2 / math.sin(math.sqrt(2) * theta) ** 2
    assert ratio == pytest.approx(factor, abs=5e-5)  # half a unit of the 4th printed decimal
    assert res.heat_current_second_order / res.heat_current == pytest.approx(ratio, rel=1e-10)


def test_heat_current_of_the_issue_command():
    # qcharge harvest --cluster charged -T 1 --theta 1 --rate 0.5 --probe-gamma 1 --probe-temperature 0.1:
    # the old `heat_current` printed the second-order 0.2083; the exact flow into the probe is 0.1016.
    rho_c = make_cluster("charged", Bath(1.0), InitialState(), 2)
    res = harvest_summary(rho_c, Harvest(theta=1.0, rate=0.5, probe_gamma=1.0, probe_temperature=0.1))
    assert res.heat_current == pytest.approx(0.1016, abs=5e-5)  # 4 printed decimals
    assert res.heat_current_second_order == pytest.approx(0.2083, abs=5e-5)


def test_exact_heat_current_vanishes_at_the_undamped_fixed_point():
    rho_c = make_cluster("dephased", Bath(1.0), InitialState(), 2)
    res = harvest_summary(rho_c, Harvest(theta=0.7))
    assert res.heat_current == pytest.approx(0.0, abs=EXACT)
    # away from the fixed point it is the population change per collision times omega r
    j = heat_current(rho_c, np.diag([1.0, 0.0]), 0.7, 2.0, omega=3.0)
    p_s, p2 = rho_c[1, 1].real, rho_c[3, 3].real  # dephased: p_S = p_A = rho_ge,ge
    assert j == pytest.approx(3.0 * 2.0 * math.sin(math.sqrt(2) * 0.7) ** 2 * (p_s + p2), abs=EXACT)
    with pytest.raises(ParameterError, match="probe_state"):
        heat_current(rho_c, 0.3, 0.7, 2.0)


# ======================================================================================================================
# probe coupling vectors g_i


@pytest.mark.parametrize("coupling", [[1.0, 0.0], [1.0, 0.5], [0.3, -1.2, 0.7], [2.0, 2.0, 2.0]])
@pytest.mark.parametrize("theta", [0.3, 1.1])
def test_coupled_probe_map_matches_qutip(coupling, theta, rng):
    rho = random_density_matrix(2 ** len(coupling), rng)
    np.testing.assert_allclose(
        probe_collision_map(rho, theta, coupling=coupling), _qutip_probe_map(rho, theta, coupling), atol=EXACT
    )


def test_all_ones_coupling_is_the_collective_default(rng):
    rho = random_density_matrix(8, rng)
    # the same code path (all ones -> cached collective unitary): identical, not merely close
    assert np.array_equal(probe_collision_map(rho, 0.4, coupling=[1, 1, 1]), probe_collision_map(rho, 0.4))
    # a common factor is a rescaled angle: g = c 1 at theta equals g = 1 at c theta
    np.testing.assert_allclose(
        probe_collision_map(rho, 0.4, coupling=[2, 2, 2]), probe_collision_map(rho, 0.8), atol=EXACT
    )


def test_coupled_moments_weight_coherences_by_g_i_g_j(rng):
    k, g = 3, np.array([0.5, -1.0, 2.0])
    rho = random_density_matrix(2**k, rng)
    m = cluster_moments(rho, coupling=g)
    pairs = sum(
        g[i] * g[j] * np.trace(rho @ local_operator(SIGMA_PLUS, i, k) @ local_operator(SIGMA_MINUS, j, k))
        for i in range(k) for j in range(k) if i != j
    )
    n_i = [np.trace(rho @ local_operator(SIGMA_PLUS @ SIGMA_MINUS, i, k)).real for i in range(k)]
    assert m["C"] == pytest.approx(pairs.real, abs=EXACT)
    assert m["jp_jm"] == pytest.approx(float(np.dot(g**2, n_i)) + pairs.real, abs=EXACT)
    assert m["jm_jp"] == pytest.approx(float(np.dot(g**2, 1 - np.array(n_i))) + pairs.real, abs=EXACT)
    assert m["excitations"] == pytest.approx(sum(n_i), abs=EXACT)


@pytest.mark.parametrize("theta", [0.1, 0.5, 1.0])
def test_single_atom_coupling_makes_the_coherence_invisible(theta):
    bath = Bath(1.0)
    charged = make_cluster("charged", bath, InitialState())
    dephased = make_cluster("dephased", bath, InitialState())
    one = Harvest(theta=theta, coupling=[1.0, 0.0])
    t_charged = harvest_summary(charged, one).teff
    t_dephased = harvest_summary(dephased, one).teff
    # the issue's figure 0.763038 (= the dephased pair's collective T_eff, docs/physics.md §4.1): the probe sees only
    # atom 1's reduced state, which dephasing leaves alone
    assert t_charged == pytest.approx(0.763038, abs=SIX_DIGITS)
    assert t_charged == pytest.approx(t_dephased, rel=TEFF_EXACT)
    assert teff_second_order(charged, coupling=[1.0, 0.0]) == pytest.approx(t_dephased, rel=TEFF_EXACT)
    # collective coupling: the charged pair brings the probe to the bath temperature
    assert harvest_summary(charged, Harvest(theta=theta)).teff == pytest.approx(1.0, rel=TEFF_EXACT)


def test_unequal_coupling_sees_part_of_the_coherence():
    # pair: up = g1^2 pe1 + g2^2 pe2 + 2 g1 g2 Re c, down = g1^2 pg1 + g2^2 pg2 + 2 g1 g2 Re c (docs/physics.md §4.7 weighted)
    rho = charged_pair(1.0)
    g1, g2 = 1.0, 0.5
    pe = rho[2, 2].real + rho[3, 3].real  # atom 0 excited (QuTiP order: |eg> = index 2); by symmetry atom 1 too
    c = rho[2, 1].real
    up = (g1**2 + g2**2) * pe + 2 * g1 * g2 * c
    down = (g1**2 + g2**2) * (1 - pe) + 2 * g1 * g2 * c
    expected = 1.0 / math.log(down / up)
    assert teff_second_order(rho, coupling=[g1, g2]) == pytest.approx(expected, rel=TEFF_EXACT)
    t = harvest_summary(rho, Harvest(theta=0.5, coupling=[g1, g2])).teff
    assert t == pytest.approx(expected, rel=TEFF_EXACT)  # Delta n = 0 pair: exact map ratio = second order
    assert 0.763038 < t < 1.0


# T_eff at theta = 0.5, T = 1, from |g...g>: collective coupling gives T for every K (the theorem); a single-atom
# coupling sees one atom's reduced state (its local temperature falls with K); dephased and single-atom agree at
# second order only for K >= 3 (the exact map of a K >= 3 cluster depends on theta unless it is charged).
TEFF_VERSUS_K = {2: (0.763038, 0.763038), 3: (0.628553, 0.628177), 4: (0.544258, 0.543387), 5: (0.487682, 0.486301)}


@pytest.mark.parametrize("k", sorted(TEFF_VERSUS_K))
def test_teff_versus_cluster_size_collective_and_single_atom(k):
    bath = Bath(1.0)
    charged = make_cluster("charged", bath, InitialState(), k)
    dephased = make_cluster("dephased", bath, InitialState(), k)
    one = [1.0] + [0.0] * (k - 1)
    dephased_collective, single = TEFF_VERSUS_K[k]
    assert harvest_summary(charged, Harvest(cluster_size=k)).teff == pytest.approx(1.0, rel=TEFF_EXACT)
    assert harvest_summary(dephased, Harvest(cluster_size=k)).teff == pytest.approx(
        dephased_collective, abs=SIX_DIGITS
    )
    t_single = harvest_summary(charged, Harvest(cluster_size=k, coupling=one)).teff
    assert t_single == pytest.approx(single, abs=SIX_DIGITS)
    # one atom is a qubit: its probe temperature is its own, omega / ln(p_g / p_e), coherence or not
    pe = float(np.real(np.trace(charged @ local_operator(SIGMA_PLUS @ SIGMA_MINUS, 0, k))))
    assert t_single == pytest.approx(1.0 / math.log((1 - pe) / pe), rel=TEFF_EXACT)
    assert harvest_summary(dephased, Harvest(cluster_size=k, coupling=one)).teff == pytest.approx(
        t_single, rel=TEFF_EXACT
    )


@pytest.mark.parametrize("k", [3, 5, 7])
def test_dicke_cluster_teff_grows_as_k_squared(k):
    # |D_m>, m = (K-1)/2: <J+J-> = m(K-m+1) = u, <J-J+> = u + 1, so T_eff = 1/ln(1 + 1/u) in (u, u + 1/2),
    # u = (K-1)(K+3)/4 ~ K^2/4: the coherence of a half-excited Dicke state heats the probe as K^2
    u = (k - 1) * (k + 3) / 4
    t = teff_second_order(dicke_state(k, (k - 1) // 2))
    assert t == pytest.approx(1.0 / math.log1p(1.0 / u), rel=EXACT)
    assert u < t < u + 0.5


def test_coupling_is_validated():
    assert Harvest(cluster_size=3).coupling == (1.0, 1.0, 1.0)
    assert Harvest(coupling=[1, 1]) == Harvest()
    for bad, match in [([1.0], "one entry per atom \\(2\\)"), ([0, 0], "not be all zero"),
                       ([1, np.nan], "finite"), (["a", 1], "real numbers"), ([[1, 1]], "one entry per atom")]:
        with pytest.raises(ParameterError, match=match):
            Harvest(coupling=bad)
    with pytest.raises(ParameterError, match="`coupling`"):
        probe_collision_map(charged_pair(1.0), 0.5, coupling=[1, 1, 1])

