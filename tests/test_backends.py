"""Backends: the forms of ``--backend``, capability refusals, layouts, the runtime's current sampler,
and the exact-noisy prediction of every run on a noisy backend (issue 7, items 1 and 2).

Run with ``-W error::DeprecationWarning``: no path here may use a deprecated runtime class.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from qiskit import QuantumCircuit

from qcharge import execute as ex
from qcharge.exceptions import BackendError, ParameterError
from qcharge.experiments import run_charge, run_harvest
from qcharge.params import Atoms, Bath, Collision, Harvest, InitialState
from qcharge.results import ChargeRun, HarvestRun

# Gate and relaxation noise but no readout error: sampled results must then agree with the exact
# noisy density matrix within shot noise alone (readout error acts on counts, not on saved states).
GATE_NOISE = "custom:two_qubit_error=0.02,one_qubit_error=0.001,t1=50,t2=40"


def _one_line(err: Exception) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_custom_spec_round_trip_and_errors():
    noise = ex.CustomNoise(two_qubit_error=0.01, readout_error=0.02, t1=100.0, t2=80.0)
    assert ex.CustomNoise.from_spec(noise.spec()) == noise
    assert ex.CustomNoise.from_spec("custom") == ex.CustomNoise()
    with pytest.raises(ParameterError, match="Argument `two_qubit_error` must be <= 0.5, but is 0.7"):
        ex.CustomNoise(two_qubit_error=0.7)
    with pytest.raises(ParameterError, match="Argument `t2` must be <= 2 t1"):
        ex.CustomNoise(t1=10.0, t2=30.0)
    with pytest.raises(ParameterError, match="Argument `backend` must list key=value"):
        ex.get_backend("custom:p2=0.1")


def test_unknown_backend_forms_one_line():
    for spec in ("nonsense", "aer-noisy:", "fake:"):
        with pytest.raises(ParameterError) as info:
            ex.get_backend(spec)
        assert "Argument `backend` must be one of" in _one_line(info.value)
    with pytest.raises(ParameterError, match="unknown fake backend"):
        ex.get_backend("fake:fake_nowhere")


def test_ibm_without_credentials_is_one_line(monkeypatch):
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        saved = QiskitRuntimeService.saved_accounts()
    except Exception:
        saved = {}
    if saved:
        pytest.skip("an IBM Quantum account is saved on this machine")
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    with pytest.raises(BackendError) as info:
        ex.get_backend("ibm:ibm_fez")
    assert "needs IBM Quantum credentials" in _one_line(info.value)


def test_describe_backend_fields():
    fez = ex.describe_backend(ex.fake_backend("fez"))
    assert fez["name"] == "fake_fez" and fez["qubits"] == 156 and fez["processor"] == "Heron r2"
    assert fez["two_qubit_gate"] == "cz" and fez["reset"] is True
    # Heron r2 medians are a few 1e-3 (the snapshot shipped with qiskit-ibm-runtime).
    assert 1e-4 < fez["median_two_qubit_error"] < 2e-2 and 1e-4 < fez["median_readout_error"] < 5e-2
    miami = ex.describe_backend(ex.fake_backend("miami"))
    assert miami["reset"] is False


def _reset_circuit() -> QuantumCircuit:
    qc = QuantumCircuit(1, 1)
    qc.x(0)
    qc.reset(0)
    qc.measure(0, 0)
    return qc


def test_capability_check_refuses_reset_on_fake_miami():
    qc = _reset_circuit()
    assert ex.circuit_features([qc]) == {"reset"}
    for run in (lambda: ex.run_counts([qc], backend="fake:fake_miami", shots=10),
                lambda: ex.run_density_matrix([qc], backend="aer-noisy:fake_miami")):
        with pytest.raises(BackendError) as info:
            run()
        assert "does not support reset" in _one_line(info.value)


def test_mid_circuit_measurement_is_detected():
    qc = QuantumCircuit(1, 2)
    qc.measure(0, 0)
    qc.x(0)
    qc.measure(0, 1)
    assert ex.circuit_features([qc]) == {"mid-circuit measurement"}
    final_only = QuantumCircuit(1, 1)
    final_only.x(0)
    final_only.measure(0, 0)
    assert ex.circuit_features([final_only]) == set()


def test_fake_backend_goes_through_the_runtime_executor_sampler():
    # Local testing mode of qiskit-ibm-runtime: the sampler class used on hardware. Any
    # DeprecationWarning it raises fails the test (also without the -W flag).
    qc = QuantumCircuit(2, 2)
    qc.x(0)
    qc.measure([0, 1], [0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        counts = ex.run_counts([qc], backend="fake:fake_manila", shots=400, seed=3)[0]
    assert sum(counts.values()) == 400
    # FakeManila's readout and gate errors are a few percent: '01' (qubit 0 excited) dominates.
    assert counts.get("01", 0) > 300
    sampler = ex.samplers._make_sampler(ex.get_backend("fake:fake_manila"), 10, 1)
    assert type(sampler).__module__.startswith("qiskit_ibm_runtime.executor_sampler")


def test_local_testing_mode_is_seeded():
    # The ledger's fetch reruns a local (fake:) job from its stored seed and promises the counts of the
    # submitted run: the same seed must give the same counts, another seed other counts (seeded, so this
    # is deterministic; unseeded, two runs of 400 shots almost never agree in all four outcomes).
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    first, again, other = (ex.run_counts([qc], backend="fake:fake_manila", shots=400, seed=s)[0] for s in (3, 3, 4))
    assert first == again
    assert first != other


def test_custom_readout_only_flips_bits():
    p = 0.1
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    shots = 20000
    counts = ex.run_counts([qc], backend=f"custom:readout_error={p}", shots=shots, seed=5)[0]
    frac = counts.get("1", 0) / shots
    # Binomial standard error sqrt(p(1-p)/shots) = 2.1e-3: 5 of them.
    assert abs(frac - p) < 5 * math.sqrt(p * (1 - p) / shots)
    # Readout error does not act on the saved state.
    prep = QuantumCircuit(1)
    prep.x(0)
    rho = ex.run_density_matrix([prep], backend=f"custom:readout_error={p}")[0]["final"]
    assert abs(rho[1, 1].real - 1.0) < 1e-10


def test_custom_gate_noise_changes_the_exact_state():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    ideal = ex.run_density_matrix([qc])[0]["final"]
    noisy = ex.run_density_matrix([qc], backend="custom:two_qubit_error=0.05")[0]["final"]
    # 5 % depolarising on the cz (plus nothing else): the Bell coherence drops by a few percent, far
    # above round-off.
    assert 0.005 < abs(ideal[0, 3] - noisy[0, 3]) < 0.1


def test_choose_layout_is_pinned_and_reported():
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    assert ex.choose_layout(qc, "aer") is None
    lay = ex.choose_layout(qc, "aer-noisy:fake_manila")
    assert len(lay) == 2 and len(set(lay)) == 2
    edges = {tuple(e) for e in ex.fake_backend("manila").coupling_map.get_edges()}
    assert tuple(lay) in edges or tuple(reversed(lay)) in edges  # connected qubits
    other = [q for q in range(5) if q not in lay][:2]
    rho_a = ex.run_density_matrix([qc], backend="aer-noisy:fake_manila", initial_layout=other)[0]["final"]
    assert rho_a.shape == (4, 4)


def test_sampled_charge_agrees_with_noisy_prediction():
    res = run_charge(Atoms(2), Bath(1.0), InitialState(), Collision(0.9), 6, backend=GATE_NOISE, shots=4000).to_dict()
    rec = ChargeRun.from_dict(json.loads(json.dumps(res)))
    assert rec.layout is not None and len(rec.layout) == 4
    pred, meas = res["noisy_prediction"], res["circuit"]
    # Linear quantities of the tomographic estimate: standard error ~ 1/sqrt(4000) = 0.016 per
    # matrix element (energy: a sum of two populations); 4 standard errors.
    for key, se in (("rho_eg_ge", 0.5 / math.sqrt(4000)), ("energy", 2 / math.sqrt(4000))):
        assert abs(pred[key] - meas[key]) < 4 * se, key
    # The noise is visible: the prediction is off the ideal twin by more than the tolerance above.
    assert res["twin"]["rho_eg_ge"] - pred["rho_eg_ge"] > 4 * 0.5 / math.sqrt(4000)


def test_exact_noisy_charge_reports_prediction_and_layout():
    res = run_charge(Atoms(2), Bath(1.0), InitialState(), Collision(0.9), 6, backend=GATE_NOISE, exact=True).to_dict()
    assert res["noisy_prediction"] == res["circuit"] and len(res["layout"]) == 4
    ideal = run_charge(Atoms(2), Bath(1.0), InitialState(), Collision(0.9), 6, exact=True).to_dict()
    assert "noisy_prediction" not in ideal and "layout" not in ideal


def test_sampled_harvest_agrees_with_noisy_prediction():
    shots = 4000
    res = run_harvest(Bath(1.0), InitialState(), "charged", Harvest(theta=0.5, rate=1.0), 3.0, instances=4,
                      backend=GATE_NOISE, shots=shots).to_dict()
    rec = HarvestRun.from_dict(json.loads(json.dumps(res)))
    assert rec.noisy_prediction is not None and len(rec.layout) == 5
    p = res["noisy_prediction"]["probe_excited_population"]
    # p_e from the Z setting pooled over 4 instances: binomial SE sqrt(p(1-p)/(4 shots)) ~ 3.9e-3; 4 of them.
    assert abs(res["circuit"]["probe_excited_population"] - p) < 4 * math.sqrt(p * (1 - p) / (4 * shots))
    assert np.isfinite(res["noisy_prediction"]["teff"])


def test_cli_backends_json_lists_fake_devices(capsys):
    from qcharge.cli import main

    assert main(["backends", "--json", "--no-real"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    keys = {"name", "qubits", "processor", "two_qubit_gate", "median_two_qubit_error", "median_readout_error", "reset"}
    assert keys == set(rows["fake_fez"]) and rows["fake_kingston"]["two_qubit_gate"] == "cz"
    assert rows["fake_miami"]["reset"] is False and rows["fake_brisbane"]["processor"] == "Eagle r3"


def test_cli_custom_flags_build_the_backend(capsys):
    from qcharge.cli import main

    argv = ["run", "charge", "-N", "2", "-T", "1", "--theta", "0.9", "--collisions", "2", "--exact", "--json"]
    assert main(argv + ["--backend", "custom", "--two-qubit-error", "0.03"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["backend"].startswith("custom:two_qubit_error=0.03") and "noisy_prediction" in out
    assert main(argv + ["--t1", "5"]) == 2
    assert "must be 'custom' with --t1" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- error suppression
def _charge_circuit():
    from qcharge.circuits.charging import charging_circuit
    from qcharge.protocol import charging_plan

    plan = charging_plan(Atoms(2), Bath(1.0), InitialState(), Collision(0.9), 2, seed=3)
    return charging_circuit(plan, measure=True)  # resets (purified ancilla): mid-circuit operations


@pytest.fixture
def runtime_spy(monkeypatch):
    """What the runtime's own classes receive: the sampler's options and the executor's program items."""
    from qiskit_ibm_runtime.executor import Executor
    from qiskit_ibm_runtime.executor_sampler import Sampler

    seen = {"options": [], "items": []}
    run_sampler, run_executor = Sampler.run, Executor.run

    def sampler_run(self, pubs, **kw):
        seen["options"].append(self.options.model_copy(deep=True))
        return run_sampler(self, pubs, **kw)

    def executor_run(self, program, **kw):
        seen["items"] += list(program.items)
        return run_executor(self, program, **kw)

    monkeypatch.setattr(Sampler, "run", sampler_run)
    monkeypatch.setattr(Executor, "run", executor_run)
    return seen


