"""K-atom clusters in the Dicke basis (docs/physics.md §4.2): the closed-form exact map (4.8), the maximisers
(4.9)-(4.11), the K^2 law and its limits.

Independent references: the pair closed forms of tests/systems.py (4.7), the dense exact probe map of
qcharge.reference.probe (a 2^(K+1) unitary, no Dicke-basis algebra), random Δn = 0 states, and QuTiP.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import qutip

from qcharge import Bath, Harvest, InitialState, ParameterError
from qcharge.cli import main
from qcharge.reference.clusters import (
    CLUSTER_KINDS,
    MAX_BLOCK_ATOMS,
    bath_for_energy,
    cluster_blocks,
    cluster_density_matrix,
    cluster_teff,
    fit_power_law,
    max_jp_jm,
    optimal_teff_second_order,
)
from qcharge.reference.probe import cluster_moments, probe_fixed_point
from qcharge.results import ClusterTeff
from qcharge.states import excitation_numbers
from qcharge.thermo import effective_temperature

from . import systems

# Sums of O(K^2) positive float64 terms against the same sums done differently: ~1e-15 relative.
EXACT = 1e-12
# A T_eff from the dense map's SVD fixed point: null vector to ~1e-16/gap (gap ~ theta^2 >= 1e-2 here),
# times dT/dp_e = T^2/(p_e p_g) <= ~200 for the T_eff met: 1e-9 relative is ~100x above that.
FIXED_POINT = 1e-9
THERMAL = InitialState.thermal(0.5)


def _h(k, theta=0.5, **kw):
    return Harvest(theta=theta, cluster_size=k, **kw)


# ----------------------------------------------------------------------------------------------------------------------
# pairs: the closed forms of §4.1


@pytest.mark.parametrize("theta", [0.1, 0.5, 1.0])
@pytest.mark.parametrize("t0", [0.0, 0.5])
def test_pair_families_match_the_pair_closed_form(theta, t0):
    p_gg, p_s, p_a, p_ee = systems.pair_populations(1.0, t0)
    p1 = p_s + p_a
    init = InitialState() if t0 == 0.0 else InitialState.thermal(t0)
    got = {kind: cluster_teff(kind, _h(2, theta), Bath(1.0), init) for kind in CLUSTER_KINDS}
    # (4.7) with c = (p_S - p_A)/2 (charged), 0 (dephased), p1/2 (all of p1 in |S>: the optimum (4.9))
    assert got["charged"].teff == pytest.approx(1.0, rel=EXACT)
    assert got["dephased"].teff == pytest.approx(systems.pair_teff(p_gg, p1, p_ee, 0.0), rel=EXACT)
    assert got["optimal"].teff == pytest.approx(systems.pair_teff(p_gg, p1, p_ee, p1 / 2), rel=EXACT)
    # (4.10): <N> = n < 1 is n on |S> and 1 - n on |gg>: <J+J-> = 2n, <J-J+> = 2, T_eff = 1/ln(1/n)
    n = p1 + 2 * p_ee
    assert got["optimal-energy"].teff == pytest.approx(-1.0 / math.log(n), rel=EXACT)
    for r in got.values():  # pairs: the exact fixed point is (4.5) at every theta (§4.1)
        assert r.teff == pytest.approx(r.teff_second_order, rel=EXACT)
    if t0 == 0.0:
        assert got["dephased"].teff == pytest.approx(systems.dephased_pair_teff(1.0), rel=EXACT)


# ----------------------------------------------------------------------------------------------------------------------
# the closed-form exact map (4.8) against the dense exact map


@pytest.mark.parametrize("k", [2, 3, 4, 5])
@pytest.mark.parametrize("kind", CLUSTER_KINDS)
@pytest.mark.parametrize("init", [InitialState(), THERMAL], ids=["ground", "thermal"])
def test_closed_form_map_matches_dense_map(k, kind, init):
    rho = cluster_density_matrix(kind, k, Bath(1.0), init)
    for theta, damping in ((0.3, {}), (1.0, {}), (0.7, {"probe_gamma": 0.4, "probe_temperature": 0.3})):
        h = _h(k, theta, **damping)
        r = cluster_teff(kind, h, Bath(1.0), init)
        nbar_p = systems.mean_occupation(0.3) if damping else 0.0
        pe = float(probe_fixed_point(rho, theta, probe_nbar=nbar_p, **({"probe_gamma": 0.4} if damping else {}))[1, 1].real)
        assert r.probe_excited_population == pytest.approx(pe, rel=FIXED_POINT)
        assert r.teff == pytest.approx(effective_temperature(pe), rel=FIXED_POINT)
    mom = cluster_moments(rho)
    assert r.jp_jm == pytest.approx(mom["jp_jm"], abs=EXACT)
    assert r.jm_jp == pytest.approx(mom["jm_jp"], abs=EXACT)
    assert r.coherence == pytest.approx(mom["C"], abs=EXACT)
    assert abs(mom["jm"]) < EXACT and abs(mom["jm2"]) < EXACT  # Δn = 0 only: (4.5) applies


@pytest.mark.parametrize("kind", CLUSTER_KINDS)
@pytest.mark.parametrize("k", [3, 6])
def test_cluster_states_are_states_with_the_stated_populations(kind, k):
    rho = cluster_density_matrix(kind, k, Bath(1.0), THERMAL)
    charged = cluster_density_matrix("charged", k, Bath(1.0), THERMAL)
    evals = np.linalg.eigvalsh(rho)
    assert abs(np.trace(rho) - 1) < EXACT and np.allclose(rho, rho.conj().T, atol=EXACT) and evals.min() > -EXACT
    n_op = excitation_numbers(k)
    assert np.max(np.abs(rho * (n_op[:, None] != n_op[None, :]))) < EXACT  # Δn = 0: commutes with N
    if kind in ("dephased", "optimal"):  # the same computational-basis populations as the charged cluster
        assert np.max(np.abs(np.diag(rho) - np.diag(charged))) < EXACT
    if kind == "dephased":
        assert np.max(np.abs(rho - np.diag(np.diag(rho)))) < EXACT
    # every family keeps the charged energy
    assert np.real(np.trace(rho * n_op[None, :])) == pytest.approx(np.real(np.trace(charged * n_op[None, :])), abs=EXACT)


def test_blocks_are_probabilities_at_large_k():
    for kind in CLUSTER_KINDS:
        q = cluster_blocks(kind, 301, Bath(1.0), THERMAL)
        assert q.shape == (151, 302) and q.min() >= 0.0 and abs(q.sum() - 1.0) < 1e-12


# ----------------------------------------------------------------------------------------------------------------------
# the maximisers


def test_optimum_beats_charged_and_dephased():
    for k in (2, 3, 5, 8, 64, 512):
        for init in (InitialState(), THERMAL):
            t = {kind: cluster_teff(kind, _h(k, 0.05 / k), Bath(1.0), init) for kind in CLUSTER_KINDS}
            for attr in ("teff_second_order", "teff"):
                v = {kind: getattr(r, attr) for kind, r in t.items()}
                assert v["dephased"] < v["charged"] <= v["optimal"] * (1 + EXACT) <= v["optimal-energy"] * (1 + EXACT)
            if init.kind == "ground":  # the bath already writes the optimum from |g...g>: all weight in J = K/2
                assert t["optimal"].teff == pytest.approx(1.0, rel=EXACT)
            else:
                assert t["optimal"].teff > 1.0 + 1e-3


def _random_delta_n0(k, weights, rng):
    """A random Δn = 0 state with sector weights W_k (Wishart blocks, one per excitation number)."""
    n_op = excitation_numbers(k)
    rho = np.zeros((2**k, 2**k), dtype=complex)
    for s, w in enumerate(weights):
        idx = np.nonzero(n_op == s)[0]
        g = rng.normal(size=(len(idx), len(idx))) + 1j * rng.normal(size=(len(idx), len(idx)))
        block = g @ g.conj().T
        rho[np.ix_(idx, idx)] = w * block / np.trace(block)
    return rho


@pytest.mark.parametrize("k", [3, 4])
def test_no_random_state_with_the_same_sector_weights_beats_the_optimum(k, rng):
    q = cluster_blocks("charged", k, Bath(1.0), THERMAL)
    weights = q.sum(axis=0)
    theta = 0.05
    best = cluster_teff("optimal", _h(k, theta), Bath(1.0), THERMAL)
    for _ in range(40):
        rho = _random_delta_n0(k, weights, rng)
        mom = cluster_moments(rho)
        assert mom["jp_jm"] < best.jp_jm  # (4.9), strict off the optimum
        pe = float(probe_fixed_point(rho, theta)[1, 1].real)  # the exact map, independent of (4.8)
        assert effective_temperature(pe) < best.teff


def test_no_random_state_beats_the_fixed_energy_bound(rng):
    for k in (3, 4, 5):
        for _ in range(30):
            weights = rng.dirichlet(np.ones(k + 1) * 0.5)
            rho = _random_delta_n0(k, weights, rng)
            n = float(np.dot(weights, np.arange(k + 1)))
            assert cluster_moments(rho)["jp_jm"] <= max_jp_jm(k, n) + EXACT  # (4.10)


# ----------------------------------------------------------------------------------------------------------------------
# closed forms and the K^2 law


KS = [2, 3, 4, 5, 8, 9, 16, 33, 64, 129, 256, 513, 1024]


def test_half_filling_closed_forms_and_k_squared_law():
    opt, charged, deph = [], [], []
    for k in KS:
        n = (k - 1) / 2
        o = cluster_teff("optimal-energy", _h(k, 0.01 / k), energy=n)
        a = (k - 1) * (k + 3) / 4 if k % 2 else k * k / 4 + k / 2 - 1
        assert o.jp_jm == pytest.approx(a, rel=EXACT) and o.jm_jp - o.jp_jm == pytest.approx(1.0, abs=1e-9)
        assert o.teff_second_order == pytest.approx(1 / math.log1p(1 / a), rel=EXACT)
        assert o.teff_second_order == pytest.approx(optimal_teff_second_order(k, n), rel=EXACT)
        assert a < o.teff_second_order < a + 0.5
        c = cluster_teff("charged", _h(k, 0.01 / k), energy=n)
        d = cluster_teff("dephased", _h(k, 0.01 / k), energy=n)
        # bath_for_energy solves <N> = n to ~1e-14 relative in T; T_eff = T (theorem) for the charged cluster
        assert c.excitations == pytest.approx(n, rel=1e-10) and c.teff == pytest.approx(c.bath_temperature, rel=1e-9)
        nd = d.excitations  # C = 0: <J+J-> = <N>, <J-J+> = K - <N>
        assert d.teff_second_order == pytest.approx(1 / math.log((k - nd) / nd), rel=1e-10)  # ratio - 1 ~ 2/K
        opt.append(o.teff_second_order), charged.append(c.teff), deph.append(d.teff_second_order)
    big = slice(KS.index(64), None)
    p_opt, c_opt = fit_power_law(KS[big], opt[big])
    p_ch, c_ch = fit_power_law(KS[big], charged[big])
    # T ~ K^2/4 + K/2 and K(K+2)/6: the K term lowers a fit over 64..1024 by ~1/K ~ 0.01
    assert 1.98 < p_opt < 2.0 and 1.98 < p_ch < 2.0
    assert opt[-1] / KS[-1] ** 2 == pytest.approx(0.25, rel=2 / KS[-1])
    assert charged[-1] == pytest.approx(KS[-1] * (KS[-1] + 2) / 6, rel=1e-3)  # leading terms of (2.1) at x -> 1
    assert deph[-1] == pytest.approx(KS[-1] / 2, rel=1e-3)
    assert opt[-1] / charged[-1] == pytest.approx(1.5, rel=2e-3)


def test_exact_map_keeps_k_squared_only_for_theta_k_fixed():
    # |D_(K-1)/2>: T_exact / T_second_order -> tan(x)/x, x = theta K/2 (docs/physics.md §4.2); O(1/K) off at K = 513
    k = 513
    for c in (1.0, 2.0):
        r = cluster_teff("optimal-energy", _h(k, c / k), energy=(k - 1) / 2)
        assert r.teff / r.teff_second_order == pytest.approx(math.tan(c / 2) / (c / 2), rel=1e-2)
    r = cluster_teff("optimal-energy", _h(k, 3.4 / k), energy=(k - 1) / 2)
    assert r.teff < 0 < r.teff_second_order  # past theta K = pi the exact map inverts the probe


@pytest.mark.parametrize("k", [3, 50, 400])
@pytest.mark.parametrize("theta", [0.2, 0.7, 1.3])
def test_charged_clusters_give_the_bath_temperature_at_every_theta(k, theta):
    r = cluster_teff("charged", _h(k, theta), Bath(0.8), THERMAL)
    assert r.teff == pytest.approx(0.8, rel=1e-10)  # theorem of §4.1, exact map; round-off of O(K^2) sums


def test_half_filling_is_infinite_and_above_is_negative():
    assert optimal_teff_second_order(8, 4.0) == math.inf
    assert optimal_teff_second_order(8, 4.5) < 0
    # the maximiser makes the inverted probe the least inverted: |T| largest among states with n = 4.5
    assert abs(optimal_teff_second_order(8, 4.5)) > abs(1 / math.log((8 - 4.5) / 4.5))


def test_qutip_probe_steady_state():
    # K = 3 optimum from a thermal start: iterate the collision with a QuTiP unitary from |g>, 400 collisions
    # (contraction 1 - (u + d) ~ 0.5 per collision at theta = 0.6, so 400 is far past round-off).
    k, theta = 3, 0.6
    rho_c = qutip.Qobj(cluster_density_matrix("optimal", k, Bath(1.0), THERMAL), dims=[[2] * k, [2] * k])
    sm = [qutip.tensor([qutip.destroy(2) if i == j else qutip.qeye(2) for i in range(k)]) for j in range(k)]
    jm = sum(sm)
    v = qutip.tensor(qutip.destroy(2).dag(), jm) + qutip.tensor(qutip.destroy(2), jm.dag())
    u = (-1j * theta * v).expm()
    probe = qutip.basis(2, 0).proj()
    for _ in range(400):
        probe = (u * qutip.tensor(probe, rho_c) * u.dag()).ptrace(0)
    r = cluster_teff("optimal", _h(k, theta), Bath(1.0), THERMAL)
    assert float(probe.full()[1, 1].real) == pytest.approx(r.probe_excited_population, abs=EXACT)
    assert abs(probe.full()[0, 1]) < EXACT  # the fixed point is diagonal (selection rule, §3)


def test_relaxation_rate_grows_as_k_squared():
    k = 257
    o = cluster_teff("optimal-energy", _h(k, 0.01 / k, rate=2.0), energy=(k - 1) / 2)
    d = cluster_teff("dephased", _h(k, 0.01 / k, rate=2.0), energy=(k - 1) / 2)
    assert o.relaxation_rate_second_order == pytest.approx(2.0 * (0.01 / k) ** 2 * (o.jp_jm + o.jm_jp), rel=EXACT)
    assert d.relaxation_rate_second_order == pytest.approx(2.0 * (0.01 / k) ** 2 * k, rel=EXACT)  # C = 0: A + B = K
    assert o.relaxation_rate == pytest.approx(o.relaxation_rate_second_order, rel=1e-4)  # (theta sqrt(A))^2 ~ 2.5e-5


# ----------------------------------------------------------------------------------------------------------------------
# records, errors, CLI


def test_record_round_trips():
    r = cluster_teff("optimal", _h(4), Bath(1.0), THERMAL)
    assert ClusterTeff.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert "teff" in str(r)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: cluster_teff("best", _h(3), Bath(1.0)), "`cluster`"),
        (lambda: cluster_teff("optimal", _h(3, coupling=(1.0, 0.0, 1.0)), Bath(1.0)), "`coupling`"),
        (lambda: cluster_teff("optimal", _h(3)), "`bath` and `energy`"),
        (lambda: cluster_teff("optimal", _h(3), Bath(1.0), energy=1.0), "`bath` and `energy`"),
        (lambda: cluster_teff("optimal", _h(4), energy=2.0), "`energy`"),
        (lambda: cluster_teff("optimal", _h(MAX_BLOCK_ATOMS + 1), Bath(1.0)), "`cluster_size`"),
        (lambda: bath_for_energy(4, -0.1), "`energy`"),
        (lambda: fit_power_law([1, 2], [1.0, -1.0]), "`ks, values`"),
    ],
)
def test_bad_input_names_the_argument(call, fragment):
    with pytest.raises(ParameterError, match=fragment):
        call()


def test_cli_optimal_cluster(capsys):
    assert main(["harvest", "--cluster", "optimal", "--cluster-size", "3", "-T", "1", "--initial-temperature", "0.5",
                 "--theta", "0.3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    r = cluster_teff("optimal", _h(3, 0.3), Bath(1.0), THERMAL)
    assert out["teff"] == pytest.approx(r.teff, rel=FIXED_POINT)
    assert main(["harvest", "--cluster", "optimum", "-T", "1"]) == 2
    err = capsys.readouterr().err
    assert "optimal-energy" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_equal_couplings_rescale_theta():
    # J_-^(g) = g J_- for equal g: the same as theta g (checked against the dense map with that coupling vector)
    rho = cluster_density_matrix("optimal-energy", 3, Bath(1.0), THERMAL)
    r = cluster_teff("optimal-energy", _h(3, 0.8, coupling=(0.5, 0.5, 0.5)), Bath(1.0), THERMAL)
    pe = float(probe_fixed_point(rho, 0.8, coupling=(0.5, 0.5, 0.5))[1, 1].real)
    assert r.probe_excited_population == pytest.approx(pe, rel=FIXED_POINT)
    assert r.teff == pytest.approx(cluster_teff("optimal-energy", _h(3, 0.4), Bath(1.0), THERMAL).teff, rel=EXACT)
