"""Readout mitigation calibrates the physical qubits the data circuits are measured on (issue 7 item 4).

Routing (Sabre SWAPs) can move a measured logical qubit off ``layout[q]`` before its measurement;
calibration circuits have no two-qubit gates and are not routed. On FakeKingston the readout errors
differ by 20x between neighbours (qubit 1: 0.168, qubits 0, 2: ~0.01), so calibrating the planned
qubit instead of the measured one mitigates with the wrong matrix (the old code: charging energy
0.315 against a noisy prediction of 0.445, 20 standard errors off, at the settings below).

Tolerances: sampled mitigated values against the exact noisy prediction within 4 bootstrap standard
errors of calibration + data (fixed seeds: each run is deterministic; 4 sigma is exceeded by chance
with probability ~6e-5). The prediction has no tomography rotations and no calibration X gates; their
one-qubit errors (~3e-4 per gate on this device) are below 0.1 standard error.
"""

from __future__ import annotations

import numpy as np
import pytest
from qiskit.transpiler import generate_preset_pass_manager

from qcharge.exceptions import AnalysisError, ParameterError, QchargeError
from qcharge.execute import MEASURED_PHYSICAL, fake_backend, measured_physical_qubits, run_counts
from qcharge.experiments import run_charge, run_harvest
from qcharge.mitigation import (ReadoutCalibration, bootstrap_mitigated_states, calibration_circuits,
                                calibrations_from_counts, mitigate_counts)
from qcharge.params import Atoms, Bath, Collision, Harvest, InitialState

BACKEND = "aer-noisy:fake_kingston"
# N = 2 charging circuit (2 atoms, 2 ancillas) on the chain 0-1-2-3: routing measures atom 1 on qubit 2.
CHARGE_LAYOUT = [0, 1, 2, 3]
SEED = 11


def _charging_tomography():
    from qcharge.circuits.charging import charging_circuit
    from qcharge.protocol import charging_plan
    from qcharge.tomography import tomography_circuits

    plan = charging_plan(Atoms(2), Bath(1.0), InitialState("ground"), Collision(0.9, "palindromic"), 6, seed=SEED)
    qc = charging_circuit(plan)
    return tomography_circuits(qc, qc.metadata["atom_qubits"])


def _readout_error(q: int) -> float:
    return fake_backend("fake_kingston").target["measure"][(q,)].error


def test_measured_physical_qubits_follow_routing_as_an_independent_transpile_does():
    tomo = _charging_tomography()[:4]
    got = measured_physical_qubits(tomo, backend=BACKEND, seed=SEED, initial_layout=CHARGE_LAYOUT)
    # Independently: the preset pass manager on the device, reading each measure instruction's qubit.
    pm = generate_preset_pass_manager(optimization_level=1, backend=fake_backend("fake_kingston"),
                                      seed_transpiler=SEED, initial_layout=CHARGE_LAYOUT)
    for t, p in zip(pm.run(tomo), got):
        meas = {t.find_bit(i.clbits[0]).index: t.find_bit(i.qubits[0]).index for i in t.data
                if i.operation.name == "measure"}
        assert p == tuple(meas[k] for k in sorted(meas))
    assert set(got) == {(0, 2)}  # routing moved atom 1 from qubit 1 to qubit 2 ...
    assert _readout_error(1) > 10 * _readout_error(2)  # ... whose readout is 20x better
    # Each circuit is transpiled alone (run_counts transpiles per job): a sub-list gives the same answer.
    assert measured_physical_qubits(tomo[2:3], backend=BACKEND, seed=SEED, initial_layout=CHARGE_LAYOUT) == got[2:3]
    # Ideal Aer has no layout: the measured qubits are the logical ones.
    assert measured_physical_qubits(tomo[:1], seed=SEED) == [(0, 1)]


def test_run_counts_refuses_a_circuit_tagged_with_other_measured_qubits():
    qc = _charging_tomography()[0]
    qc.metadata = {**qc.metadata, MEASURED_PHYSICAL: [0, 1]}  # the layout's, not the routed ones
    with pytest.raises(QchargeError, match=r"calibrated for readout on physical qubits \[0, 1\] but is measured "
                                           r"on \[0, 2\]"):
        run_counts([qc], backend=BACKEND, shots=10, seed=SEED, initial_layout=CHARGE_LAYOUT)


def test_charge_mitigation_calibrates_the_routed_qubits():
    res = run_charge(Atoms(2), Bath(1.0), InitialState("ground"), Collision(0.9, "palindromic"), 6,
                     backend=BACKEND, shots=10_000, mitigate=True, seed=SEED, layout=CHARGE_LAYOUT).to_dict()
    cal = res["mitigated"]["readout_calibration"]
    assert cal["qubits"] == [0, 2] and cal["calibration_shots"] == [10_000] * 4
    # Qubits 0 and 2 read out with errors ~0.01 each: fidelity ~0.98 (qubit 1 would give ~0.83).
    assert cal["assignment_fidelity"] > 0.95
    for q in ("energy", "heat_exchange_coherence", "rho_eg_ge"):
        se = res["error_budget"][q]["shot_noise_std_error"]
        assert 0 < se < 0.01
        assert abs(res["mitigated"][q] - res["noisy_prediction"][q]) <= 4 * se, q


def test_mitigation_refuses_a_layout_routed_through_qubits_it_cannot_calibrate():
    # A disconnected layout: Sabre routes atom 0 onto physical qubit 1, outside the layout. Refused before any
    # sampling (calibration circuits on the layout's qubits cannot measure qubit 1).
    with pytest.raises(ParameterError, match=r"routing measures them on physical qubits \[\[1, 3\]\]"):
        run_charge(Atoms(2), Bath(1.0), InitialState("ground"), Collision(0.9, "palindromic"), 6, backend=BACKEND,
                   shots=100, mitigate=True, seed=SEED, layout=[0, 2, 3, 4])


