"""qcharge.execute: Aer density matrices, SamplerV2 counts, job store, backends, resources.

Tolerances: exact rewrites (XX+YY -> RXX RYY, StatePreparation -> unitary) to 1e-13 (a few
round-offs); sampled frequencies within 5 binomial standard deviations (false-failure rate < 1e-6
per comparison).
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit import QuantumCircuit
from qiskit.circuit.library import StatePreparation, XXPlusYYGate
from qiskit.quantum_info import Operator
from qiskit_aer import AerSimulator
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from qcharge import execute
from qcharge.circuits.charging import charging_circuit
from qcharge.circuits.collisions import append_save_marker
from qcharge.exceptions import BackendError, ParameterError
from qcharge.execute import get_backend, prepare_for_aer, resources, run_counts, run_density_matrix
from qcharge.execute.seeds import simulator_seed
from qcharge.params import Atoms, Bath, Collision, InitialState
from qcharge.protocol import charging_plan
from qcharge.records import RecordStore
from qcharge.states import basis_state

from .conftest import SEED


def _charging(n=2, n_coll=5, ordering="palindromic", method="purify", initial=None, measure=True, **kw):
    plan = charging_plan(Atoms(n), Bath(1.0), initial or InitialState(), Collision(0.4, ordering, method), n_coll,
                         seed=SEED, **kw)
    return charging_circuit(plan, measure=measure)


# --------------------------------------------------------------------------------------------- density matrices
def test_rewrites_for_aer_are_exact():
    qc = QuantumCircuit(3)
    qc.append(XXPlusYYGate(0.83), [0, 2])
    qc.append(XXPlusYYGate(-1.2), [2, 1])
    prepared = prepare_for_aer(qc)
    names = {inst.operation.name for inst in prepared.data}
    assert "xx_plus_yy" not in names and {"rxx", "ryy", "save_density_matrix"} <= names
    body = prepared.copy_empty_like()
    for inst in prepared.data:
        if inst.operation.name != "save_density_matrix":
            body.append(inst)
    assert np.abs(Operator(body).data - Operator(qc).data).max() < 1e-13

    rng = np.random.default_rng(SEED)
    for vec in (rng.normal(size=8) + 1j * rng.normal(size=8), np.array([0, 0, 1j, 0, 0, 0, 0, 0])):
        vec = vec / np.linalg.norm(vec)
        sp = QuantumCircuit(3)
        sp.append(StatePreparation(vec), [0, 1, 2])
        u = prepare_for_aer(sp).data[0].operation
        assert u.name == "unitary"
        assert np.abs(Operator(u).data[:, 0] - vec).max() < 1e-13


def test_returned_states_are_in_qutip_order_of_listed_qubits():
    qc = QuantumCircuit(3)
    qc.x(0)  # qubit 0 excited
    append_save_marker(qc, "01", [0, 1])
    append_save_marker(qc, "10", [1, 0])
    append_save_marker(qc, "q0", [0])
    out = run_density_matrix(qc)[0]
    assert np.array_equal(out["01"], basis_state("10"))  # first listed (q0) is the left-most factor
    assert np.array_equal(out["10"], basis_state("01"))
    assert np.array_equal(out["q0"], basis_state("1"))
    no_marker = QuantumCircuit(2)
    no_marker.x(1)
    assert np.array_equal(run_density_matrix(no_marker)[0]["final"], basis_state("01"))


def test_density_matrix_ensembles_and_input_errors():
    a, b = QuantumCircuit(1), QuantumCircuit(1)
    b.x(0)
    for qc in (a, b):
        append_save_marker(qc, "q", [0])
    out = run_density_matrix([a, [a, b]])
    assert np.array_equal(out[0]["q"], basis_state("0"))
    assert np.allclose(out[1]["q"], np.eye(2) / 2, atol=1e-15)
    with pytest.raises(ParameterError, match="circuits"):
        run_density_matrix([a, []])
    with pytest.raises(ParameterError, match="circuits"):
        run_density_matrix(["not a circuit"])


def test_measured_ancilla_is_seeded_and_shot_averaged():
    qc = _charging(method="measure", measure=False)
    r1 = run_density_matrix(qc, seed=1, shots=500)[0]["rho_5"]
    r2 = run_density_matrix(qc, seed=1, shots=500)[0]["rho_5"]
    r3 = run_density_matrix(qc, seed=2, shots=500)[0]["rho_5"]
    assert np.array_equal(r1, r2)
    assert not np.array_equal(r1, r3)
    assert abs(np.trace(r1) - 1) < 1e-12


# --------------------------------------------------------------------------------------------- counts
def test_counts_sum_to_shots_and_are_reproducible():
    circs = [_charging(), _charging(n=3, ordering="exact"), _charging(method="measure")]
    c1 = run_counts(circs, shots=700, seed=5)
    c2 = run_counts(circs, shots=700, seed=5)
    c3 = run_counts(circs, shots=700, seed=6)
    assert [sum(c.values()) for c in c1] == [700, 700, 700]
    assert c1 == c2 and c1 != c3
    # keys are the 'meas' register only (the discarded ancilla bit is not included): N characters
    assert {len(k) for k in c1[2]} == {2} and {len(k) for k in c1[1]} == {3}


def test_bit_order_rightmost_is_atom_0():
    qc = _charging(n=2, n_coll=0, initial=InitialState("eg"))  # atom 0 excited
    assert run_counts(qc, shots=50)[0] == {"01": 50}


def test_counts_follow_exact_populations():
    qc = _charging(n=2, n_coll=12)
    shots = 4000
    counts = run_counts(qc, shots=shots, seed=SEED)[0]
    rho = run_density_matrix(qc)[0]["rho_12"]
    for idx, p in enumerate(np.real(np.diag(rho))):
        key = format(idx, "02b")[::-1]  # QuTiP index (atom 0 = MSB) -> Qiskit key (atom 0 = rightmost)
        freq = counts.get(key, 0) / shots
        assert abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / shots) + 1e-12


def test_coin_ensemble_counts_are_summed():
    coins = _charging(method="coin", n_instances=5)
    out = run_counts([coins], shots=100, seed=1)
    assert len(out) == 1 and sum(out[0].values()) == 500


def test_jobs_do_not_repeat_each_others_outcomes():
    # 300 equal 1-shot circuits in jobs of 100: every job used the same simulator seed, so the three
    # jobs returned identical outcomes (this made the coin ancilla's "shots" copies of each other).
    # With 8 uniformly random bits per shot, two independent 100-shot samples coincide as multisets
    # with probability far below 1e-100; the run is seeded, so the test is deterministic.
    qc = QuantumCircuit(8, 8)
    qc.h(range(8))
    qc.measure(range(8), range(8))
    jobs = run_counts([[qc] * 100] * 3, shots=1, seed=SEED, max_circuits_per_job=100)
    assert all(sum(c.values()) == 100 for c in jobs)
    assert jobs[0] != jobs[1] and jobs[1] != jobs[2] and jobs[0] != jobs[2]


def test_counts_need_measurements():
    with pytest.raises(ParameterError, match="measure=True"):
        run_counts(_charging(measure=False), shots=10)


def test_noisy_fake_backend_runs():
    counts = run_counts(_charging(n=2, n_coll=2), backend="aer-noisy:fake_manila", shots=200, seed=3)[0]
    assert sum(counts.values()) == 200


def test_noisy_counts_equal_the_full_device_noise_model():
    """Sampling on the noise model restricted to the used qubits must give the very counts of Aer's
    full ``AerSimulator.from_backend`` (same transpiled circuits, same seed, same errors on those qubits):
    integer counts, compared exactly."""
    from qiskit.transpiler import generate_preset_pass_manager

    circs = [_charging(n=2, n_coll=4), _charging(n=2, n_coll=3, method="measure")]
    ours = run_counts(circs, backend="aer-noisy:fake_manila", shots=1500, seed=5)
    full = AerSimulator.from_backend(execute.fake_backend("manila"))
    pm = generate_preset_pass_manager(optimization_level=1, backend=full, seed_transpiler=5)
    # Aer gets the hashed seed of seed=5 (qcharge.execute.seeds), the transpiler 5 itself.
    result = AerSamplerV2.from_backend(full, seed=simulator_seed(5)).run(pm.run(circs), shots=1500).result()
    assert ours == [dict(r.data.meas.get_counts()) for r in result]
    ideal = run_counts(circs, shots=1500, seed=5)
    assert ours != ideal  # the noise is there


# --------------------------------------------------------------------------------------------- seeds
# Gate noise on a circuit with a mid-circuit measurement: Aer simulates it shot by shot, seeding shot i
# with seed_simulator + i. Before the seeds were hashed, user seeds 7 and 8 gave the same shot records
# shifted by one shot.
SEED_NOISE = "custom:two_qubit_error=0.05,one_qubit_error=0.01"


def _mid_circuit_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(3, 4)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure(1, 3)  # mid-circuit: qubit 1 is used again below
    qc.cx(1, 2)
    qc.rx(0.9, 1)
    qc.measure([0, 1, 2], [0, 1, 2])
    return qc


def _shot_records(seed: int, shots: int) -> list[str]:
    from qiskit.transpiler import generate_preset_pass_manager

    device = get_backend(SEED_NOISE)
    tq = generate_preset_pass_manager(optimization_level=1, backend=device, seed_transpiler=1).run(_mid_circuit_circuit())
    sim = AerSimulator(noise_model=execute.restricted_noise_model(device, range(device.num_qubits)))
    pub = execute.samplers._make_sampler(sim, shots, seed).run([tq], shots=shots).result()[0]
    return pub.join_data().get_bitstrings()


def test_nearby_seeds_give_independent_shot_records():
    shots = 2000
    a, b = _shot_records(7, shots), _shot_records(8, shots)
    assert a == _shot_records(7, shots)  # the same seed still reproduces every shot
    pooled = np.unique(a + b, return_counts=True)[1] / (2 * shots)
    q = float(np.sum(pooled**2))  # P(two independent shots agree)
    for lag in (0, 1, -1):  # aligned, and shifted by one shot either way (the old defect: lag 1 agreed 100 %)
        pairs = list(zip(a[lag:], b)) if lag >= 0 else list(zip(a, b[-lag:]))
        agree = sum(x == y for x, y in pairs)
        # Independence: agreements ~ Binomial(len(pairs), q); 5 standard deviations.
        assert abs(agree - q * len(pairs)) < 5 * np.sqrt(len(pairs) * q * (1 - q)), lag


def test_nearby_seeds_give_independent_counts_and_states():
    from scipy.stats import chi2

    qc = _mid_circuit_circuit()
    shots = 4000
    c7, c8 = (run_counts(qc, backend=SEED_NOISE, shots=shots, seed=s)[0] for s in (7, 8))
    assert c7 == run_counts(qc, backend=SEED_NOISE, shots=shots, seed=7)[0]
    keys = sorted(set(c7) | set(c8))
    # Two-sample chi-square of equal-size samples of one distribution: ~ chi2(K - 1). Shifted shot
    # records differ by at most one shot per outcome (statistic < 1e-2, "suspiciously small"); both
    # tails are held at 1e-6.
    stat = sum((c7.get(k, 0) - c8.get(k, 0)) ** 2 / (c7.get(k, 0) + c8.get(k, 0)) for k in keys)
    assert chi2.sf(stat, len(keys) - 1) > 1e-6 and chi2.cdf(stat, len(keys) - 1) > 1e-6, stat

    # Shot-averaged states (ancilla='measure'): one shifted shot moves the mean by at most 1/shots =
    # 5e-4 in trace distance; independent samples differ by ~ sigma sqrt(2/shots) ~ 6e-3 (measured).
    qm = _charging(method="measure", measure=False)
    r7, r8 = (run_density_matrix(qm, seed=s, shots=2000)[0]["rho_5"] for s in (7, 8))
    assert 0.5 * np.abs(np.linalg.eigvalsh(r7 - r8)).sum() > 2e-3


def test_simulator_seed_is_a_hash_and_checks_its_argument():
    seeds = [simulator_seed(s) for s in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= s < 2**62 for s in seeds)  # room for Aer's seed + shot index
    assert simulator_seed(3, 100) != simulator_seed(3) and simulator_seed(None) is None
    assert [s["seed"] for s in execute.job_chunks([_charging()] * 3, seed=4, max_circuits_per_job=2)] == [
        4, simulator_seed(4, 2)]
    with pytest.raises(ParameterError, match="Argument `seed` must be >= 0"):
        simulator_seed(-1)


def test_local_testing_mode_is_seeded():
    # fake: runs through the runtime's local mode: before, its simulator got no seed at all, so a
    # ledger's rerun "from the stored seed" gave other counts.
    qc = _charging(n=2, n_coll=2)
    runs = [run_counts(qc, backend="fake:fake_manila", shots=300, seed=s)[0] for s in (3, 3, 4)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


# --------------------------------------------------------------------------------------------- job store
class _Job:
    def __init__(self, job_id, result, on_result=None):
        self._id, self._result, self._on_result = job_id, result, on_result

    def job_id(self):
        return self._id

    def result(self):
        if self._on_result is not None:
            self._on_result(self._id)
        return self._result


def _job_records(folder):
    return [r["result"] for r in RecordStore(folder, argument="job_store").records()]


def test_job_store_writes_id_before_waiting_and_resumes(tmp_path, monkeypatch):
    store = tmp_path / "sub" / "jobs"
    circs = [_charging(n_coll=k) for k in (1, 2, 3)]
    real_make = execute.samplers._make_sampler
    results, checked = {}, []

    def on_result(job_id):
        # By the time anybody waits for the result, the id must already be on disk.
        assert any(r["job_id"] == job_id and r["done"] is False for r in _job_records(store))
        checked.append(job_id)

    class Sampler:
        def __init__(self, inner):
            self.inner = inner

        def run(self, pubs, shots):
            job_id = f"fake-{len(results)}"
            results[job_id] = self.inner.run(pubs, shots=shots).result()
            return _Job(job_id, results[job_id], on_result)

    monkeypatch.setattr(execute.sampling, "_make_sampler", lambda *a: Sampler(real_make(*a)))
    first = run_counts(circs, shots=300, seed=2, job_store=store, max_circuits_per_job=2)
    assert checked == ["fake-0", "fake-1"]  # two jobs (2 + 1 circuits), both checked
    records = _job_records(store)
    assert sorted(r["job_id"] for r in records) == ["fake-0", "fake-1"]
    assert all(r["done"] for r in records)
    assert not list(store.glob(".tmp-*"))  # atomic writes leave no temporary files

    # Resume: nothing may be resubmitted; stored ids are retrieved.
    class NoSubmit:
        def run(self, *a, **k):
            raise AssertionError("resubmitted a stored job")

    monkeypatch.setattr(execute.sampling, "_make_sampler", lambda *a: NoSubmit())
    monkeypatch.setattr(execute.sampling, "_retrieve_job", lambda be, job_id: _Job(job_id, results[job_id]))
    assert run_counts(circs, shots=300, seed=2, job_store=store, max_circuits_per_job=2) == first


def test_job_store_survives_interrupted_wait(tmp_path, monkeypatch):
    store = tmp_path / "jobs"
    qc = _charging()
    real_make = execute.samplers._make_sampler
    kept = {}

    class Interrupted:
        def __init__(self, inner):
            self.inner = inner

        def run(self, pubs, shots):
            kept["r"] = self.inner.run(pubs, shots=shots).result()

            def boom(_):
                raise KeyboardInterrupt

            return _Job("job-42", kept["r"], boom)

    monkeypatch.setattr(execute.sampling, "_make_sampler", lambda *a: Interrupted(real_make(*a)))
    with pytest.raises(KeyboardInterrupt):
        run_counts(qc, shots=100, job_store=store)
    (rec,) = _job_records(store)
    assert rec["job_id"] == "job-42" and rec["done"] is False
    monkeypatch.setattr(execute.sampling, "_retrieve_job", lambda be, job_id: _Job(job_id, kept["r"]))
    assert sum(run_counts(qc, shots=100, job_store=store)[0].values()) == 100


def test_aer_jobs_cannot_be_retrieved_and_are_rerun(tmp_path):
    store = tmp_path / "jobs"
    qc = _charging()
    first = run_counts(qc, shots=100, seed=4, job_store=store)
    with pytest.warns(UserWarning, match="resubmitting"):
        again = run_counts(qc, shots=100, seed=4, job_store=store)
    assert again == first  # the seed makes the rerun identical


def test_unwritable_job_store_is_refused_before_anything_runs(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")

    def no_run(*a, **k):
        raise AssertionError("sampled before checking the job store")

    monkeypatch.setattr(execute.sampling, "_make_sampler", no_run)
    # Old code: the store was only written after submitting, and an OSError there was the only sign.
    with pytest.raises(ParameterError, match=r"Argument `job_store` must be a writable folder.*a_file/jobs"):
        run_counts(_charging(), shots=10, job_store=blocker / "jobs")
    with pytest.raises(ParameterError, match=r"Argument `job_store` must be a folder.*existing file"):
        run_counts(_charging(), shots=10, job_store=blocker)


def test_job_records_are_keyed_by_input_hash(tmp_path):
    from qcharge.records import input_hash

    store = RecordStore(tmp_path / "jobs", argument="job_store")
    run_counts(_charging(), shots=50, seed=4, job_store=store)
    (rec,) = store.records()
    assert rec["inputs"]["record"] == "sampler job" and rec["inputs"]["shots"] == 50
    assert (tmp_path / "jobs" / f"{input_hash(rec['inputs'])}.json").exists()


# --------------------------------------------------------------------------------------------- backends
def test_get_backend_errors_are_clear(monkeypatch):
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    with pytest.raises(BackendError, match="QISKIT_IBM_TOKEN"):
        get_backend("ibm:ibm_torino")
    with pytest.raises(ParameterError, match="'aer'.*'ibm:<backend name>'"):
        get_backend("quantum-computer")
    with pytest.raises(ParameterError, match="unknown fake backend"):
        get_backend("aer-noisy:fake_atlantis")
    with pytest.raises(ParameterError, match="backend"):
        get_backend(42)
    assert isinstance(get_backend("aer"), AerSimulator)
    sim = AerSimulator()
    assert get_backend(sim) is sim
    with pytest.raises(ParameterError, match="noise_model"):
        run_counts(_charging(), backend=execute.fake_backend("manila"), noise_model=object(), shots=10)


# --------------------------------------------------------------------------------------------- resources
@pytest.mark.parametrize("n", [2, 3, 4])
def test_resources_meet_the_gate_budget(n):
    """One palindromic collision: 2N-1 XX+YY gates (2 CX each) + 1 CX for the purified ancilla (docs/physics.md §5.3)."""
    qc = _charging(n=n, n_coll=1, measure=False)
    res = resources(qc)
    assert res["qubits"] == n + 2
    assert res["two_qubit_gates"] == 2 * n  # 2N-1 exchange gates + 1 CX
    assert res["transpiled_two_qubit_gates"] == 2 * (2 * n - 1) + 1
    exact = resources(_charging(n=n, n_coll=1, ordering="exact", measure=False))
    # The exact collision is one dense gate, except for a pair: three exchange gates (circuits/synthesis.py).
    assert exact["multi_qubit_gates"] == (1 if n >= 3 else 0)
    assert n != 2 or exact["transpiled_two_qubit_gates"] == res["transpiled_two_qubit_gates"]


def test_resources_on_heavy_hex_backend():
    res = resources(_charging(n=3, n_coll=2, measure=False), execute.fake_backend("sherbrooke"), seed=1)
    assert res["backend"] == "fake_sherbrooke"
    assert res["transpiled_qubits"] >= 5
    # routing on degree <= 3 heavy-hex can only add two-qubit gates to the logical budget
    assert res["transpiled_two_qubit_gates"] >= 2 * (2 * (2 * 3 - 1) + 1)


# --------------------------------------------------------------------------------------------- noisy density matrices
def direct_noisy_states(qc, device, seed):
    """Reference: transpile, swap markers for saves, run on Aer with the device's FULL noise model."""
    from qiskit.transpiler import generate_preset_pass_manager
    from qiskit_aer.library import SaveDensityMatrix
    from qiskit_aer.noise import NoiseModel

    from qcharge.circuits.collisions import save_marker_label
    from qcharge.states import from_qiskit_order

    tq = generate_preset_pass_manager(optimization_level=1, backend=device, seed_transpiler=seed).run(qc)
    out = tq.copy_empty_like()
    labels = []
    for inst in tq.data:
        lab = save_marker_label(inst.operation)
        if lab is not None:
            labels.append(lab)
        out.append(SaveDensityMatrix(len(inst.qubits), label=lab) if lab else inst.operation, inst.qubits, inst.clbits)
    sim = AerSimulator(method="density_matrix", noise_model=NoiseModel.from_backend(device))
    data = sim.run(out, shots=1, seed_simulator=seed).result().data(0)
    return {lab: from_qiskit_order(np.asarray(data[lab])) for lab in labels}


