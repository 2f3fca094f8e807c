"""Readout mitigation: calibration circuits, assignment matrix, constrained inversion, bootstrap.

Exact checks use hand-written counts through a known assignment matrix A (exact vs exact:
1e-10, round-off of 8x8 solves is ~1e-15). Sampled checks run tomography circuits of the
charged pair (Dicke long-time state at T = 1 from the ground state) and of a probe qubit on
Qiskit-Aer with a readout-only noise model, seeded; their bounds are derived next to each test.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from qiskit import ClassicalRegister, QuantumCircuit, transpile

from qcharge import AnalysisError, Bath, InitialState, ParameterError
from qcharge.circuits.thermal import append_density_matrix, purifier_count
from qcharge.coherence import heat_exchange_coherence
from qcharge.mitigation import (
    CALIBRATION_PREPARED,
    CALIBRATION_QUBITS,
    ReadoutCalibration,
    bootstrap_mitigated_states,
    calibration_circuits,
    is_calibration,
    mitigate_counts,
    mitigate_probabilities,
    mitigated_estimate_with_interval,
    split_calibration,
)
from qcharge.reference.probe import charged_cluster, probe_fixed_point
from qcharge.thermo import effective_temperature
from qcharge.tomography import fit_state, tomography_circuits, tomography_settings

from .conftest import SEED
from .systems import pair_l1_from_ground

EXACT = 1e-10  # exact vs exact: 8x8 solves and KKT systems lose ~1e-14


def _random_assignment(n: int, rng: np.random.Generator, error: float = 0.15) -> np.ndarray:
    """A generic, correlated (non-product) column-stochastic matrix, diagonal ~ 1 - error."""
    d = 2**n
    a = np.eye(d) * (1.0 - error) + rng.uniform(0.0, 2.0 * error / d, size=(d, d))
    return a / a.sum(axis=0, keepdims=True)


def _calibration_from_matrix(a: np.ndarray, qubits, shots: int = 10**6) -> ReadoutCalibration:
    """Calibration counts whose frequencies are A rounded to 1/shots (row = prepared state)."""
    return ReadoutCalibration(tuple(qubits), np.rint(a.T * shots).astype(np.int64))


def _tomo_meta(qubits):
    return [{"tomography_qubits": list(qubits), "tomography_basis": b} for b in tomography_settings(len(qubits))]


# ---------------------------------------------------------------------------------------
# Calibration circuits
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("qubits", [[0], [2, 0], [1, 3, 0]])
def test_calibration_circuits_prepare_the_tagged_state(qubits):
    from qiskit_aer.primitives import SamplerV2

    circuits = calibration_circuits(qubits, num_qubits=4)
    n = len(qubits)
    assert len(circuits) == 2**n and all(c.num_qubits == 4 for c in circuits)
    meta = [c.metadata for c in circuits]
    # Hardware rejects metadata that is not JSON: it must survive a round trip unchanged.
    assert json.loads(json.dumps(meta)) == meta
    assert all(is_calibration(m) and m[CALIBRATION_QUBITS] == qubits for m in meta)
    # Ideal readout: every shot lands on the tagged key (last character = qubits[0]).
    result = SamplerV2(seed=SEED).run(circuits, shots=50).result()
    for r, m in zip(result, meta):
        assert r.data.tomo.get_counts() == {m[CALIBRATION_PREPARED]: 50}
    # ... so an ideal calibration is the identity matrix.
    cal = ReadoutCalibration.from_counts([r.data.tomo.get_counts() for r in result], meta)
    assert np.array_equal(cal.matrix, np.eye(2**n)) and cal.qubits == tuple(qubits)


@pytest.mark.parametrize(
    ("qubits", "num_qubits", "fragment"),
    [([0, 1, 2, 3], None, "1 to 3 qubits"), ([0, 0], None, "distinct"), ([0, 4], 3, "<= 2"), ([], None, "1 to")],
)
def test_calibration_circuits_reject_bad_qubits(qubits, num_qubits, fragment):
    with pytest.raises(ParameterError, match=fragment):
        calibration_circuits(qubits, num_qubits=num_qubits)


# ---------------------------------------------------------------------------------------
# Exact inversion with a known A
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_known_correlated_matrix_recovers_the_true_distribution(n, rng):
    cal = _calibration_from_matrix(_random_assignment(n, rng), range(n))
    a = cal.matrix  # the matrix the calibration counts define exactly
    q_true = rng.dirichlet(np.ones(2**n), size=5)
    got = mitigate_probabilities(cal, q_true @ a.T)
    assert np.max(np.abs(got - q_true)) < EXACT


def test_hand_written_counts_give_exact_mitigated_counts():
    # Correlated 2-qubit readout: a 00 <-> 11 double flip on top of local errors.
    a = np.array([
        [0.90, 0.05, 0.04, 0.03],
        [0.03, 0.88, 0.01, 0.04],
        [0.02, 0.02, 0.91, 0.03],
        [0.05, 0.05, 0.04, 0.90],
    ])
    cal_counts = [{format(o, "02b"): int(round(a[o, s] * 1000)) for o in range(4)} for s in range(4)]
    cal_meta = [c.metadata for c in calibration_circuits([0, 1])]
    cal = ReadoutCalibration.from_counts(cal_counts, cal_meta)
    assert np.allclose(cal.matrix, a, atol=1e-15)
    q_true = np.array([0.4, 0.1, 0.2, 0.3])
    f = a @ q_true * 1000  # integer by construction: 1000 shots
    assert np.allclose(f, np.rint(f), atol=1e-9)
    data = [{format(o, "02b"): int(round(x)) for o, x in enumerate(f)}]
    meta = [{"tomography_qubits": [0, 1], "tomography_basis": "ZZ"}]
    assert mitigate_counts(cal, data, meta) == [{"00": 400, "01": 100, "10": 200, "11": 300}]


def _kkt_violation(a, f, q) -> float:
    """Largest violation of the KKT conditions of min ||Aq - f||^2 on the simplex.

    With g = A^T (Aq - f): g_i = -mu on the support and g_i >= -mu off it, for one mu.
    """
    g = a.T @ (a @ q - f)
    on = q > 1e-12
    mu = -np.mean(g[on])
    return max(np.max(np.abs(g[on] + mu)), max(0.0, -np.min(g[~on] + mu, initial=np.inf)))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_constrained_inversion_is_the_simplex_optimum_where_the_raw_inverse_is_negative(n, rng):
    a = _random_assignment(n, rng, error=0.2)
    cal = _calibration_from_matrix(a, range(n))
    a = cal.matrix
    checked = 0
    for _ in range(20):
        # Distributions with a few (near-)empty outcomes, as from a nearly pure state plus noise.
        f = rng.dirichlet(np.full(2**n, 0.3))
        raw = np.linalg.solve(a, f)
        q = mitigate_probabilities(cal, f)
        assert np.all(q >= 0.0) and abs(q.sum() - 1.0) < EXACT
        if raw.min() < -1e-6:  # the case a raw inverse gets wrong
            checked += 1
            assert _kkt_violation(a, f, q) < EXACT
        else:
            assert np.max(np.abs(q - raw)) < EXACT
    assert checked >= 3  # the draw exercised the constrained branch


def test_mitigated_distribution_is_never_negative_for_a_noisy_calibration():
    cal = ReadoutCalibration((0,), np.array([[90, 10], [20, 80]]))
    # Raw inverse of (0.95, 0.05) is (1.0714, -0.0714); the simplex optimum is the vertex (1, 0).
    assert np.allclose(np.linalg.solve(cal.matrix, [0.95, 0.05]), [15 / 14, -1 / 14], atol=EXACT)
    assert np.array_equal(mitigate_probabilities(cal, [0.95, 0.05]), np.array([1.0, 0.0]))


# ---------------------------------------------------------------------------------------
# Errors and bookkeeping
# ---------------------------------------------------------------------------------------


def test_singular_matrix_names_the_qubits():
    # Flip probability 1/2 on qubit 3: its readout carries no information.
    half = np.array([[0.5, 0.5], [0.5, 0.5]])
    good = np.array([[0.97, 0.04], [0.03, 0.96]])
    cal = _calibration_from_matrix(np.kron(half, good), (3, 1), shots=1000)
    with pytest.raises(AnalysisError, match=r"qubits \[3, 1\].*singular"):
        mitigate_probabilities(cal, [0.25, 0.25, 0.25, 0.25])
    with pytest.raises(AnalysisError, match=r"qubits \[3, 1\]"):
        cal.check_invertible()
    # A merely noisy readout (p = 0.3, condition number 1/0.4^2 = 6.25) is accepted.
    p = np.array([[0.7, 0.3], [0.3, 0.7]])
    _calibration_from_matrix(np.kron(p, p), (0, 1), shots=1000).check_invertible()


def test_calibration_errors():
    meta = [c.metadata for c in calibration_circuits([0, 1])]
    counts = [{"00": 10}, {"01": 10}, {"10": 10}, {"11": 10}]
    with pytest.raises(AnalysisError, match=r"lacks prepared states \['11'\]"):
        ReadoutCalibration.from_counts(counts[:3], meta[:3])
    with pytest.raises(AnalysisError, match="No readout-calibration"):
        ReadoutCalibration.from_counts([{"0": 1}], [{"tomography_qubits": [0], "tomography_basis": "Z"}])
    other = [c.metadata for c in calibration_circuits([2])]
    both_c, both_m = counts + [{"0": 5}, {"1": 5}], meta + other
    with pytest.raises(AnalysisError, match="Several calibrated qubit sets"):
        ReadoutCalibration.from_counts(both_c, both_m)
    assert ReadoutCalibration.from_counts(both_c, both_m, qubits=[2]).qubits == (2,)
    with pytest.raises(AnalysisError, match=r"No readout calibration of qubits \[1\]"):
        ReadoutCalibration.from_counts(both_c, both_m, qubits=[1])
    cal = ReadoutCalibration.from_counts(counts, meta)
    with pytest.raises(AnalysisError, match=r"measure qubits \[0, 2\].*calibration is of qubits \[0, 1\]"):
        mitigate_counts(cal, [{"00": 5}], [{"tomography_qubits": [0, 2], "tomography_basis": "ZZ"}])
    with pytest.raises(ParameterError, match="`calibration` must be a ReadoutCalibration"):
        mitigate_probabilities(np.eye(2), [1.0, 0.0])
    with pytest.raises(ParameterError, match="last axis 4"):
        mitigate_probabilities(cal, [1.0, 0.0])


def test_reordered_calibration_matches_data_in_the_other_qubit_order(rng):
    a = _random_assignment(2, rng)  # correlated and asymmetric: a wrong permutation shows
    cal = _calibration_from_matrix(a, (5, 2))
    q_true = np.array([0.1, 0.2, 0.3, 0.4])  # index bit 0 = qubit 5, bit 1 = qubit 2
    f = cal.matrix @ q_true
    swap = [0, 2, 1, 3]  # the same outcomes indexed with bit 0 = qubit 2
    shots = 10**6
    counts = [{format(o, "02b"): int(round(f[swap][o] * shots)) for o in range(4)}]
    meta = [{"tomography_qubits": [2, 5], "tomography_basis": "ZZ"}]
    got = np.array([mitigate_counts(cal, counts, meta)[0].get(format(o, "02b"), 0) for o in range(4)]) / shots
    # Counts rounded to 1/shots move q by at most cond(A) * 2/shots ~ 1e-5.
    assert np.max(np.abs(got - q_true[swap])) < 1e-5
    assert np.max(np.abs(got - q_true)) > 0.05  # precondition: the order matters


def test_full_width_keys_and_json_round_trip():
    cal = ReadoutCalibration((0,), np.array([[95, 5], [10, 90]]))
    back = ReadoutCalibration.from_dict(json.loads(json.dumps(cal.to_dict())))
    assert back == cal and back != ReadoutCalibration((1,), cal.counts)
    qc = QuantumCircuit(2)
    qc.add_register(ClassicalRegister(1, "anc"))
    qc.measure(1, 0)
    meta = [c.metadata for c in tomography_circuits(qc, [0])]  # tomo bit is clbit 1 of 2
    short = [{"0": 70, "1": 30}] * 3
    full = [{"00": 40, "10": 30, "01": 30}] * 3  # last character = anc; tomo = first character
    assert mitigate_counts(cal, full, meta) == mitigate_counts(cal, short, meta)
    cc, cm, dc, dm = split_calibration(short + [{"0": 1}], meta + [calibration_circuits([0])[0].metadata])
    assert (len(cc), len(dc)) == (1, 3) and dm == meta


# ---------------------------------------------------------------------------------------
# Bootstrap: both the calibration and the data are resampled
# ---------------------------------------------------------------------------------------


def test_bootstrap_includes_the_calibration_shot_noise(rng):
    p = 0.1
    a1 = np.array([[1 - p, p], [p, 1 - p]])
    qc_meta = _tomo_meta([0])
    # Data: the state with Bloch vector (0.6, 0, 0.4) read with flip p (components shrink by 1 - 2p),
    # exact frequencies, 1e5 shots per setting.
    data_shots = 10**5
    blo = {"Z": 0.4, "X": 0.6, "Y": 0.0}
    data = [{"0": round(data_shots * (1 + (1 - 2 * p) * blo[m["tomography_basis"]]) / 2),
             "1": round(data_shots * (1 - (1 - 2 * p) * blo[m["tomography_basis"]]) / 2)} for m in qc_meta]

    def pe_std(cal_shots):
        cal = _calibration_from_matrix(a1, (0,), shots=cal_shots)
        states = bootstrap_mitigated_states(cal, data, qc_meta, n_resamples=300, seed=SEED)
        return float(np.std(states[:, 1, 1].real, ddof=1))

    # p_e = q_1 = (f_1 - p01)/(1 - p01 - p10) with f_1 = (1 - z_raw)/2 = 0.34. Data noise alone:
    # sqrt(1 - z_raw^2)/sqrt(S)/(2(1 - 2p)) = 0.0019. A 200-shot calibration adds
    # sqrt((0.8 - 0.24)^2 + 0.24^2) * sqrt(p(1-p)/200) / 0.8^2 = 0.020 (d q_1 / d p01, d p10).
    small, large = pe_std(200), pe_std(10**6)
    data_only = math.sqrt(1 - (0.8 * 0.4) ** 2) / math.sqrt(data_shots) / (2 * 0.8)
    assert 0.7 * data_only < large < 1.3 * data_only  # 300 resamples: std known to ~ 1/sqrt(600) = 4 %
    assert 0.7 * 0.020 < small < 1.3 * 0.020  # a bootstrap of the data alone would give 0.0019


# ---------------------------------------------------------------------------------------
# Readout-only noise on Aer: the coherence of the charged pair, a probe population
# ---------------------------------------------------------------------------------------


def _run_noisy(circuits, confusion, shots: int, seed: int):
    """Counts of ``circuits`` on Aer with the readout error ``confusion`` on every qubit."""
    from qiskit_aer import AerSimulator
    from qiskit_aer.noise import NoiseModel, ReadoutError
    from qiskit_aer.primitives import SamplerV2

    noise = NoiseModel()
    noise.add_all_qubit_readout_error(ReadoutError(confusion))
    sim = AerSimulator(noise_model=noise, method="density_matrix")
    sampler = SamplerV2.from_backend(sim, seed=seed)
    result = sampler.run(transpile(circuits, sim, seed_transpiler=seed), shots=shots).result()
    return [r.data.tomo.get_counts() for r in result], [c.metadata for c in circuits]


def _prepared(rho: np.ndarray, n: int) -> QuantumCircuit:
    m = purifier_count(rho)
    qc = QuantumCircuit(n + m)
    append_density_matrix(qc, rho, list(range(n)), list(range(n, n + m)), reset=False)
    return qc


AER_SHOTS = 20000
FLIP = 0.1


def test_readout_only_noise_shrinks_the_pair_coherence_by_1_minus_2p_squared_and_mitigation_recovers_it():
    rho = charged_cluster(2, Bath(1.0), InitialState("ground"))
    ideal = pair_l1_from_ground(1.0)  # x/(1+x+x^2), all of it heat-exchange (Δn = 0)
    assert abs(heat_exchange_coherence(rho) - ideal) < EXACT
    qc = _prepared(rho, 2)
    circuits = tomography_circuits(qc, [0, 1]) + calibration_circuits([0, 1], num_qubits=qc.num_qubits)
    counts, meta = _run_noisy(circuits, [[1 - FLIP, FLIP], [FLIP, 1 - FLIP]], AER_SHOTS, SEED)
    cal_c, cal_m, data, data_m = split_calibration(counts, meta)
    cal = ReadoutCalibration.from_counts(cal_c, cal_m)
    raw = heat_exchange_coherence(fit_state(data, data_m))
    est = mitigated_estimate_with_interval(cal, data, data_m, heat_exchange_coherence, n_resamples=100, seed=SEED)

    # Shot noise: C = |<XX> + <YY> + i(<XY> - <YX>)|/2, each <PP> from one setting with variance
    # (1 - <PP>^2)/S <= 1/S, so sigma_raw <= sqrt(2/S)/2 = 0.0050 at S = 2e4; mitigation divides
    # by (1 - 2p)^2 = 0.64 (sigma_mit <= 0.0078, the 2e4-shot calibration adds ~0.001).
    # 4 sigma bounds: a wrong shrink factor or a failed mitigation (raw is 0.088 low) fails them.
    shrink = (1 - 2 * FLIP) ** 2
    sigma_raw = math.sqrt(2 / AER_SHOTS) / 2
    sigma_mit = sigma_raw / shrink + 0.001
    assert abs(raw - shrink * ideal) < 4 * sigma_raw
    assert ideal - raw > 8 * sigma_raw  # the loss is real, not shot noise
    assert abs(est["value"] - ideal) < 4 * sigma_mit
    # The interval is carried through and covers the ideal; its width is of the size derived above.
    assert est["ci"][0] - 4 * est["std"] < ideal < est["ci"][1] + 4 * est["std"]
    # Upper: the linear estimate's spread. The ideal pair has rank 3 (no singlet), so the mitigated
    # fit sits at the PSD boundary and the projection narrows the spread, but it cannot vanish.
    assert 0.25 * sigma_raw < est["std"] < 1.5 * sigma_mit
    assert est["mitigation"]["qubits"] == [0, 1] and abs(est["mitigation"]["assignment_fidelity"] - 0.81) < 0.01
    assert json.loads(json.dumps(est)) == est


def test_probe_population_recovered_under_asymmetric_readout():
    # The probe's fixed point behind the charged pair (theta = 0.4): a 1-qubit state, p_e < 1/2.
    probe = probe_fixed_point(charged_cluster(2, Bath(1.0), InitialState("ground")), 0.4)
    pe = float(probe[1, 1].real)
    p01, p10 = 0.01, 0.15  # 0 -> 1 and 1 -> 0: decay during readout makes 1 -> 0 likelier
    qc = _prepared(probe, 1)
    circuits = tomography_circuits(qc, [0]) + calibration_circuits([0], num_qubits=qc.num_qubits)
    counts, meta = _run_noisy(circuits, [[1 - p01, p01], [p10, 1 - p10]], AER_SHOTS, SEED + 1)
    cal_c, cal_m, data, data_m = split_calibration(counts, meta)
    cal = ReadoutCalibration.from_counts(cal_c, cal_m)
    assert np.allclose(cal.matrix, [[1 - p01, p10], [p01, 1 - p10]], atol=5 * math.sqrt(0.15 * 0.85 / AER_SHOTS))
    raw = float(fit_state(data, data_m)[1, 1].real)
    mit = float(fit_state(mitigate_counts(cal, data, data_m), data_m)[1, 1].real)
    # p_e comes from the Z setting alone: sigma_raw = sqrt(p(1-p)/S) <= 0.0035; mitigation divides
    # by 1 - p01 - p10 = 0.84 and the calibration adds ~ pe*sqrt(p10(1-p10)/S)/0.84 ~ 0.001.
    sigma = math.sqrt(0.25 / AER_SHOTS)
    biased = pe * (1 - p10) + (1 - pe) * p01
    assert abs(raw - biased) < 4 * sigma
    assert abs(raw - pe) > 8 * sigma  # precondition: the readout bias is visible
    sigma_mit = sigma / 0.84 + 0.001
    assert abs(mit - pe) < 4 * sigma_mit
    # The probe temperature: dT/dp_e = T^2 / (p_e (1 - p_e)) (omega = 1) maps the bounds above.
    t_exact = effective_temperature(pe)
    slope = t_exact**2 / (pe * (1 - pe))
    assert abs(effective_temperature(raw) - t_exact) > 5 * slope * sigma_mit  # the readout cools it
    assert abs(effective_temperature(mit) - t_exact) < 4 * slope * sigma_mit
