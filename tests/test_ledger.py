"""Run ledger: submit -> fetch from another process, killed runs, remote jobs through the runtime's job classes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from qcharge import ledger
from qcharge.cli import main
from qcharge.exceptions import BackendError, ParameterError
from qcharge.records import from_jsonable

# No DeprecationWarning on any ledger path (the runtime's deprecated SamplerV2 / moved modules included):
# an error here and in every subprocess below.
pytestmark = pytest.mark.filterwarnings("error::DeprecationWarning")
NO_DEPRECATIONS = ["-W", "error::DeprecationWarning"]
ROOT = Path(__file__).resolve().parents[1]
# Small sampled runs: one job each (<= 100 circuits), seconds on Aer.
CHARGE = ["run", "charge", "--atoms", "2", "-T", "1", "--theta", "0.6", "--collisions", "3", "--shots", "300"]
HARVEST = ["run", "harvest", "-T", "1", "--cluster", "charged", "--time", "2", "--instances", "6", "--shots", "200"]


def cli(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    """``qcharge ARGV`` in a fresh interpreter (nothing shared with this process but the files)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, *NO_DEPRECATIONS, "-m", "qcharge.cli", *argv], capture_output=True, text=True, env=env,
                          timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def in_process(capsys, argv: list[str]):
    assert main(argv + ["--json"]) == 0
    return from_jsonable(json.loads(capsys.readouterr().out))


def test_submit_returns_run_id_and_a_fresh_process_fetches_what_run_prints(tmp_path, capsys):
    runs = str(tmp_path / "runs")
    sub = json.loads(cli("submit", *CHARGE, "--runs-dir", runs, "--json").stdout)
    run_id = sub["run"]
    folder = Path(runs) / run_id
    info = json.loads((folder / "run.json").read_text())
    assert info["experiment"] == "charge" and info["parameters"]["shots"] == 300 and info["backend"] == "aer"
    assert (folder / "circuits" / "job-0.qpy").stat().st_size > 0
    assert not (folder / "result.json").exists()  # submit does not wait for (or analyse) anything
    st = json.loads(cli("status", run_id, "--runs-dir", runs, "--json").stdout)
    assert st["run"] == run_id and st["state"] == "local"
    assert [j["state"] for j in st["jobs"]] == ["local"] and "cannot be retrieved" in st["jobs"][0]["note"]

    fetched = from_jsonable(json.loads(cli("fetch", run_id, "--runs-dir", runs, "--json").stdout))
    # The local job reruns from its stored seed: the same counts, so the same record, key by key.
    assert fetched == in_process(capsys, CHARGE)
    assert json.loads(cli("status", run_id, "--runs-dir", runs, "--json").stdout)["state"] == "done"
    listed = in_process(capsys, ["runs", "--runs-dir", runs])
    assert [(r["run"], r["experiment"], r["fetched"]) for r in listed] == [(run_id, "charge", True)]