def test_error_suppression_is_off_by_default(runtime_spy):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        counts = ex.run_counts([_charge_circuit()], backend="fake:fake_manila", shots=200, seed=2)[0]
    assert sum(counts.values()) == 200
    (opts,) = runtime_spy["options"]
    assert opts.dynamical_decoupling.enable is False
    assert not opts.twirling.enable_gates and not opts.twirling.enable_measure  # None: the sampler's "off"
    (item,) = runtime_spy["items"]
    assert type(item).__name__ == "CircuitItem" and "delay" not in item.circuit.count_ops()


def test_dynamical_decoupling_and_gate_twirling_reach_the_runtime_sampler(runtime_spy):
    shots = 1000  # the runtime's 'auto' split would sample 16 x 64 = 1024 shots
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        with ex.error_suppression(dynamical_decoupling="XY4", twirl_gates=True):
            counts = ex.run_counts([_charge_circuit()], backend="fake:fake_manila", shots=shots, seed=2)[0]
    assert sum(counts.values()) == shots  # randomizations x shots per randomization = shots, exactly
    (opts,) = runtime_spy["options"]
    assert opts.dynamical_decoupling.enable is True and opts.dynamical_decoupling.sequence_type == "XY4"
    assert opts.twirling.enable_gates is True and opts.twirling.enable_measure is False
    assert opts.twirling.num_randomizations * opts.twirling.shots_per_randomization == shots
    # The runtime's client code applied both: a twirled (samplex) item whose template is padded with delays.
    (item,) = runtime_spy["items"]
    assert type(item).__name__ == "SamplexItem" and item.shape == (opts.twirling.num_randomizations,)
    assert "delay" in item.circuit.count_ops()
    assert ex.current_suppression() == ex.ErrorSuppression()  # the block is over: off again


