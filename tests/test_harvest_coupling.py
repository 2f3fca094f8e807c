"""Probe coupling vectors g_i in the harvesting circuits and their twin (issue 8, item 3, circuit side).

V = σ+^p J-^(g) + h.c., J-^(g) = Σ g_i σ-^i. The circuits apply the exact coupled unitary on the coupled
atoms (``ordering='exact'``) or exchange gates XXPlusYY(2 f θ g_i); the twin
(:func:`qcharge.reference.twin.harvest_instance_states`) applies the same schedule and matrix as exact channels.

Tolerances
----------
* EXACT = 1e-10 for circuit (Aer density matrix) vs twin vs an independent SciPy ``expm`` rebuild: all
  exact channels in float64 on <= 5 qubits and <= ~20 collisions; round-off observed ~5e-15.
* GATE = 1e-13 for single matrices (one eigh / expm each).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import expm

from qcharge.circuits.harvesting import harvesting_circuit, harvesting_instances
from qcharge.coherence import dephase
from qcharge.exceptions import ParameterError
from qcharge.execute import resources, run_density_matrix
from qcharge.params import Bath, Harvest, InitialState
from qcharge.protocol import collective_unitary, coupled_schedule, coupled_unitary, harvesting_plan, trotter_schedule
from qcharge.reference.harvest import make_cluster
from qcharge.reference.probe import probe_instance
from qcharge.reference.twin import harvest_instance_states
from qcharge.results import HarvestRun
from qcharge.states import SIGMA_MINUS, SIGMA_PLUS, local_operator, mean_occupation
from qcharge.thermo import effective_temperature

from .conftest import random_density_matrix
from .test_cli import one_line_error, run_json

EXACT = 1e-10
GATE = 1e-13
COUPLINGS = [(1.0, 0.0), (1.0, 0.5), (1.0, 1.0)]


def _v(k: int, atom: int) -> np.ndarray:
    """σ+^p σ-^atom + h.c. on (probe, K atoms), probe left-most."""
    v = local_operator(SIGMA_PLUS, 0, k + 1) @ local_operator(SIGMA_MINUS, atom + 1, k + 1)
    return v + v.conj().T


def _dissipator(op: np.ndarray) -> np.ndarray:
    eye = np.eye(op.shape[0])
    ldl = op.conj().T @ op
    return np.kron(op.conj(), op) - 0.5 * np.kron(eye, ldl) - 0.5 * np.kron(ldl.T, eye)


def _rebuild(rho_c, harvest: Harvest, times, total, saves, ordering, seed):
    """Independent probe states: expm of the weighted generator (exact) or of each g_i-weighted gate of the
    *uncoupled* trotter_schedule (zeros kept, no merging), the probe bath by expm of its Lindbladian."""
    k, th, g = harvest.cluster_size, harvest.theta, harvest.coupling
    nbar = mean_occupation(harvest.probe_temperature)
    lind = harvest.probe_gamma * ((nbar + 1) * _dissipator(SIGMA_MINUS) + nbar * _dissipator(SIGMA_PLUS))
    sched = trotter_schedule(k, ordering, len(times), seed)
    rho, now, out, c = np.diag([1.0, 0.0]).astype(complex), 0.0, [], 0
    for t, what in sorted([(t, 0) for t in times] + [(s, 1) for s in saves]):
        rho = (expm(lind * (t - now)) @ rho.reshape(-1, order="F")).reshape(2, 2, order="F")
        now = t
        if what == 1:
            out.append(rho)
            continue
        if sched is None:
            u = expm(-1j * th * sum(gi * _v(k, i) for i, gi in enumerate(g)))
        else:
            u = np.eye(2 ** (k + 1), dtype=complex)
            for atom, frac in sched[c]:
                u = expm(-1j * frac * th * g[atom] * _v(k, atom)) @ u
        c += 1
        big = (u @ np.kron(rho, rho_c) @ u.conj().T).reshape(2, 2**k, 2, 2**k)
        rho = np.einsum("aibi->ab", big)
    return np.array(out)


# --------------------------------------------------------------------------------------------- protocol
def test_coupled_unitary_is_the_weighted_exchange():
    th = 0.7
    for g in [(1.0, 0.5), (0.3, -1.2, 0.7), (1.0, 0.0)]:
        want = expm(-1j * th * sum(gi * _v(len(g), i) for i, gi in enumerate(g)))
        assert np.abs(coupled_unitary(g, th) - want).max() < GATE
    # all ones is the collective unitary itself (the same cached array); equal g_i rescale theta
    assert coupled_unitary((1.0, 1.0), th) is collective_unitary(2, th)
    assert np.abs(coupled_unitary((2.0, 2.0), th) - collective_unitary(2, 2 * th)).max() < GATE
    # an uncoupled atom sees the identity: the circuits apply the unitary on the coupled atoms only
    assert np.abs(coupled_unitary((1.0, 0.0), th) - np.kron(coupled_unitary((1.0,), th), np.eye(2))).max() < GATE
    for bad in ([0.0, 0.0], [1.0, math.nan], "g", None):
        with pytest.raises(ParameterError, match="coupling"):
            coupled_unitary(bad, th)


def test_coupled_schedule_weights_skips_and_merges():
    pal = trotter_schedule(2, "palindromic", 2)
    assert coupled_schedule(pal, (1.0, 1.0)) is pal
    assert coupled_schedule(pal, (1.0, 0.5)) == [((0, 0.5), (1, 0.5), (0, 0.5))] * 2
    # one coupled atom: one gate in every ordering, the full angle (the two halves merge)
    for ordering in ("palindromic", "forward", "alternating", "random"):
        assert coupled_schedule(trotter_schedule(2, ordering, 3, seed=1), (1.0, 0.0)) == [((0, 1.0),)] * 3
        assert coupled_schedule(trotter_schedule(2, ordering, 3, seed=1), (0.0, 0.5)) == [((1, 0.5),)] * 3
    # K = 3 with atom 2 uncoupled: still a palindrome over the coupled atoms
    assert coupled_schedule(trotter_schedule(3, "palindromic", 1), (1.0, 1.0, 0.0)) == [((0, 0.5), (1, 1.0), (0, 0.5))]
    assert coupled_schedule(None, (1.0, 0.0)) is None


# --------------------------------------------------------------------------------------------- circuit vs twin
@pytest.mark.parametrize("coupling", COUPLINGS)
@pytest.mark.parametrize("ordering", ["exact", "palindromic", "random"])
def test_circuit_matches_twin_and_rebuild(coupling, ordering, rng):
    rho_c = random_density_matrix(4, rng)  # coherences of every Δn: the probe gets coherence too
    harvest = Harvest(0.6, rate=2.0, probe_gamma=0.4, probe_temperature=0.7, coupling=coupling)
    plan = harvesting_plan(harvest, 2.0, 3, seed=4)
    saves = [0.0, 0.7, 2.0]
    circuits = harvesting_instances(plan, rho_c, save_times=saves, ordering=ordering)
    got = run_density_matrix(circuits)
    twin = harvest_instance_states(plan, rho_c, ordering=ordering, save_times=saves)
    assert sum(len(t) for t in plan.collision_times) >= 6  # the instances do collide
    for i, (times, seed) in enumerate(zip(plan.collision_times, plan.instance_seeds)):
        assert circuits[i].metadata["coupling"] == list(coupling)
        ref = _rebuild(rho_c, harvest, times, 2.0, saves, ordering, seed)
        for j in range(len(saves)):
            assert np.abs(got[i][f"probe_{j}"] - twin[i, j]).max() < EXACT
            assert np.abs(twin[i, j] - ref[j]).max() < EXACT
        if ordering == "exact":  # the reference's per-instance probe (exact map) is the same state
            assert np.abs(probe_instance(rho_c, harvest, times, 2.0) - twin[i, -1]).max() < EXACT


def test_one_atom_coupling_is_one_gate_and_needs_no_trotter(rng):
    rho_c = random_density_matrix(4, rng)
    harvest = Harvest(0.6, coupling=(1.0, 0.0))
    times = [0.2, 0.9, 1.4]
    exact, pal = (harvesting_circuit(harvest, rho_c, times, 1.5, ordering=o, seed=0) for o in ("exact", "palindromic"))
    assert pal.count_ops()["xx_plus_yy"] == len(times) and exact.count_ops()["unitary"] == len(times)
    assert all(len(ins.qubits) == 2 for ins in exact.data if ins.operation.name == "unitary")
    # the single exchange is the exact collision: both orderings give the same probe
    sa, sb = run_density_matrix([exact, pal])
    assert np.abs(sa["probe_0"] - sb["probe_0"]).max() < EXACT


@pytest.mark.parametrize("ordering", ["exact", "palindromic"])
def test_one_atom_coupling_transpiles_to_fewer_two_qubit_gates(ordering):
    rho_c = make_cluster("charged", Bath(1.0), InitialState())
    counts = {}
    for g in [(1.0, 1.0), (1.0, 0.5), (1.0, 0.0)]:
        qc = harvesting_circuit(Harvest(0.5, coupling=g), rho_c, [0.5, 1.0], 1.0, ordering=ordering, seed=0)
        counts[g] = resources(qc)["transpiled_two_qubit_gates"]  # logical cx + u, optimisation level 1
    # The preparation of each pair is the same in all three; only the collision differs. A Trotter
    # collision has the same gates for every coupling with two non-zero entries; the exact collective
    # K = 2 collision is three exchange gates (circuits.synthesis), a general coupling a dense 8x8 unitary.
    assert counts[(1.0, 0.0)] < min(counts[(1.0, 0.5)], counts[(1.0, 1.0)])
    if ordering == "palindromic":
        assert counts[(1.0, 0.5)] == counts[(1.0, 1.0)]


def test_default_coupling_circuit_is_unchanged(rng):
    rho_c = random_density_matrix(4, rng)
    a = harvesting_circuit(Harvest(0.5), rho_c, [0.3, 0.8], 1.0, ordering="exact", seed=0)
    b = harvesting_circuit(Harvest(0.5, coupling=[1, 1]), rho_c, [0.3, 0.8], 1.0, ordering="exact", seed=0)
    assert a.metadata["coupling"] == [1.0, 1.0] and a == b
    # the collective exact K = 2 collision: three exchange gates each (circuits.synthesis), no dense unitary
    assert "unitary" not in a.count_ops() and a.metadata["probe_collision"] == "exact_exchange_gates"


# --------------------------------------------------------------------------------------------- the physics
def test_single_atom_coupling_hides_the_coherence_in_the_circuits():
    # g = (1, 0): the probe exchanges with atom 0 only, whose reduced state dephasing does not change:
    # charged and dephased pairs give the same probe, and the steady state is T_eff = 0.763038 at T = 1.
    bath, theta = Bath(1.0), 0.5
    charged = make_cluster("charged", bath, InitialState())
    dephased = dephase(charged)
    harvest = Harvest(theta, rate=1.0, coupling=(1.0, 0.0))
    plan = harvesting_plan(harvest, 40.0, 6, seed=5)
    states = {}
    for name, rho in (("charged", charged), ("dephased", dephased)):
        circ = run_density_matrix(harvesting_instances(plan, rho, ordering="palindromic"))
        twin = harvest_instance_states(plan, rho, ordering="palindromic")[:, 0]
        states[name] = np.array([s["probe_0"] for s in circ])
        assert np.abs(states[name] - twin).max() < EXACT
    assert np.abs(states["charged"] - states["dephased"]).max() < EXACT
    # Closed form: one exchange with a qubit of population p_a maps p -> cos^2θ p + sin^2θ p_a, so after
    # n collisions from |g>, p = p_a (1 - cos^(2n) θ); p_a is atom 0's population in the charged pair.
    x = math.exp(-1.0)
    p_a = (x / 2 + x * x) / (1 + x + x * x)
    assert effective_temperature(p_a, 1.0) == pytest.approx(0.763038, abs=5e-7)  # docs/physics.md §4.1
    n = np.array([len(t) for t in plan.collision_times])
    p_closed = p_a * (1 - np.cos(theta) ** (2 * n))
    assert np.abs(states["charged"][:, 1, 1].real - p_closed).max() < EXACT
    # How close the 6 instances at t = 40 come to 0.763038: at most p_a cos^(2 n_min) θ in p_e
    # (n_min = 35 here: 1.1e-4 relative), i.e. |dT| <= T^2/(p(1-p)) dp ~ 8e-5 (observed 3.4e-5).
    teff = effective_temperature(float(states["charged"][:, 1, 1].real.mean()), 1.0)
    dp = p_a * np.cos(theta) ** (2 * n.min())
    assert n.min() >= 30 and abs(teff - 0.763038) <= 0.763038**2 / (p_a * (1 - p_a)) * dp * 1.01 + 5e-7
    assert abs(teff - 0.763038) > 1e-7  # finite t: approached, not reached


# --------------------------------------------------------------------------------------------- CLI
def test_run_harvest_coupling_flag(tmp_path, capsys):
    path = tmp_path / "g.json"
    path.write_text("[1, 0]")
    argv = ["run", "harvest", "-T", "1", "--time", "8", "--instances", "4", "--seed", "3", "--coupling", str(path)]
    charged = run_json(capsys, argv + ["--cluster", "charged"])
    dephased = run_json(capsys, argv + ["--cluster", "dephased"])
    assert charged["coupling"] == [1.0, 0.0] and charged["agree"] and dephased["agree"]
    for key in ("reference", "twin", "circuit"):  # every column: the coherence is invisible
        assert charged[key]["teff"] == pytest.approx(dephased[key]["teff"], rel=EXACT)
    # the default is collective, and reported as such
    default = run_json(capsys, ["run", "harvest", "-T", "1", "--time", "2", "--instances", "2", "--cluster", "charged"])
    assert default["coupling"] == [1.0, 1.0]


@pytest.mark.parametrize("text, word", [("[1, 0, 1]", "one entry per atom"), ("[0, 0]", "all zero"),
                                        ("[1, \"a\"]", "could not convert"), ("{", "JSON")])
def test_run_harvest_bad_coupling_is_one_line(tmp_path, capsys, text, word):
    path = tmp_path / "g.json"
    path.write_text(text)
    err = one_line_error(capsys, ["run", "harvest", "-T", "1", "--cluster", "charged", "--coupling", str(path)])
    assert "`--coupling`" in err and word in err


def test_harvest_run_record_without_coupling_still_loads():
    # records written before the field (ledger result.json, sweep tables) have no `coupling`
    from qcharge.experiments import run_harvest

    res = run_harvest(Bath(1.0), InitialState(), "charged", Harvest(coupling=(1.0, 0.0)), 1.0, instances=2, seed=1)
    data = res.to_dict()
    assert data["coupling"] == [1.0, 0.0] and "g = [1.0, 0.0]" in str(res)
    del data["coupling"]
    assert HarvestRun.from_dict(data).coupling is None