def test_a_killed_run_loses_nothing_and_is_fetched_by_a_fresh_process(tmp_path, capsys):
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, *NO_DEPRECATIONS, "-m", "qcharge.cli", *HARVEST, "--runs-dir", str(runs), "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 240
        while not list(runs.glob("*/jobs/[0-9a-f]*.json")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # right after the job record is on disk: still sampling / analysing
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == -signal.SIGKILL  # it was killed, it did not finish
    (folder,) = runs.iterdir()
    assert not (folder / "result.json").exists()
    (job,) = ledger.open_run(folder.name, runs_dir=runs).job_records()
    assert job["kind"] == "local" and job["seed"] == 7 and job["n_circuits"] == 3 * 6  # 3 settings x 6 instances
    fetched = from_jsonable(json.loads(cli("fetch", folder.name, "--runs-dir", str(runs), "--json").stdout))
    assert fetched == in_process(capsys, HARVEST)


def test_an_exact_run_is_analysed_at_submit(tmp_path, capsys):
    argv = ["run", "charge", "--atoms", "2", "-T", "1", "--theta", "0.6", "--collisions", "2", "--exact"]
    run_id = in_process(capsys, ["submit", *argv, "--runs-dir", str(tmp_path)])["run"]
    assert ledger.status(run_id, runs_dir=tmp_path) == {"run": run_id, "experiment": "charge", "backend": "aer",
                                                        "state": "done", "jobs": []}
    assert in_process(capsys, ["fetch", run_id, "--runs-dir", str(tmp_path)]) == in_process(capsys, argv)


def test_unknown_runs_give_one_line(tmp_path, capsys):
    for verb in ("status", "fetch"):
        assert main([verb, "no-such-run", "--runs-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Argument `run` must name a run in" in err and "'no-such-run'" in err
    with pytest.raises(ParameterError, match="must name a run"):
        ledger.open_run("../elsewhere", runs_dir=tmp_path)


def test_fetch_refuses_circuits_that_differ_from_the_recorded_ones(tmp_path, capsys):
    run_id = in_process(capsys, ["submit", *CHARGE, "--runs-dir", str(tmp_path)])["run"]
    run = ledger.open_run(run_id, runs_dir=tmp_path)
    (job,) = run.job_records()
    run.save_job(0, {**job, "digest": "0" * 64})  # as if another version had built other circuits
    with pytest.raises(ParameterError, match="must rebuild the circuits it recorded"):
        ledger.fetch(run_id, runs_dir=tmp_path)


def test_an_interrupted_submission_is_reported_not_misread(tmp_path, capsys):
    argv = [*HARVEST[:-4], "--instances", "34", "--shots", "200"]  # 3 x 34 = 102 circuits: two jobs
    run_id = in_process(capsys, ["submit", *argv, "--runs-dir", str(tmp_path)])["run"]
    run = ledger.open_run(run_id, runs_dir=tmp_path)
    assert [(j["first_circuit"], j["n_circuits"]) for j in run.job_records()] == [(0, 100), (100, 2)]
    next(f for f in (run.path / "jobs").glob("*.json") if '"index": 1' in f.read_text()).unlink()
    with pytest.raises(ParameterError, match="has 1 of its 2 jobs recorded"):
        ledger.fetch(run_id, runs_dir=tmp_path)


def test_missing_credentials_and_unknown_backends_leave_no_run(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    for backend in ("ibm:ibm_nowhere", "aer-noisy:fake_nowhere"):
        assert main(["submit", *CHARGE, "--backend", backend, "--runs-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("qcharge: error: ")
    assert ledger.list_runs(runs_dir=tmp_path) == []


def test_writes_are_atomic(tmp_path, monkeypatch):
    from qcharge.records import write_atomic

    target = tmp_path / "run.json"
    write_atomic(target, b"old")

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_calibration_snapshot_of_a_fake_device():
    snap = ledger.calibration_snapshot("aer-noisy:fake_manila")
    assert snap["num_qubits"] == 5 and len(snap["qubits"]) == 5
    assert all(q["t1"] > 0 and q["t2"] > 0 for q in snap["qubits"])
    assert 0 < snap["instructions"]["cx"]["0,1"]["error"] < 0.1 and "measure" in snap["instructions"]
    assert ledger.calibration_snapshot("aer") is None


# ---------------------------------------------------------------------------------------------
# remote jobs: the runtime's own service, job and decoder classes, fed by a stub of the REST API
# ---------------------------------------------------------------------------------------------
class RuntimeApiStub:
    """The two REST calls a stored job needs (``job_get``, ``job_results``), answered as the server would:
    a job document with its program and state, and the result document of that program."""

    _instance = None

    def __init__(self, program: str) -> None:
        self.program = program
        self.states: dict[str, str] = {}
        self.results: dict[str, str] = {}

    def job_get(self, job_id, exclude_params=True):
        return {"id": job_id, "program": {"id": self.program}, "state": {"status": self.states[job_id]},
                "created": "2026-12-01T00:00:00Z"}

    def job_results(self, job_id):
        return self.results[job_id]


def runtime_service(api):
    """A real :class:`QiskitRuntimeService` whose active API client is ``api`` (no account, no network)."""
    from qiskit_ibm_runtime import QiskitRuntimeService

    service = object.__new__(QiskitRuntimeService)
    service._active_api_client = api
    service._api_clients = {}
    service._backend_instance_groups = []
    return service


def _register(qc) -> str:
    return qc.metadata.get("counts_register") or qc.cregs[-1].name


def sampler_program_result(circuits, shots: int, seed: int) -> str:
    """Result document of a legacy ``sampler`` program job: a PrimitiveResult through RuntimeEncoder."""
    from qiskit.primitives import PrimitiveResult, SamplerPubResult
    from qiskit.primitives.containers import BitArray, DataBin
    from qiskit_ibm_runtime import RuntimeEncoder

    from qcharge.execute import run_counts

    pubs = []
    for qc, c in zip(circuits, run_counts(circuits, backend="aer", shots=shots, seed=seed)):
        bits = BitArray.from_counts(c, num_bits=len(next(iter(c))))
        pubs.append(SamplerPubResult(DataBin(**{_register(qc): bits}, shape=()), metadata={"shots": bits.num_shots}))
    return json.dumps(PrimitiveResult(pubs, metadata={"version": 2}), cls=RuntimeEncoder)


def executor_program_result(circuits, shots: int, seed: int) -> str:
    """Result document of an ``executor`` program job, the program behind ``executor_sampler.Sampler``.

    The upload is built by the runtime's own client code (``prepare`` + the v2.0 schema converter, as
    ``Sampler.run`` does); the "server" reads the circuits back from that upload, samples them on Aer,
    and answers a v2.0 ``QuantumProgramResultModel`` echoing the upload's passthrough data.
    """
    import numpy as np
    from ibm_quantum_schemas.common.tensor import CompressedTensorModel
    from ibm_quantum_schemas.executor.version_2_0.models import ParamsModel, QuantumProgramResultModel
    from qiskit_ibm_runtime.executor_sampler.prepare import prepare
    from qiskit_ibm_runtime.options_models.sampler import SamplerOptions
    from qiskit_ibm_runtime.quantum_program.converters.converters_2_0 import quantum_program_to_2_0

    from qcharge.execute import run_counts

    program, options = prepare(circuits, SamplerOptions(), shots)
    program._semantic_role = "sampler_v2"  # as Sampler.run sets it
    upload = ParamsModel.model_validate_json(quantum_program_to_2_0(program, options).model_dump_json())
    received = upload.quantum_program.circuits.to_python()
    items = []
    for qc, c in zip(received, run_counts(received, backend="aer", shots=shots, seed=seed)):
        # classified data: one boolean row per shot, bit 0 first (the count keys put bit 0 right-most)
        rows = np.array([[b == "1" for b in reversed(k)] for k, v in c.items() for _ in range(v)])
        items.append({"results": {_register(qc): CompressedTensorModel.from_numpy(rows)}, "metadata": {}})
    return QuantumProgramResultModel(data=items, metadata={"chunk_timing": []},
                                     passthrough_data=upload.quantum_program.passthrough_data,
                                     semantic_role=upload.quantum_program.semantic_role).model_dump_json()


@pytest.mark.parametrize("program", ["executor", "sampler"])
def test_remote_jobs_are_retrieved_by_id_through_the_runtime_job_classes(tmp_path, capsys, program, monkeypatch):
    import qcharge.execute as execute
    from qcharge.execute import job_chunks

    # The experiment resolves the device for its layout and its exact-noisy prediction (a real run
    # needs credentials for that, as for the jobs). Offline, "ibm:test_eagle" resolves to a noiseless
    # simulator; the jobs themselves still come back only through the stub service below.
    # (Patched where every caller's get_backend resolves 'ibm:' names: qcharge.execute.backends.)
    from qiskit_aer import AerSimulator

    resolve = execute.backends._ibm_backend
    monkeypatch.setattr(execute.backends, "_ibm_backend",
                        lambda name: AerSimulator() if name == "test_eagle" else resolve(name))

    # A harvest run as `submit` records it for an ibm: backend: parameters, circuits, then remote job records.
    run_id = in_process(capsys, ["submit", *HARVEST, "--runs-dir", str(tmp_path)])["run"]
    run = ledger.open_run(run_id, runs_dir=tmp_path)
    info = run.info
    info["backend"] = info["parameters"]["backend"] = "ibm:test_eagle"
    ledger._write_json(run.path / "run.json", info)
    (job,) = run.job_records()
    run.save_job(0, {**job, "kind": "remote", "job_id": "d4tjob0", "state": "queued", "backend": "ibm:test_eagle"})

    # The "device" samples the stored QPY circuits on Aer with the recorded seed (inside the serve functions).
    circuits = run.load_circuits(job["circuits_file"])
    assert job_chunks(circuits, seed=job["seed"])[0]["digest"] == job["digest"]  # QPY keeps the circuits
    api = RuntimeApiStub(program)
    service = runtime_service(api)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        serve = executor_program_result if program == "executor" else sampler_program_result
        api.results["d4tjob0"] = serve(circuits, 200, job["seed"])
        with pytest.raises(BackendError, match="Could not retrieve job 'd4tjob0'"):  # the server does not know it
            ledger.status(run_id, runs_dir=tmp_path, service=service)
        for server, state in (("Queued", "queued"), ("Running", "running"), ("Failed", "error"), ("Completed", "done")):
            api.states["d4tjob0"] = server
            st = ledger.status(run_id, runs_dir=tmp_path, service=service)
            assert [j["state"] for j in st["jobs"]] == [state] and st["jobs"][0]["job_id"] == "d4tjob0"
            assert st["state"] == state  # one job: the run is where its job is (not fetched yet)
            if server == "Failed":  # a failed job is a one-line error, not a traceback
                with pytest.raises(BackendError, match="'d4tjob0' has no result"):
                    ledger.fetch(run_id, runs_dir=tmp_path, service=service)
        fetched = ledger.fetch(run_id, runs_dir=tmp_path, service=service)
    runtime_deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)
                            and "qiskit_ibm_runtime" in (w.filename + str(w.message))]
    assert runtime_deprecations == []

    # Same counts as the local run of the same circuits, so the same record but for the backend's name.
    expected = in_process(capsys, HARVEST)
    assert fetched["backend"] == "ibm:test_eagle"
    device_only = ("backend", "noisy_prediction", "layout", "error_budget", "two_qubit_gates",
                   "suppression")  # a device run adds these
    assert {k: v for k, v in fetched.items() if k not in device_only} == {
        k: v for k, v in expected.items() if k not in device_only}
    assert fetched["noisy_prediction"]["probe_excited_population"] == pytest.approx(
        expected["twin"]["probe_excited_population"], abs=1e-10)  # a noiseless device predicts the twin
    assert ledger.status(run_id, runs_dir=tmp_path, service=service)["state"] == "done"


def test_a_plan_and_layout_chosen_at_submit_are_pinned_for_fetch(tmp_path, capsys, monkeypatch):
    """`--plan best` and the noise-aware layout depend on the device's calibration at submission: the
    ledger stores what they chose, and a fetch reuses it instead of planning anew (a real device's
    calibration changes between submit and fetch, and a new plan would rebuild other circuits)."""
    runs = str(tmp_path / "runs")
    argv = ["run", "charge", "--atoms", "2", "-T", "1", "--plan", "best", "--shots", "200",
            "--backend", "aer-noisy:fake_manila"]
    assert main(["submit", *argv, "--runs-dir", runs, "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run"]
    run = ledger.open_run(run_id, runs_dir=runs)
    pinned = run.info["pinned"]
    assert pinned["plan"] is None and pinned["theta"] > 0 and pinned["collisions"] >= 2
    layouts = {tuple(r["initial_layout"]) for r in run.job_records()}
    assert layouts == {tuple(pinned["layout"])}  # the jobs ran on the plan's qubits

    def no_planning(*args, **kwargs):
        raise AssertionError("fetch planned anew")

    monkeypatch.setattr("qcharge.planner.plan", no_planning)
    assert main(["fetch", run_id, "--runs-dir", runs, "--json"]) == 0
    fetched = from_jsonable(json.loads(capsys.readouterr().out))
    assert fetched["layout"] == pinned["layout"]
    assert (fetched["theta"], fetched["collisions"]) == (pinned["theta"], pinned["collisions"])


def test_mitigated_run_fetches_with_the_calibration_of_each_instance_s_measured_qubits(tmp_path, capsys):
    # On FakeKingston's chosen layout routing measures the probe of some instances on another physical
    # qubit than the others (seed 3: qubits 0 and 1): two calibrations, each data circuit tagged with its qubits.
    argv = [*HARVEST[:-1], "300", "--seed", "3", "--backend", "aer-noisy:fake_kingston", "--mitigate"]
    run_id = in_process(capsys, ["submit", *argv, "--runs-dir", str(tmp_path)])["run"]
    run = ledger.open_run(run_id, runs_dir=tmp_path)
    (job,) = run.job_records()
    meta = [c.metadata for c in run.load_circuits(job["circuits_file"])]  # QPY keeps the metadata
    cal = {tuple(m["mitigation_physical_qubits"]) for m in meta if "mitigation_prepared" in m}
    data = [tuple(m["measured_physical_qubits"]) for m in meta if "tomography_basis" in m]
    assert len(cal) == 2 and set(data) == cal and len(data) == 6 * 3
    fetched = in_process(capsys, ["fetch", run_id, "--runs-dir", str(tmp_path)])
    direct = in_process(capsys, argv)  # what `run` gives, in one process
    assert fetched["mitigated"] == direct["mitigated"] and fetched["circuit"] == direct["circuit"]
    assert fetched["mitigated"]["readout_calibration"]["qubits"] == [list(p) for p in dict.fromkeys(data)]


def test_an_enumerated_run_records_one_job_per_shot_count_and_fetches_what_run_prints(tmp_path, capsys):
    # ancilla='enumerate': every coin pattern with its own share of the shots. A job holds circuits of equal
    # shots (the runtime sampler asks that), so the ledger records one job per run of equal shots, each with them.
    argv = ["run", "charge", "--atoms", "2", "-T", "1", "--theta", "1.05", "--collisions", "2", "--ordering", "exact",
            "--ancilla", "enumerate", "--shots", "400"]
    runs = str(tmp_path / "runs")
    run_id = json.loads(cli("submit", *argv, "--runs-dir", runs, "--json").stdout)["run"]
    jobs = ledger.open_run(run_id, runs_dir=runs).job_records()
    # 4 patterns, p_e = 0.269: 400 shots split 214 / 79 / 78 / 29 (largest remainder), 9 settings each.
    assert sum(j["shots"] * j["n_circuits"] for j in jobs) == 9 * 400
    assert len({j["shots"] for j in jobs}) > 1 and all(j["n_circuits"] <= 100 for j in jobs)
    fetched = from_jsonable(json.loads(cli("fetch", run_id, "--runs-dir", runs, "--json").stdout))
    assert fetched == in_process(capsys, argv)
    assert fetched["coin_instances"] == 4