def test_noisy_backend_gives_the_noisy_state_not_the_ideal_one():
    qc = _charging(n=2, n_coll=6, measure=False, save_every=3)
    ideal = run_density_matrix(qc)[0]
    noisy = run_density_matrix(qc, backend="aer-noisy:fake_manila", seed=3)[0]
    direct = direct_noisy_states(qc, execute.fake_backend("manila"), seed=3)
    assert set(noisy) == set(direct) == {"rho_0", "rho_3", "rho_6"}
    for lab in noisy:
        # Same transpiled circuit, same errors on the used qubits: equal to round-off (1e-12).
        assert np.abs(noisy[lab] - direct[lab]).max() < 1e-12, lab
    # Six noisy collisions (~40 two-qubit gates at ~1e-2 error each) move the state by ~0.1, far
    # beyond round-off: a noisy backend silently replaced by the ideal one would give 0 here.
    assert np.abs(noisy["rho_6"] - ideal["rho_6"]).max() > 1e-2
    assert np.abs(noisy["rho_0"] - ideal["rho_0"]).max() < 1e-12  # nothing has acted yet


def test_transpiled_saves_follow_the_logical_qubits():
    """A noiseless device with a line coupling map forces routing; the saved states must still be the
    logical qubits' states in the logical order (any mix-up moves entries by O(1))."""
    from qiskit.providers.fake_provider import GenericBackendV2

    device = GenericBackendV2(num_qubits=5, coupling_map=[[0, 1], [1, 2], [2, 3], [3, 4]], noise_info=False, seed=1)
    qc = _charging(n=2, n_coll=3, ordering="exact", initial=InitialState("eg"), measure=False, save_every=1)
    ideal = run_density_matrix(qc)[0]
    routed = run_density_matrix(qc, backend=device, seed=2)[0]
    for lab in ideal:
        # Transpiled unitaries (3-qubit synthesis) differ from the ideal ones by round-off (~1e-13 per
        # gate over a few hundred gates).
        assert np.abs(routed[lab] - ideal[lab]).max() < 1e-9, lab
    no_marker = QuantumCircuit(3)
    no_marker.x(2)
    no_marker.cx(2, 0)
    assert np.abs(run_density_matrix(no_marker, backend=device)[0]["final"] - basis_state("101")).max() < 1e-12