def test_error_suppression_bad_values_are_one_line():
    with pytest.raises(ParameterError) as info:
        ex.ErrorSuppression(dynamical_decoupling="XZ")
    assert "Argument `dynamical_decoupling` must be one of ['XX', 'XpXm', 'XY4'], but is 'XZ'" in _one_line(info.value)
    with pytest.raises(ParameterError, match="Argument `twirl_gates` must be True or False"):
        ex.ErrorSuppression(twirl_gates="yes")
    for backend in ("aer", "aer-noisy:fake_manila", "custom:readout_error=0.1"):  # Aer samples without them
        with pytest.raises(ParameterError) as info:
            ex.run_counts([_charge_circuit()], backend=backend, shots=10,
                          suppression=ex.ErrorSuppression(dynamical_decoupling="XX"))
        assert "Argument `dynamical_decoupling` needs the runtime sampler" in _one_line(info.value)
    flow = QuantumCircuit(1, 1)
    flow.measure(0, 0)
    with flow.if_test((flow.clbits[0], 1)):
        flow.x(0)
    flow.measure(0, 0)
    with pytest.raises(ParameterError, match=r"must be off for circuits with control flow \(.*\), but they use if_else"):
        ex.run_counts([flow], backend="fake:fake_fez", shots=10, suppression=ex.ErrorSuppression("XX"))


