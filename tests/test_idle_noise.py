"""Idle relaxation in the noisy prediction (issue 7): scheduling, DD padding as the runtime pads, relaxation on
delays, the sampled DD run against its prediction, and the ``suppression`` record.

Run with ``-W error::DeprecationWarning`` like test_backends: the local-mode DD run uses the runtime's sampler.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from qiskit import QuantumCircuit

from qcharge import execute as ex
from qcharge.circuits.charging import charging_circuit
from qcharge.compare import state_quantities
from qcharge.exceptions import ParameterError
from qcharge.execute.scheduling import DD_SEQUENCES, schedule_idle
from qcharge.experiments import run_charge, run_harvest
from qcharge.params import Atoms, Bath, Collision, Harvest, InitialState
from qcharge.protocol import charging_plan
from qcharge.results import ChargeRun, HarvestRun, Suppression

MANILA = "aer-noisy:fake_manila"  # 5 qubits, reset 5.5 µs: local mode stays fast


def _charge_plan(n_coll=3):
    return charging_plan(Atoms(2), Bath(1.0), InitialState(), Collision(1.05, "exact"), n_coll, seed=7)


def _one_line(err: Exception) -> str:
    assert "\n" not in str(err)
    return str(err)


@pytest.mark.parametrize("sequence", DD_SEQUENCES)
def test_dd_padding_is_the_runtime_samplers(sequence):
    from qiskit_ibm_runtime.executor.dynamical_decoupling import generate_dd_pass_manager
    from qiskit_ibm_runtime.executor_sampler import Sampler

    device = ex.fake_backend("manila")
    transpiled = ex._transpile_with_markers([charging_circuit(_charge_plan())], device, 7, 1)[0]
    sampler = Sampler(mode=device)  # its option defaults: ALAP, slack in the middle, DD after resets too
    sampler.options.dynamical_decoupling.enable = True
    sampler.options.dynamical_decoupling.sequence_type = sequence
    runtime = generate_dd_pass_manager(device, sampler.options.dynamical_decoupling).run(transpiled)
    ours = schedule_idle([transpiled], device, sequence)[0]
    # Ours leaves out what the runtime puts on the qubit the circuit never uses (it never interacts).
    used = {transpiled.find_bit(q).index for i in transpiled.data if i.operation.name != "barrier" for q in i.qubits}
    kept = runtime.copy_empty_like()
    for inst in runtime.data:
        if any(runtime.find_bit(q).index in used for q in inst.qubits):
            kept._append(inst)
    assert len(used) < device.num_qubits and kept == ours
    assert ours.count_ops()["x"] > transpiled.count_ops().get("x", 0)  # DD pulses were inserted


@pytest.mark.parametrize("backend", [MANILA, "custom:t1=50,t2=40"])
def test_a_qubit_idling_through_resets_loses_coherence_as_exp_minus_t_over_t2(backend):
    # q0 in a superposition waits (barriers) while q1 is reset three times: 3 x 5.5 µs on FakeManila,
    # 3 x 1.56 µs on the custom device.
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.barrier()
    for _ in range(3):
        qc.reset(1)
    qc.barrier()
    device = ex._device_for_noise(backend)
    kw = dict(backend=backend, initial_layout=[0, 1])
    plain = ex.run_density_matrix(qc, **kw)[0]["final"]
    idle = ex.run_density_matrix(qc, idle_noise=True, **kw)[0]["final"]
    scheduled = schedule_idle(ex._transpile_with_markers([qc], device, 1234, 1, [0, 1]), device)[0]
    t = sum(i.operation.duration for i in scheduled.data
            if i.operation.name == "delay" and scheduled.find_bit(i.qubits[0]).index == 0) * device.dt
    props = device.target.qubit_properties[0]
    t1, t2 = props.t1, min(props.t2, 2 * props.t1)
    assert t >= 3 * 1.5e-6
    # Reduced state of q0 (QuTiP order, q0 left-most): thermal relaxation after the gate noise, exactly.
    r0, r1 = (np.einsum("ijkj->ik", r.reshape(2, 2, 2, 2)) for r in (plain, idle))
    assert abs(r1[0, 1]) == pytest.approx(abs(r0[0, 1]) * math.exp(-t / t2), rel=1e-10)
    assert r1[1, 1].real == pytest.approx(r0[1, 1].real * math.exp(-t / t1), rel=1e-10)
    assert abs(r1[0, 1]) < abs(r0[0, 1]) - 0.01  # strictly below, visibly


def test_idle_noise_is_nothing_where_qubits_only_wait_in_the_ground_state():
    # ALAP: q1 waits in |0> while q0 gets its gate; relaxation leaves |0> alone (no thermal excitation).
    qc = QuantumCircuit(2)
    qc.sx(0)
    qc.cx(0, 1)
    kw = dict(backend=MANILA, initial_layout=[0, 1], optimization_level=0)
    device = ex.fake_backend("manila")
    scheduled = schedule_idle(ex._transpile_with_markers([qc], device, 1234, 0, [0, 1]), device)[0]
    assert "delay" in scheduled.count_ops()  # not vacuous: there is an idle period
    plain, idle = (ex.run_density_matrix(qc, idle_noise=flag, **kw)[0]["final"] for flag in (False, True))
    assert np.max(np.abs(idle - plain)) < 1e-10


def test_idle_noise_lowers_the_charging_prediction_on_a_reset_heavy_circuit():
    # Purified ancilla: one reset pair per collision, 5.5 µs each on FakeManila, while the atoms hold coherence.
    qc = charging_circuit(_charge_plan())
    q = {flag: state_quantities(ex.run_density_matrix(qc, backend=MANILA, seed=7, idle_noise=flag)[0]["rho_3"])
         for flag in (False, True)}
    assert q[True]["heat_exchange_coherence"] < 0.5 * q[False]["heat_exchange_coherence"]
    assert q[True]["rho_eg_ge"] < q[False]["rho_eg_ge"] - 0.02


def test_idle_noise_bad_arguments_are_one_line():
    qc = charging_circuit(_charge_plan(1))
    for kw, fragment in (
            (dict(backend="aer", idle_noise=True), "Argument `idle_noise` needs a noisy backend"),
            (dict(backend=MANILA, dynamical_decoupling="XY4"), "Argument `idle_noise` must be True with "
                                                               "dynamical_decoupling"),
            (dict(backend=MANILA, idle_noise=True, dynamical_decoupling="XZ"),
             "Argument `dynamical_decoupling` must be one of ['XX', 'XpXm', 'XY4'], but is 'XZ'"),
            (dict(backend=MANILA, idle_noise="yes"), "Argument `idle_noise` must be True or False")):
        with pytest.raises(ParameterError) as info:
            ex.run_density_matrix(qc, **kw)
        assert fragment in _one_line(info.value)
    flow = QuantumCircuit(1, 1)
    flow.h(0)
    flow.measure(0, 0)
    with flow.if_test((flow.clbits[0], 1)):
        flow.x(0)
    with pytest.raises(ParameterError, match=r"`idle_noise` needs circuits without control flow .* if_else"):
        ex.run_density_matrix(flow, backend="aer-noisy:fake_fez", idle_noise=True)
    with pytest.raises(ParameterError, match="Argument `idle_noise` needs a noisy backend"):
        run_charge(Atoms(2), Bath(1.0), InitialState(), Collision(0.9), 1, shots=100, idle_noise=True)


def test_sampled_dd_run_agrees_with_the_idle_dd_prediction_not_the_unscheduled_one():
    shots = 4000
    with ex.error_suppression(dynamical_decoupling="XY4"):
        res = run_charge(Atoms(2), Bath(1.0), InitialState(), Collision(1.05, "exact"), 3,
                         backend="fake:fake_manila", shots=shots, mitigate=True, idle_noise=True)
    assert res.suppression == Suppression("XY4", False, True)
    plain = state_quantities(ex.run_density_matrix(charging_circuit(_charge_plan()), backend=MANILA, seed=7,
                                                   initial_layout=list(res.layout))[0]["rho_3"])
    pred, mit = res.noisy_prediction, res.mitigated
    # Re rho_eg,ge = (<XX> + <YY>)/4 from two settings of `shots` each: standard error <= sqrt(2)/(4 sqrt(shots))
    # raw; readout mitigation inverts the assignment matrix, which scales it by at most its condition number.
    kappa = mit["readout_calibration"]["condition_number"]
    se = kappa * math.sqrt(2) / (4 * math.sqrt(shots))  # 0.0072 here
    assert abs(mit["rho_eg_ge"] - pred.rho_eg_ge) < 4 * se
    assert abs(mit["rho_eg_ge"] - plain["rho_eg_ge"]) > 6 * se  # the unscheduled prediction is far off
    # Energy (1 - (<Z1> + <Z2>)/2): standard error <= kappa / sqrt(shots).
    assert abs(mit["energy"] - pred.energy) < 4 * kappa / math.sqrt(shots)


# ------------------------------------------------------------------------------------------ suppression record
def test_suppression_record_round_trip_and_text():
    res = run_charge(Atoms(2), Bath(1.0), InitialState(), Collision(0.9), 2, backend=MANILA, exact=True,
                     idle_noise=True)
    data = json.loads(json.dumps(res.to_dict()))
    assert data["suppression"] == {"dynamical_decoupling": None, "twirl_gates": False, "idle_noise": True}
    assert ChargeRun.from_dict(data) == res
    assert "error suppression: dynamical decoupling off, gate twirling off; noisy prediction with idle " \
           "relaxation (scheduled)" in str(res)
    ideal = run_charge(Atoms(2), Bath(1.0), InitialState(), Collision(0.9), 2, exact=True)
    assert ideal.suppression is None and "suppression" not in ideal.to_dict()
    old = {k: v for k, v in data.items() if k != "suppression"}  # records made before the field
    assert ChargeRun.from_dict(old).suppression is None
    with pytest.raises(ParameterError, match="Argument `data` must have the keys of Suppression"):
        Suppression.from_dict({"dynamical_decoupling": None, "twirl_gates": False})
    harvest = run_harvest(Bath(1.0), InitialState(), "charged", Harvest(theta=0.5), 2.0, instances=2,
                          backend=MANILA)
    hdata = json.loads(json.dumps(harvest.to_dict()))
    assert hdata["suppression"] == {"dynamical_decoupling": None, "twirl_gates": False, "idle_noise": False}
    assert HarvestRun.from_dict(hdata) == harvest and "noisy prediction unscheduled" in str(harvest)


def test_cli_idle_noise_flag_and_dd_turn_it_on(capsys, tmp_path):
    from qcharge import ledger
    from qcharge.cli import main

    base = ["run", "charge", "-N", "2", "-T", "1", "--theta", "0.9", "--collisions", "2"]
    assert main(base + ["--exact", "--backend", MANILA, "--idle-noise", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["suppression"]["idle_noise"] is True
    assert main(base + ["--shots", "200", "--backend", "fake:fake_manila", "--dynamical-decoupling", "XX", "--json",
                        "--runs-dir", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["suppression"] == {"dynamical_decoupling": "XX", "twirl_gates": False, "idle_noise": True}
    (run,) = ledger.list_runs(runs_dir=tmp_path)
    assert ledger.fetch(run["run"], runs_dir=tmp_path)["suppression"] == out["suppression"]
    assert main(base + ["--exact", "--idle-noise", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Argument `--idle-noise` needs a noisy backend" in err
    assert main(["run", "harvest", "-T", "1", "--cluster", "charged", "--instances", "2", "--time", "2",
                 "--backend", MANILA, "--idle-noise", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["suppression"]["idle_noise"] is True
    with pytest.raises(SystemExit):
        main(["run", "charge", "--help"])
    assert "turns this on" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("sequence", [None, "XY4"])
def test_idle_prediction_is_aers_from_backend_model_on_the_scheduled_circuit(sequence):
    # Local mode samples the runtime's scheduled circuit on AerSimulator.from_backend (gate noise and its
    # own delay-relaxation pass, all qubits); the restricted prediction must give the same state.
    from qiskit_aer import AerSimulator

    from qcharge.execute.density import prepare_for_aer
    from qcharge.states import from_qiskit_order

    device = ex.fake_backend("manila")
    qc = charging_circuit(_charge_plan())
    transpiled = ex._transpile_with_markers([qc], device, 7, 1)
    full = AerSimulator.from_backend(device, method="density_matrix")
    circuit = prepare_for_aer(schedule_idle(transpiled, device, sequence)[0], full)
    aer = from_qiskit_order(np.asarray(full.run(circuit, shots=1, seed_simulator=1).result().data(0)["rho_3"]))
    ours = ex.run_density_matrix(qc, backend=MANILA, seed=7, idle_noise=True, dynamical_decoupling=sequence)[0]
    assert np.max(np.abs(ours["rho_3"] - aer)) < 1e-10