def test_restricted_noise_model_keeps_only_the_used_qubits():
    fake = execute.fake_backend("manila")
    model = execute.restricted_noise_model(fake, [0, 1])
    assert set(model.noise_qubits) == {0, 1}
    full = execute.restricted_noise_model(fake, range(fake.num_qubits))
    assert set(full.noise_qubits) == set(range(fake.num_qubits))


def test_density_matrix_size_is_checked_before_allocating():
    with pytest.raises(ParameterError, match=r"circuits.*14 qubits.*GiB"):
        run_density_matrix(QuantumCircuit(14))


def _charging_families():
    rng = np.random.default_rng(SEED)
    g = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    mixed = g @ g.conj().T / np.trace(g @ g.conj().T)
    for ordering in ("palindromic", "forward", "exact"):
        for method in ("purify", "measure", "coin"):
            yield f"{ordering}-{method}", _charging(n=2, n_coll=3, ordering=ordering, method=method, measure=False,
                                                   n_instances=1)
    for n in (3, 4):
        yield f"thermal-{n}", _charging(n=n, n_coll=2, initial=InitialState.thermal(0.7), measure=True)
    yield "eg-exact", _charging(n=2, n_coll=2, ordering="exact", initial=InitialState("eg"), measure=False)
    yield "matrix", _charging(n=2, n_coll=2, initial=InitialState.from_matrix(mixed), measure=False)


