"""Circuit builders (qcharge.circuits) against the NumPy twin, the Dicke master equation and closed forms.

Tolerances
----------
* 1e-10 for circuit-vs-twin comparisons: both sides are exact channels evaluated in float64; the
  accumulated round-off of ~1000 gate applications on <= 7 qubits is ~1e-14 (observed 5e-15).
* 1e-13 for single gates / unitaries (a handful of cos/sin/eigh round-offs).
* Statistical comparisons (measure / coin ancillas) use bounds derived from the number of shots or
  instances, stated at the test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.quantum_info import Operator
from scipy.linalg import expm

from qcharge.circuits.charging import charging_circuit
from qcharge.circuits.collisions import (
    MAX_EXACT_ATOMS,
    append_collision,
    append_save_marker,
    collective_unitary,
    exchange_gate,
)
from qcharge.circuits.harvesting import ChargedCluster, damping_angle, harvesting_circuit, harvesting_instances
from qcharge.circuits.thermal import (
    append_density_matrix,
    append_thermal_ancilla,
    append_thermal_atoms,
    thermal_angle,
)
from qcharge.exceptions import ParameterError
from qcharge.execute import run_density_matrix
from qcharge.params import ORDERINGS, Atoms, Bath, Collision, Harvest, InitialState
from qcharge.protocol import charging_plan, harvesting_plan, trotter_schedule
from qcharge.protocol import collective_unitary as plan_unitary
from qcharge.reference import probe
from qcharge.reference.twin import charging_trajectory, exchange_unitary
from qcharge.states import (
    SIGMA_MINUS,
    SIGMA_PLUS,
    collective_lowering,
    excited_probability,
    from_qiskit_order,
    ground_state,
    local_operator,
    mean_occupation,
    partial_trace,
    thermal_state,
)

from .conftest import SEED, random_density_matrix

EXACT = 1e-10


def _circuit(*args, measure=False, **kw):
    """Builder on the plan of these arguments (the plan is what circuit and twin share)."""
    return charging_circuit(charging_plan(*args, **kw), measure=measure)


def _traj(*args, save_every=1, **kw):
    """Twin on the plan of these arguments, saving every collision unless told otherwise."""
    return charging_trajectory(charging_plan(*args, save_every=save_every, **kw))

GATE = 1e-13
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)


def trace_distance(a: np.ndarray, b: np.ndarray) -> float:
    return 0.5 * float(np.abs(np.linalg.eigvalsh(a - b)).sum())


def l1(rho: np.ndarray) -> float:
    return float(np.abs(rho).sum() - np.abs(np.diag(rho)).sum())


def dissipator(op: np.ndarray) -> np.ndarray:
    """Column-stacking superoperator of D[L]."""
    eye = np.eye(op.shape[0])
    ldl = op.conj().T @ op
    return np.kron(op.conj(), op) - 0.5 * np.kron(eye, ldl) - 0.5 * np.kron(ldl.T, eye)


def evolve(liouvillian: np.ndarray, rho: np.ndarray, t: float) -> np.ndarray:
    v = expm(liouvillian * t) @ rho.reshape(-1, order="F")
    return v.reshape(rho.shape, order="F")


def dicke_me(n: int, temperature: float, rho0: np.ndarray, t: float) -> np.ndarray:
    """Dicke master equation gamma(nbar+1)D[J-] + gamma nbar D[J+] (gamma = 1), inline with scipy expm."""
    nbar = mean_occupation(temperature)
    jm = collective_lowering(n)
    return evolve((nbar + 1) * dissipator(jm) + nbar * dissipator(jm.conj().T), rho0, t)


def states_of(qc) -> dict[str, np.ndarray]:
    return run_density_matrix(qc)[0]


# --------------------------------------------------------------------------------------------- gates
@pytest.mark.parametrize("theta", [0.0, 0.1, 0.3, 1.0, -0.7, np.pi / 2])
def test_exchange_gate_is_expm_of_xx_plus_yy(theta):
    want = expm(-1j * theta * (np.kron(X, X) + np.kron(Y, Y)) / 2)
    got = Operator(exchange_gate(theta)).data
    assert np.abs(got - want).max() < GATE
    # sigma form (QuTiP order, ancilla first) equals the little-endian matrix: the generator is swap-symmetric.
    v = np.kron(SIGMA_PLUS, SIGMA_MINUS)
    v = v + v.conj().T
    assert np.abs(from_qiskit_order(got) - expm(-1j * theta * v)).max() < GATE
    assert np.abs(got - exchange_unitary(theta)).max() < GATE


@pytest.mark.parametrize("n", [1, 2, 3])
def test_exact_collision_gate_qubit_order(n):
    # ancilla on qubit 0, atoms on 1..n: QuTiP order of (q0, ..., qn) = (ancilla, atom 0, ...), as the twin.
    qc = QuantumCircuit(n + 1)
    append_collision(qc, list(range(1, n + 1)), 0, 0.37, None)
    got = from_qiskit_order(Operator(qc).data)
    assert np.abs(got - plan_unitary(n, 0.37)).max() < GATE


@pytest.mark.parametrize("ordering", ["forward", "palindromic", "alternating", "random"])
def test_trotter_gates_follow_shared_schedule(ordering):
    n, theta = 3, 0.4
    sched = charging_plan(Atoms(n), Bath(1.0), InitialState(), Collision(0.3, ordering), 2, seed=7).schedule
    assert sched == tuple(trotter_schedule(n, ordering, 2, seed=7))
    for entry in sched:
        qc = QuantumCircuit(n + 1)
        append_collision(qc, list(range(1, n + 1)), 0, theta, entry)
        want = np.eye(2 ** (n + 1), dtype=complex)
        for atom, frac in entry:  # list order = time order
            v = local_operator(SIGMA_PLUS, 0, n + 1) @ local_operator(SIGMA_MINUS, atom + 1, n + 1)
            want = expm(-1j * frac * theta * (v + v.conj().T)) @ want
        assert np.abs(from_qiskit_order(Operator(qc).data) - want).max() < GATE


def test_exact_collision_limited_to_small_n():
    qc = QuantumCircuit(MAX_EXACT_ATOMS + 2)
    with pytest.raises(ParameterError, match="atom_qubits"):
        append_collision(qc, list(range(MAX_EXACT_ATOMS + 1)), MAX_EXACT_ATOMS + 1, 0.1, None)
    with pytest.raises(ParameterError, match="n_atoms"):
        collective_unitary(MAX_EXACT_ATOMS + 1, 0.1)
    with pytest.raises(ParameterError, match="ordering"):
        trotter_schedule(2, "sideways", 1)


# --------------------------------------------------------------------------------------------- thermal preparation
@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0, 3.0])
def test_purified_ancilla_is_exactly_thermal(temperature):
    pe = excited_probability(temperature)
    qc = QuantumCircuit(2)
    append_thermal_ancilla(qc, 0, pe, partner=1)
    append_save_marker(qc, "a", [0])
    rho = states_of(qc)["a"]
    assert np.abs(rho - np.diag([1 - pe, pe])).max() < GATE
    # A pure RY ancilla has the right populations but coherence sqrt(pg pe): a coherent drive, not a bath.
    pure = QuantumCircuit(1)
    pure.ry(thermal_angle(pe), 0)
    append_save_marker(pure, "a", [0])
    assert abs(states_of(pure)["a"][0, 1] - np.sqrt(pe * (1 - pe))) < GATE


def test_thermal_atoms_reuse_one_partner():
    qc = QuantumCircuit(4)
    append_thermal_atoms(qc, [0, 1, 2], excited_probability(0.5), partner=3)
    append_save_marker(qc, "rho", [0, 1, 2])
    assert qc.num_qubits == 4
    assert np.abs(states_of(qc)["rho"] - thermal_state(3, 0.5)).max() < GATE


@pytest.mark.parametrize("n_sys", [1, 2, 3])
def test_density_matrix_preparation(n_sys, rng):
    rho = random_density_matrix(2**n_sys, rng)  # full rank: n_sys purifiers
    qc = QuantumCircuit(2 * n_sys)
    append_density_matrix(qc, rho, list(range(n_sys)), list(range(n_sys, 2 * n_sys)))
    append_save_marker(qc, "rho", list(range(n_sys)))
    append_save_marker(qc, "purifiers", list(range(n_sys, 2 * n_sys)))
    out = states_of(qc)
    assert np.abs(out["rho"] - rho).max() < EXACT
    assert np.abs(out["purifiers"] - ground_state(n_sys)).max() < EXACT  # reset after use
    with pytest.raises(ParameterError, match="purifier_qubits"):
        append_density_matrix(QuantumCircuit(2 * n_sys), rho, list(range(n_sys)), list(range(n_sys, 2 * n_sys - 1)))


# --------------------------------------------------------------------------------------------- charging vs twin
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("ordering", ORDERINGS)
@pytest.mark.parametrize("t0", [0.0, 0.5])
def test_charging_circuit_equals_numpy_twin(n, ordering, t0):
    atoms, bath = Atoms(n), Bath(1.0)
    initial = InitialState.thermal(t0) if t0 else InitialState()
    collision = Collision(0.35, ordering)
    qc = _circuit(atoms, bath, initial, collision, 6, seed=SEED, save_every=2)
    times, states = _traj(atoms, bath, initial, collision, 6, seed=SEED, save_every=2)
    out = states_of(qc)
    saves = qc.metadata["saves"]
    assert [s["collision"] for s in saves] == [0, 2, 4, 6]
    assert np.allclose([s["time"] for s in saves], times, rtol=0, atol=1e-15)
    for s, ref in zip(saves, states):
        assert np.abs(out[s["label"]] - ref).max() < EXACT, (s["label"], ordering)


def test_charging_from_matrix_and_eg_states(rng):
    atoms, bath, coll = Atoms(2), Bath(0.7), Collision(0.5, "exact")
    for initial in (InitialState("eg"), InitialState.from_matrix(random_density_matrix(4, rng)), InitialState("excited")):
        qc = _circuit(atoms, bath, initial, coll, 4)
        _, states = _traj(atoms, bath, initial, coll, 4)
        assert qc.num_qubits == 4
        assert np.abs(states_of(qc)["rho_4"] - states[-1]).max() < EXACT


def test_width_stays_n_plus_2():
    for method in ("purify", "measure", "coin"):
        for n_coll in (1, 10, 60):
            qcs = _circuit(Atoms(3), Bath(1.0), InitialState.thermal(0.5), Collision(0.3, "palindromic", method),
                                   n_coll, seed=1, n_instances=2)
            for qc in qcs if isinstance(qcs, list) else [qcs]:
                assert qc.num_qubits == 5 and qc.metadata["width"] == 5


# --------------------------------------------------------------------------------------------- physics of the orderings
def test_palindromic_follows_dicke_me_forward_does_not():
    """docs/physics.md §5.2 table, N = 2, T = 1, theta = 0.3, n = 120 collisions (t = 4.9909): ME C_l1 = 0.2447.

    * exact collective gate: D_tr = 2.1e-7 (O(theta^2) transient; bound 1e-6);
    * palindromic: D_tr = 6.9e-4 <= theta^4 = 8.1e-3 (the leak is ~0.0165 theta^4 gamma t);
    * forward: C_l1 = 0.0481 (table, 3 digits -> tolerance 5e-4), D_tr = 0.157: the cascaded
      bath of (5.3) destroys the singlet-protected coherence. A documented fact, not a bug.
    """
    theta, n = 0.3, 120
    atoms, bath = Atoms(2), Bath(1.0)
    qcs = [_circuit(atoms, bath, InitialState(), Collision(theta, o), n, seed=SEED)
           for o in ("exact", "palindromic", "forward")]
    t = qcs[0].metadata["time"]
    assert t == pytest.approx(n * theta**2 / (2 * mean_occupation(1.0) + 1), rel=1e-14)
    me = dicke_me(2, 1.0, ground_state(2), t)
    assert l1(me) == pytest.approx(0.244728, abs=1e-6)
    exact, pal, fwd = (d[f"rho_{n}"] for d in run_density_matrix(qcs))
    assert trace_distance(exact, me) < 1e-6
    assert trace_distance(pal, me) < theta**4
    assert l1(pal) == pytest.approx(0.244574, abs=1e-6)
    assert l1(fwd) == pytest.approx(0.0481, abs=5e-4)
    assert trace_distance(fwd, me) > 0.15


def test_pure_ry_ancilla_gives_wrong_state():
    """Without dephasing the ancilla carries <sigma_-> != 0: a coherent drive creates Delta n = +-1
    coherence <J_-> (zero for every dephased method, to round-off) and a different state."""
    n, theta, n_coll = 2, 0.3, 40
    pe = excited_probability(1.0)
    right = states_of(_circuit(Atoms(n), Bath(1.0), InitialState(), Collision(theta, "exact"), n_coll))
    wrong = QuantumCircuit(n + 1)
    for _ in range(n_coll):
        wrong.reset(n)
        wrong.ry(thermal_angle(pe), n)  # populations right, coherence not removed
        append_collision(wrong, list(range(n)), n, theta, None)
    append_save_marker(wrong, "rho", list(range(n)))
    rho_wrong, rho_right = states_of(wrong)["rho"], right[f"rho_{n_coll}"]
    jm = collective_lowering(n)
    assert abs(np.trace(rho_right @ jm)) < GATE
    # observed |<J_->| = 0.094 and D_tr = 0.42: both many orders above round-off.
    assert abs(np.trace(rho_wrong @ jm)) > 0.05
    assert trace_distance(rho_wrong, rho_right) > 0.2


# --------------------------------------------------------------------------------------------- stochastic ancillas
def test_measure_and_coin_ancillas_agree_with_purify():
    """Both are exact only on average.

    measure: 4000 shots; every per-shot matrix element has real and imaginary parts in [-1/2, 1]
    with variance <= 1/4 (Popoviciu), so a 5-sigma elementwise bound is 5 * 0.5 / sqrt(4000) = 0.040
    (observed ~1e-3 with this seed).
    coin: 300 instances; bound = 5 standard errors of the instance mean, elementwise, estimated from
    the instances themselves (+1e-12 for elements that are exactly equal in every instance).
    """
    atoms, bath, n = Atoms(2), Bath(1.0), 10
    label = f"rho_{n}"
    exact = states_of(_circuit(atoms, bath, InitialState(), Collision(0.3, "palindromic"), n))[label]
    meas = _circuit(atoms, bath, InitialState(), Collision(0.3, "palindromic", "measure"), n, seed=SEED)
    rho_m = run_density_matrix(meas, shots=4000, seed=SEED)[0][label]
    assert np.abs(rho_m - exact).max() < 5 * 0.5 / np.sqrt(4000)
    assert np.abs(rho_m - exact).max() > 1e-6  # it really is sampled, not the exact channel
    coins = _circuit(atoms, bath, InitialState(), Collision(0.3, "palindromic", "coin"), n, seed=SEED,
                             n_instances=300)
    assert len(coins) == 300
    per = np.array([d[label] for d in run_density_matrix(coins)])
    se = per.std(axis=0, ddof=1) / np.sqrt(len(per))
    assert np.all(np.abs(per.mean(axis=0) - exact) <= 5 * se + 1e-12)
    # An inner list is an ensemble: run_density_matrix averages it.
    assert np.abs(run_density_matrix([coins])[0][label] - per.mean(axis=0)).max() < 1e-14


def test_coin_frequencies_follow_pe():
    pe = excited_probability(1.0)
    coins = _circuit(Atoms(2), Bath(1.0), InitialState(), Collision(0.3, "exact", "coin"), 50, seed=3,
                             n_instances=40)
    draws = np.array([qc.metadata["coins"] for qc in coins])
    # 2000 Bernoulli(pe) draws: 5 sigma = 5 sqrt(pe pg / 2000) = 0.050
    assert abs(draws.mean() - pe) < 5 * np.sqrt(pe * (1 - pe) / draws.size)
    again = _circuit(Atoms(2), Bath(1.0), InitialState(), Collision(0.3, "exact", "coin"), 50, seed=3,
                             n_instances=40)
    assert [q.metadata["coins"] for q in again] == draws.tolist()


# --------------------------------------------------------------------------------------------- metadata
def _roundtrip(meta: dict) -> None:
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta


def test_metadata_roundtrip_and_keys(rng):
    qc = _circuit(Atoms(3), Bath(2.0), InitialState.thermal(0.5), Collision(0.2, "random", "measure"), 5,
                          seed=11, save_every=2, measure=True)
    md = qc.metadata
    _roundtrip(md)
    for key in ("experiment", "atom_qubits", "ancilla_qubit", "partner_qubit", "theta", "ordering", "ancilla_method",
                "n_collisions", "dt", "time", "bath_temperature", "initial_temperature", "seed", "save_labels",
                "saves", "counts_register"):
        assert key in md
    assert md["experiment"] == "charging" and md["seed"] == 11 and md["save_labels"] == ["rho_0", "rho_2", "rho_4", "rho_5"]
    # The seed in the metadata reproduces the circuit.
    again = _circuit(Atoms(3), Bath(2.0), InitialState.thermal(0.5), Collision(0.2, "random", "measure"), 5,
                             seed=md["seed"], save_every=2, measure=True)
    assert again == qc
    drawn = _circuit(Atoms(2), Bath(1.0), InitialState.thermal(np.inf), Collision(0.2, "random"), 3)
    _roundtrip(drawn.metadata)
    assert isinstance(drawn.metadata["seed"], int)
    h = harvesting_circuit(Harvest(0.4, probe_gamma=0.1, probe_temperature=0.5), random_density_matrix(4, rng),
                           [0.1, 0.5], 1.0, save_times=[0.2, 1.0])
    _roundtrip(h.metadata)
    assert h.metadata["experiment"] == "harvesting" and h.metadata["collision_times"] == [0.1, 0.5]


def test_input_errors_name_the_argument():
    with pytest.raises(ParameterError, match="atoms"):
        _circuit(Atoms.pair(0.5), Bath(1.0), InitialState(), Collision(0.3), 2)
    with pytest.raises(ParameterError, match="bath"):
        _circuit(Atoms(2), Bath(1.0, omega=2.0), InitialState(), Collision(0.3), 2)
    with pytest.raises(ParameterError, match="n_collisions"):
        _circuit(Atoms(2), Bath(1.0), InitialState(), Collision(0.3), -1)
    with pytest.raises(ParameterError, match="save_every"):
        _circuit(Atoms(2), Bath(1.0), InitialState(), Collision(0.3), 2, save_every=0)
    with pytest.raises(ParameterError, match="temperature"):
        _circuit(Atoms(2), Bath(np.inf), InitialState(), Collision(0.3), 2)
    with pytest.raises(ParameterError, match="excited"):
        append_thermal_ancilla(QuantumCircuit(1), 0, 0.3, method="coin")
    with pytest.raises(ParameterError, match="partner"):
        append_thermal_ancilla(QuantumCircuit(1), 0, 0.3)
    with pytest.raises(ParameterError, match="ancilla"):
        append_thermal_ancilla(QuantumCircuit(1), 0, 0.3, method="pure")


# --------------------------------------------------------------------------------------------- harvesting
def _probe_twin(rho_c, theta, times, total, save_times, gamma_p, temp_p, entry_fn=None):
    """Direct NumPy: exact map M at each time, damping by expm of the probe Lindbladian in between."""
    k = int(np.log2(rho_c.shape[0]))
    nbar = mean_occupation(temp_p)
    lind = gamma_p * ((nbar + 1) * dissipator(SIGMA_MINUS) + nbar * dissipator(SIGMA_PLUS))
    events = sorted([(t, 0) for t in times] + [(s, 1) for s in save_times])
    rho, now, out, i = np.diag([1.0, 0.0]).astype(complex), 0.0, [], 0
    for t, what in events:
        rho = evolve(lind, rho, t - now)
        now = t
        if what == 0:
            u = plan_unitary(k, theta) if entry_fn is None else entry_fn(i)
            i += 1
            big = u @ np.kron(rho, rho_c) @ u.conj().T
            rho = partial_trace(big, [0], k + 1)
        else:
            out.append(rho)
    return out


@pytest.mark.parametrize("ordering", ["exact", "palindromic"])
@pytest.mark.parametrize("damping", [(0.0, 0.0), (0.4, 0.7)])
def test_harvesting_matches_numpy(ordering, damping, rng):
    rho_c = random_density_matrix(4, rng)  # all coherences, incl. Delta n = +-1: a demanding test
    theta, times, total, saves = 0.6, [0.3, 0.5, 0.5, 1.2, 2.0], 2.5, [0.0, 0.4, 1.2, 2.5]
    harvest = Harvest(theta, rate=2.0, probe_gamma=damping[0], probe_temperature=damping[1])
    qc = harvesting_circuit(harvest, rho_c, times, total, save_times=saves, ordering=ordering, seed=5)
    def trotter_entry(i):
        u = np.eye(8, dtype=complex)
        for atom, frac in trotter_schedule(2, ordering, len(times), seed=5)[i]:
            v = local_operator(SIGMA_PLUS, 0, 3) @ local_operator(SIGMA_MINUS, atom + 1, 3)
            u = expm(-1j * frac * theta * (v + v.conj().T)) @ u
        return u

    entry_fn = None if ordering == "exact" else trotter_entry
    want = _probe_twin(rho_c, theta, times, total, saves, damping[0], damping[1], entry_fn)
    got = states_of(qc)
    assert qc.num_qubits == 5  # probe + pair + 2 purifiers (rank 4), which double as damping ancilla + partner
    for i, ref in enumerate(want):
        assert np.abs(got[f"probe_{i}"] - ref).max() < EXACT


def test_damping_angle_is_exact_gad():
    # cos^2 theta_d = exp(-gamma (2 nbar + 1) dt): populations relax by that factor, coherence by its root.
    gamma, temp, dt = 0.3, 0.8, 0.9
    th = damping_angle(gamma, temp, dt)
    assert np.cos(th) ** 2 == pytest.approx(np.exp(-gamma * (2 * mean_occupation(temp) + 1) * dt), rel=1e-14)
    assert damping_angle(gamma, np.inf, dt) == pytest.approx(np.pi / 2)
    assert damping_angle(0.0, temp, dt) == 0.0


def test_harvesting_charged_pipeline_matches_numpy():
    atoms, bath, initial, coll = Atoms(2), Bath(1.0), InitialState.thermal(0.5), Collision(0.4, "palindromic")
    cluster = ChargedCluster(atoms, bath, initial, coll, 8)
    rho_c = _traj(atoms, bath, initial, coll, 8)[1][-1]
    harvest = Harvest(0.5, probe_gamma=0.2, probe_temperature=1.5)
    times, saves = [0.2, 0.9, 1.1], [1.0, 1.5]
    qc = harvesting_circuit(harvest, cluster, times, 1.5, save_times=saves)
    want = _probe_twin(rho_c, 0.5, times, 1.5, saves, 0.2, 1.5)
    got = states_of(qc)
    assert qc.num_qubits == 5
    assert qc.metadata["cluster"]["kind"] == "charged"
    for i, ref in enumerate(want):
        assert np.abs(got[f"probe_{i}"] - ref).max() < EXACT


def test_harvesting_instances_are_seeded_poisson(rng):
    rho_c = random_density_matrix(4, rng)
    harvest = Harvest(0.5, rate=3.0, probe_gamma=0.2, probe_temperature=0.5)
    a = harvesting_instances(harvesting_plan(harvest, 2.0, 200, seed=9), rho_c, save_times=[1.0, 2.0])
    b = harvesting_instances(harvesting_plan(harvest, 2.0, 200, seed=9), rho_c, save_times=[1.0, 2.0])
    c = harvesting_instances(harvesting_plan(harvest, 2.0, 5, seed=10), rho_c, save_times=[1.0, 2.0])
    ta = [q.metadata["collision_times"] for q in a]
    assert ta == [q.metadata["collision_times"] for q in b]
    assert ta[:5] != [q.metadata["collision_times"] for q in c]
    counts = np.array([len(t) for t in ta])
    # Poisson(r t = 6): mean of 200 draws within 5 sigma = 5 sqrt(6/200) = 0.87
    assert abs(counts.mean() - 6.0) < 5 * np.sqrt(6.0 / 200)
    assert all(0 <= x <= 2.0 for t in ta for x in t)
    assert {q.metadata["instances_seed"] for q in a} == {9}
    # The instance average estimates the Poisson-averaged dynamics (4.3) of the twin:
    # elementwise within 5 standard errors of the instance mean (estimated from the instances).
    per = run_density_matrix(a)
    want = probe.probe_dynamics(rho_c, harvest, [1.0, 2.0])
    for i, label in enumerate(["probe_0", "probe_1"]):
        states = np.array([d[label] for d in per])
        se = states.std(axis=0, ddof=1) / np.sqrt(len(states))
        assert np.all(np.abs(states.mean(axis=0) - want[i]) <= 5 * se + 1e-12)
    assert np.abs(run_density_matrix([a])[0]["probe_1"] - states.mean(axis=0)).max() < 1e-14


def test_closed_form_pair_preparation_is_the_charged_pair():
    # The triplet mixture from closed-form angles (used by `qcharge export`) equals the charged pair
    # and the isometry preparation: exact channels on both sides, tolerance EXACT.
    from qcharge.circuits.thermal import append_symmetric_pair, symmetric_pair_populations
    from qcharge.reference.harvest import make_cluster

    rho = make_cluster("charged", Bath(1.0), InitialState("ground"))
    pops = symmetric_pair_populations(rho)
    assert pops is not None and abs(sum(pops) - 1) < EXACT
    qc = QuantumCircuit(3)
    append_symmetric_pair(qc, pops, [0, 1], 2)
    append_save_marker(qc, "pair", [0, 1])
    assert np.abs(run_density_matrix([qc])[0]["pair"] - rho).max() < EXACT
    assert symmetric_pair_populations(random_density_matrix(4, np.random.default_rng(SEED))) is None
    h = Harvest(theta=0.5, probe_gamma=0.3, probe_temperature=0.5)
    a, b = (harvesting_circuit(h, rho, [0.4, 1.1], 1.5, ordering="palindromic", seed=0, closed_form_pair=flag)
            for flag in (True, False))
    sa, sb = run_density_matrix([a, b])
    assert np.abs(sa["probe_0"] - sb["probe_0"]).max() < EXACT
    with pytest.raises(ParameterError, match="closed_form_pair"):
        harvesting_circuit(h, np.eye(4) / 4 + 0.1 * np.diag([1, 0, 0, -1]), [0.4], 1.0, closed_form_pair=True)


# ------------------------------------------------------------------------ exact pair collision synthesis
@pytest.mark.parametrize("theta", [0.05, 0.3, 0.9, 1.2, np.pi / 2, np.pi / np.sqrt(2), 2.9, -0.7])
def test_pair_collision_circuit_is_the_collective_unitary(theta):
    from qcharge.circuits.synthesis import pair_collision_circuit

    # Equal including the global phase (Givens factorisation of a free-fermion unitary); theta = pi/sqrt(2)
    # is where tan(alpha) is infinite. Three gates' cos/sin round-off: GATE.
    assert np.abs(Operator(pair_collision_circuit(theta)).data - plan_unitary(2, theta)).max() < GATE


def test_pair_collision_angles_tend_to_the_palindromic_step():
    from qcharge.circuits.synthesis import pair_collision_angles

    # Palindromic Strang step: (theta/2, theta); the exact angles differ at O(theta^3) (alpha = theta/2 + theta^3/24 + ...),
    # so the relative difference shrinks as theta^2: from 0.1 to 0.01 it falls by ~100 (bound 50).
    d = [abs(pair_collision_angles(t)[0] - t / 2) / t for t in (0.1, 0.01)]
    assert 0 < d[1] < d[0] / 50
    with pytest.raises(ParameterError, match="theta"):
        pair_collision_angles("x")


def test_exact_pair_collision_uses_three_exchange_gates_and_six_cz_on_heron():
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_ibm_runtime.fake_provider import FakeFez

    from qcharge.circuits.synthesis import append_pair_collision

    qc = QuantumCircuit(3)
    append_collision(qc, [1, 2], 0, 0.9, None)
    assert [inst.operation.name for inst in qc.data] == ["xx_plus_yy"] * 3
    tq = generate_preset_pass_manager(optimization_level=1, backend=FakeFez(), seed_transpiler=SEED).run(qc)
    # Two cz per exchange gate on a line atom - ancilla - atom (no routing); the dense unitary took 30-36.
    assert tq.count_ops().get("cz", 0) == 6
    with pytest.raises(ParameterError, match="atom_qubits"):
        append_pair_collision(QuantumCircuit(4), [1, 2, 3], 0, 0.9)


def test_exact_charging_circuit_still_matches_its_twin():
    atoms, bath, initial, coll = Atoms(2), Bath(1.0), InitialState.thermal(0.5), Collision(0.9, "exact")
    plan_ = charging_plan(atoms, bath, initial, coll, 6, seed=SEED)
    got = states_of(charging_circuit(plan_))["rho_6"]
    assert np.abs(got - charging_trajectory(plan_)[1][-1]).max() < EXACT


# ------------------------------------------------------------------ dephased in-circuit charged clusters
def test_dephasing_flips_average_to_the_computational_basis_diagonal(rng):
    from qcharge.coherence import dephase, heat_exchange_coherence
    from qcharge.protocol import dephasing_flips
    from qcharge.reference.pipeline import z_flipped

    rho = random_density_matrix(4, rng)
    # The four flip patterns, equally weighted, are exactly the dephasing channel (round-off: EXACT).
    mean = np.mean([z_flipped(rho, f) for f in ((0, 0), (0, 1), (1, 0), (1, 1))], axis=0)
    assert np.abs(mean - dephase(rho)).max() < EXACT and heat_exchange_coherence(mean) < EXACT
    flips = dephasing_flips(3, 4000, 2)
    assert flips.shape == (4000, 2) and np.array_equal(flips, dephasing_flips(3, 4000, 2))
    # Each atom flipped with probability 1/2, independently: 5 sigma = 5 * 0.5 / sqrt(4000) = 0.04.
    assert np.all(np.abs(flips.mean(axis=0) - 0.5) < 0.04)
    assert abs(np.mean(flips[:, 0] & flips[:, 1]) - 0.25) < 5 * np.sqrt(0.25 * 0.75 / 4000)
    with pytest.raises(ParameterError, match="flips"):
        z_flipped(rho, [1])


def test_dephased_pipeline_circuit_matches_its_twin():
    from qcharge.experiments import pipeline_dephased_twin

    atoms, bath, initial, coll = Atoms(2), Bath(1.0), InitialState(), Collision(0.9, "exact")
    cluster = ChargedCluster(atoms, bath, initial, coll, 3, seed=SEED, dephase=True)
    harvest = Harvest(0.5, rate=2.0, probe_gamma=0.2, probe_temperature=0.5)
    streams = harvesting_plan(harvest, 2.0, 4, seed=SEED)
    circuits = harvesting_instances(streams, cluster)
    # The Z gates are where the plan's draws put them, after the charging of each collision's pair.
    for qc in circuits:
        flips = np.array(qc.metadata["dephasing_flips"]).reshape(-1, 2)
        assert qc.count_ops().get("z", 0) == int(flips.sum()) and len(flips) == qc.metadata["n_collisions"]
        assert qc.metadata["cluster"]["kind"] == "charged-dephased"
    assert sum(qc.count_ops().get("z", 0) for qc in circuits) > 0  # the draws are not all empty
    got = np.array([d["probe_0"] for d in run_density_matrix(circuits)])
    assert np.abs(got - pipeline_dephased_twin(cluster, streams, 1.0)).max() < EXACT
    # Without the Z gates the same circuits are the charged pipeline (its twin: the fixed pair).
    charged = harvesting_instances(streams, ChargedCluster(atoms, bath, initial, coll, 3, seed=SEED))
    assert sum(qc.count_ops().get("z", 0) for qc in charged) == 0
    with pytest.raises(ParameterError, match="dephase"):
        ChargedCluster(atoms, bath, initial, coll, 3, dephase="yes")


def test_dephased_twin_averages_to_the_dephased_pair():
    from qcharge.coherence import dephase
    from qcharge.reference.pipeline import flipped_cluster_instance

    rho = _traj(Atoms(2), Bath(1.0), InitialState(), Collision(0.9, "exact"), 3)[1][-1]
    harvest = Harvest(0.5, probe_gamma=0.3, probe_temperature=0.5)
    times, total = [0.4, 1.3], 2.0
    # Multilinear in the fresh pairs: the mean over all 4^2 flip sequences is the dephased pair each time.
    patterns = [(a, b) for a in ((0, 0), (0, 1), (1, 0), (1, 1)) for b in ((0, 0), (0, 1), (1, 0), (1, 1))]
    mean = np.mean([flipped_cluster_instance(rho, p, harvest, times, total) for p in patterns], axis=0)
    want = probe.probe_instance(dephase(rho), harvest, times, total)
    assert np.abs(mean - want).max() < EXACT
    # One flip pattern alone is not the dephased pair (the pair has heat-exchange coherence).
    one = flipped_cluster_instance(rho, patterns[0], harvest, times, total)
    assert np.abs(one - want).max() > 1e-4
    with pytest.raises(ParameterError, match="flips"):
        flipped_cluster_instance(rho, [(0, 1)], harvest, times, total)