def test_cli_suppression_flags_are_checked_before_anything_runs(capsys, tmp_path):
    from qcharge.cli import main

    base = ["run", "charge", "-N", "2", "-T", "1", "--theta", "0.9", "--collisions", "2"]
    for extra, fragment in (
            (["--backend", "fake:fake_manila", "--dynamical-decoupling", "XZ"],
             "Argument `--dynamical-decoupling` must be one of ['XX', 'XpXm', 'XY4'], but is 'XZ'."),
            (["--twirl-gates"], "Argument `--twirl-gates` needs the runtime sampler (--backend fake:<fake> or "
                                "ibm:<name>), but --backend is 'aer'."),
            (["--backend", "fake:fake_manila", "--twirl-gates", "--exact"],
             "Argument `--twirl-gates` needs a sampled run (--shots), but this run is exact.")):
        for verb in ([], ["submit"]):
            assert main(verb + base + extra + ["--runs-dir", str(tmp_path)]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and fragment in err, err
    assert list(tmp_path.iterdir()) == []  # refused before a run was recorded


def test_cli_suppression_is_recorded_in_the_run_ledger(capsys, tmp_path):
    from qcharge import ledger
    from qcharge.cli import main

    argv = ["run", "charge", "-N", "2", "-T", "1", "--theta", "0.9", "--collisions", "2", "--shots", "200",
            "--backend", "fake:fake_manila", "--dynamical-decoupling", "XpXm", "--json", "--runs-dir", str(tmp_path)]
    assert main(argv) == 0
    capsys.readouterr()
    (run,) = ledger.list_runs(runs_dir=tmp_path)
    params = ledger.open_run(run["run"], runs_dir=tmp_path).info["parameters"]
    assert params["dynamical_decoupling"] == "XpXm" and params["twirl_gates"] is False