@pytest.mark.parametrize("name,qc", list(_charging_families()), ids=lambda v: v if isinstance(v, str) else "")
def test_logical_resources_equal_the_preset_pass_manager(name, qc):
    """The plugin-free logical pass manager must count exactly what the level-1 preset counts
    (integers: no tolerance)."""
    from qiskit.transpiler import generate_preset_pass_manager

    qc = qc[0] if isinstance(qc, list) else qc
    preset = generate_preset_pass_manager(optimization_level=1, basis_gates=["cx", "u"], seed_transpiler=0).run(qc)
    res = resources(qc)
    want = execute.transpile_stats._stats(preset)
    assert {k: res[f"transpiled_{k}"] for k in want} == want


def test_logical_resources_load_no_third_party_plugins():
    """`run charge --exact` needs only the logical gate budget: it must not import the runtime or
    qiskit-experiments (old code: ~2.5 s of plugin imports through generate_preset_pass_manager)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from qcharge.params import Atoms, Bath, Collision, InitialState\n"
        "from qcharge.circuits.charging import charging_circuit\n"
        "from qcharge.execute import resources\n"
        "from qcharge.protocol import charging_plan\n"
        "qc = charging_circuit(charging_plan(Atoms(2), Bath(1.0), InitialState(), Collision(0.3, 'exact'), 2, seed=1))\n"
        "r = resources(qc)\n"
        "print(r['transpiled_two_qubit_gates'], sorted(m for m in ('qiskit_ibm_runtime', 'qiskit_experiments')"
        " if m in sys.modules))\n"
    )
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root,
                         env={**__import__("os").environ, "PYTHONPATH": root})
    count, loaded = out.stdout.strip().split(" ", 1)
    assert int(count) > 0 and loaded == "[]"


def test_exact_run_refuses_an_aer_simulator_with_its_own_noise():
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    model = NoiseModel()
    model.add_all_qubit_quantum_error(depolarizing_error(0.01, 2), ["cx"])
    with pytest.raises(ParameterError, match="backend.*custom noise model"):
        run_density_matrix(_charging(measure=False), backend=AerSimulator(noise_model=model))