def test_harvest_instances_measured_on_different_qubits_use_their_own_calibration():
    # Layout [0, 1, 2, 3, 4]: the instance without collisions measures the probe on qubit 0 (readout
    # error 0.0095), the five others are routed and measure it on qubit 1 (0.168).
    layout = [0, 1, 2, 3, 4]
    res = run_harvest(Bath(1.0), InitialState("ground"), "charged", Harvest(), 2.0, instances=6, backend=BACKEND,
                      shots=4000, seed=3, mitigate=True, layout=layout).to_dict()
    assert res["layout"] == layout
    cal = res["mitigated"]["readout_calibration"]
    assert cal["qubits"] == [[0], [1]]
    # Each calibration has the shots of the data it corrects: 1 and 5 instances x 4000.
    assert cal["calibration_shots"] == [[4000, 4000], [20_000, 20_000]]
    fid = [c["assignment_fidelity"] for c in cal["calibrations"]]
    assert fid[1] < 0.9 < 0.98 < fid[0]
    q = "probe_excited_population"
    se = res["error_budget"][q]["shot_noise_std_error"]
    assert 0 < se < 0.01
    assert abs(res["mitigated"][q] - res["noisy_prediction"][q]) <= 4 * se
    assert res["circuit"][q] - res["noisy_prediction"][q] > 4 * se  # the raw readout shift is resolved
    # Two-qubit gates as sampled: an independent preset transpile of the same instances on the same layout.
    from qcharge.circuits.harvesting import harvesting_instances
    from qcharge.experiments import _harvest_cluster
    from qcharge.protocol import harvesting_plan

    cluster, _ = _harvest_cluster("charged", Bath(1.0), InitialState("ground"), 3)
    circuits = harvesting_instances(harvesting_plan(Harvest(), 2.0, 6, 3), cluster, omega=1.0)
    pm = generate_preset_pass_manager(optimization_level=1, backend=fake_backend("fake_kingston"), seed_transpiler=3,
                                      initial_layout=layout)
    gates = [sum(len(i.qubits) == 2 for i in t.data if i.operation.name not in ("barrier", "measure"))
             for t in pm.run(circuits)]
    assert res["two_qubit_gates"]["mean_per_instance"] == pytest.approx(np.mean(gates), abs=1e-12)
    assert res["two_qubit_gates"]["max_per_instance"] == max(gates) > 0


def _cal(qubits, flip):
    """Calibration counts of independent symmetric flips ``flip[i]`` on ``qubits[i]``, 10^4 shots per state."""
    n = len(qubits)
    a = np.array([[1.0]])
    for p in reversed(flip):  # bit i of an index is qubits[i]: the last listed qubit is the left factor
        a = np.kron(a, [[1 - p, p], [p, 1 - p]])
    return ReadoutCalibration(tuple(qubits), np.rint(10_000 * a.T).astype(np.int64).reshape(2**n, 2**n))


def test_each_circuit_is_mitigated_with_the_calibration_of_its_own_physical_qubits():
    cals = [_cal([5, 7], [0.2, 0.0]), _cal([5, 9], [0.0, 0.1])]
    ideal = np.array([0.5, 0.0, 0.0, 0.5])  # a Bell-like Z distribution
    meta, counts = [], []
    for measured, cal in (([5, 7], cals[0]), ([9, 5], cals[1].reordered([9, 5]))):
        f = cal.matrix @ ideal
        counts.append({format(o, "02b"): int(round(10_000 * v)) for o, v in enumerate(f)})
        meta.append({"tomography_qubits": [0, 1], "tomography_basis": "ZZ", MEASURED_PHYSICAL: measured})
    # Exact-valued counts: the inverse reproduces the ideal distribution to the rounding of counts (1 count).
    for got in mitigate_counts(cals, counts, meta):
        assert got == {"00": 5000, "11": 5000}
    # With one calibration only, the circuit measured on (9, 5) has none: refused, or left raw if asked.
    with pytest.raises(AnalysisError, match=r"measure qubits \[9, 5\]"):
        mitigate_counts(cals[0], counts, meta)
    assert mitigate_counts(cals[0], counts, meta, uncalibrated="raw")[1] == counts[1]
    settings = ("XX", "XY", "XZ", "YX", "YY", "YZ", "ZX", "ZY", "ZZ")
    rows = [(c, {**m, "tomography_basis": b}) for b in settings for c, m in zip(counts, meta)]
    states = bootstrap_mitigated_states(cals, [c for c, _ in rows], [m for _, m in rows], n_resamples=3, seed=1)
    assert states.shape == (3, 4, 4) and np.allclose(np.trace(states, axis1=1, axis2=2), 1.0, atol=1e-12)


def test_calibrations_are_identified_by_their_physical_qubits():
    circuits = calibration_circuits([2, 0], num_qubits=3, physical_qubits=[16, 4]) + calibration_circuits([1])
    meta = [c.metadata for c in circuits]
    counts = [{format(int(c.metadata["mitigation_prepared"], 2), f"0{len(c.metadata['mitigation_qubits'])}b"): 100}
              for c in circuits]
    cals = calibrations_from_counts(counts, meta)
    assert [c.qubits for c in cals] == [(16, 4), (1,)]
    assert all(np.array_equal(c.matrix, np.eye(len(c.matrix))) for c in cals)
