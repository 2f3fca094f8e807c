"""Exact collision maps of harvesting (PHYSICS.md §3-4); the charging twin is tested in test_twin.py.

References used here are independent of the module under test: the charged pair is built from the
closed form of PHYSICS.md 2.4, the probe map is rebuilt with scipy ``expm`` + ``qutip.ptrace``, the
Poisson-averaged probe dynamics with ``qutip.mesolve`` and the Dicke master equation (N = 2) from its
16x16 Liouvillian.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import qutip
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st

from qcharge import Atoms, Bath, Collision, ConvergenceError, Harvest, InitialState, ParameterError
from qcharge.coherence import l1_coherence
from qcharge.reference import collision as col
from qcharge.reference.collision import (
    cluster_moments,
    dephase,
    effective_temperature,
    heat_current,
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
    thermal_state,
)

from .conftest import SEED, random_density_matrix

# Exact-vs-exact comparisons of matrices of dimension <= 64: float64 round-off ~1e-16 per entry,
# amplified at most by a few hundred operations.
EXACT = 1e-12
# T_eff from a fixed point found by SVD: the null vector is accurate to ~1e-16/gap (gap ~ theta^2 ~ 1e-2)
# and dT/dp_e = T^2/(p_e p_g) <= ~100 for T <= 5, so a relative 1e-10 is still ~1000x above round-off.
TEFF_EXACT = 1e-10
# Numbers printed with 6 decimals in PHYSICS.md: half a unit of the last printed digit.
SIX_DIGITS = 5e-7

S_VEC = np.array([0, 1, 1, 0]) / math.sqrt(2)
A_VEC = np.array([0, 1, -1, 0]) / math.sqrt(2)


def _vec(rho):
    return np.asarray(rho).reshape(-1, order="F")


def _unvec(v, d):
    return np.asarray(v).reshape(d, d, order="F")


def charged_pair(temperature: float, initial_temperature: float = 0.0) -> np.ndarray:
    """Dicke-limit long-time state of a pair, built from PHYSICS.md 2.4 (independent of dicke.py)."""
    x = math.exp(-1.0 / temperature)
    pe0 = excited_probability(initial_temperature)
    p_a = pe0 * (1 - pe0)
    z = 1 + x + x * x
    rho = np.zeros((4, 4), dtype=complex)
    rho[0, 0] = (1 - p_a) / z
    rho[3, 3] = (1 - p_a) * x * x / z
    rho += (1 - p_a) * x / z * np.outer(S_VEC, S_VEC) + p_a * np.outer(A_VEC, A_VEC)
    return rho


def charged_ground_cluster(k: int, temperature: float) -> np.ndarray:
    """PHYSICS.md 2.3: from |g...g>, sum_k x^k |D_k><D_k| normalised."""
    x = math.exp(-1.0 / temperature)
    rho = sum(x**m * dicke_state(k, m) for m in range(k + 1))
    return rho / np.trace(rho)


def random_dn0_cluster(k: int, rng) -> np.ndarray:
    """Random state with only Delta n = 0 coherence (block diagonal in the excitation number)."""
    rho = random_density_matrix(2**k, rng)
    n = excitation_numbers(k)
    return np.where(n[:, None] == n[None, :], rho, 0)


def trace_distance(a, b) -> float:
    return 0.5 * float(np.abs(np.linalg.eigvalsh(a - b)).sum())


def dicke_liouvillian(n: int, nbar: float, gamma: float = 1.0) -> np.ndarray:
    """gamma(nbar+1) D[J-] + gamma nbar D[J+] (rotating frame), column stacking."""
    jm = collective_lowering(n)
    eye = np.eye(2**n)

    def dis(op):
        ldl = op.conj().T @ op
        return np.kron(op.conj(), op) - 0.5 * np.kron(eye, ldl) - 0.5 * np.kron(ldl.T, eye)

    return gamma * (nbar + 1) * dis(jm) + gamma * nbar * dis(jm.conj().T)


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


def _qutip_probe_map(rho_cluster: np.ndarray, theta: float) -> np.ndarray:
    """Independent M: U from scipy expm of (4.1), reduction with qutip.ptrace, probe = factor 0."""
    k = int(round(math.log2(rho_cluster.shape[0])))
    jm = sum(
        qutip.tensor([qutip.destroy(2) if i == j else qutip.qeye(2) for i in range(k)]) for j in range(k)
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
# harvesting: PHYSICS.md 4.1 results


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
    x = math.exp(-1.0 / temperature)
    closed = -1.0 / math.log(x * (1 + 2 * x) / (2 + x))  # e^{-1/T_eff} = x(1+2x)/(2+x)
    assert closed == pytest.approx(expected, abs=SIX_DIGITS)
    assert teff_second_order(rho_c) == pytest.approx(closed, rel=EXACT)
    for theta in (0.1, 0.5, 1.0):  # K = 2, Delta n = 0: the exact fixed point is theta independent
        fp = probe_fixed_point(rho_c, theta)
        assert effective_temperature(fp[1, 1].real) == pytest.approx(closed, rel=TEFF_EXACT)


def test_teff_ratio_limits_of_dephased_twin():
    # T_eff/T -> 3/4 for T >> omega, -> 1 for T << omega (PHYSICS.md 4.1).
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
    # PHYSICS.md prints p0 = 0.665242, but 1/(1 + x + x^2) = 0.6652410 (and 0.665241 + 0.244728 + 0.090031 = 1):
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
    # PHYSICS.md 4.1: for Delta n = 0 pairs p_e' = p_e + sin^2(sqrt2 theta)[(p_S+p2)p_g - (p0+p_S)p_e],
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


def test_heat_current_forms_and_zero_at_fixed_point(rng):
    rho_c = random_dn0_cluster(3, rng)
    m = cluster_moments(rho_c)
    for pe in (0.0, 0.2, 0.9):
        j = heat_current(rho_c, pe, 0.3, 2.0, omega=1.5)
        # (4.6) second form: omega r theta^2 [<N> - K p_e + C(p_g - p_e)]
        alt = 1.5 * 2.0 * 0.09 * (m["excitations"] - 3 * pe + m["C"] * (1 - 2 * pe))
        assert j == pytest.approx(alt, abs=EXACT)
    pe_star = second_order_steady_state(rho_c, _harvest(theta=0.3, rate=2.0, k=3))[1, 1].real
    assert heat_current(rho_c, pe_star, 0.3, 2.0) == pytest.approx(0.0, abs=EXACT)
    # at p_e = 0 the positive heat-exchange coherence (C > 0) of the charged pair adds to the current
    assert heat_current(charged_pair(1.0), 0.0, 0.3, 1.0) > heat_current(dephase(charged_pair(1.0)), 0.0, 0.3, 1.0)


def test_effective_temperature_branches_are_shared_with_thermo():
    from qcharge import thermo

    assert effective_temperature is thermo.effective_temperature  # one implementation, re-exported
    assert effective_temperature(0.0) == 0.0 and math.copysign(1, effective_temperature(0.0)) == 1
    assert effective_temperature(1.0) == 0.0 and math.copysign(1, effective_temperature(1.0)) == -1
    assert effective_temperature(0.5) == math.inf
    assert effective_temperature(0.6) < 0
    assert effective_temperature(excited_probability(2.0)) == pytest.approx(2.0, rel=EXACT)


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
    dicke = pytest.importorskip("qcharge.reference.dicke")
    if not hasattr(dicke, "dicke_density_matrix"):
        pytest.skip("qcharge.reference.dicke.dicke_density_matrix not available yet")
    bath = Bath(1.0)
    got = col.charged_cluster(2, bath, InitialState.thermal(0.5))
    assert np.max(np.abs(got - charged_pair(1.0, 0.5))) < 1e-10  # dicke.py's own tolerance for long times
    got = col.charged_cluster(3, bath, InitialState())
    assert np.max(np.abs(got - charged_ground_cluster(3, 1.0))) < 1e-10


# ======================================================================================================================
# charging twin: schedules and gates
