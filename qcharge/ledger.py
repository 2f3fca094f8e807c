r"""The run ledger: ``runs/<id>/`` keeps everything a run needs to be finished later, from any process.

A run folder holds

* ``run.json``: the experiment (``charge`` / ``harvest``), its parameters (the CLI arguments of
  ``run charge|harvest``), the backend, the creation time;
* ``calibration.json``: a snapshot of the device's target (gate errors and durations, T1, T2,
  readout) for ``aer-noisy:``, ``fake:`` and ``ibm:`` backends;
* ``circuits/job-<k>.qpy``: the circuits of job k (QPY), and for remote jobs
  ``job-<k>-transpiled.qpy``, what was sent;
* ``jobs/``: one :class:`~qcharge.records.RecordStore` record per job (id, seed, digest of its
  circuits, shots, state), written **before** anybody waits for the job;
* ``result.json``: the analysed record (what ``run ... --json`` prints), once fetched.

Every file is written atomically (temporary file, fsync, :func:`os.replace`): a killed process
leaves the old file or the new one. A run is split into three steps: build the circuits and the
analysis inputs (the experiment functions of :mod:`qcharge.experiments`, up to their counts), execute
(:func:`submit` records or submits every job and returns), analyse (:func:`fetch` rebuilds the same
circuits from the stored parameters, checks their digests against the recorded ones, takes the counts
of the recorded jobs and finishes the experiment exactly as ``run`` would).

Remote jobs (``ibm:``) are retrieved by id from the runtime service. Local jobs (Aer,
``aer-noisy:``, local testing mode ``fake:``) live in the memory of the process that runs them and
cannot be retrieved by another one: :func:`submit` records them without running them, and
:func:`fetch` runs them from their stored seeds, which gives the counts ``run`` gives.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from .exceptions import ParameterError
from .records import RecordStore, dumps, from_jsonable, write_atomic

__all__ = ["DEFAULT_RUNS_DIR", "Run", "create_run", "open_run", "list_runs", "run_parameters", "execute_run",
           "submit", "fetch", "status", "calibration_snapshot"]

DEFAULT_RUNS_DIR = "runs"

# Argument-namespace entries that are not parameters of the experiment (functions, sinks, output flags).
_NOT_PARAMETERS = frozenset({"func", "counts_source", "record_sink", "json", "runs_dir", "command",
                             "submit_command"})


def _write_json(target: Path, obj: Any) -> None:
    write_atomic(target, (dumps(obj, indent=1) + "\n").encode())


def _read_json(target: Path) -> Any:
    return from_jsonable(json.loads(target.read_text()))


def calibration_snapshot(backend: str) -> dict | None:
    """The device's calibration as JSON: per-qubit T1, T2, frequency; per-instruction error and duration.

    Taken from the device's target (where qiskit keeps the calibration of fake and IBM devices), plus
    ``properties().last_update_date`` where it exists; ``None`` for backends without a device
    (``'aer'``; a custom noise model is fully given by the run's parameters).
    """
    from .execute import fake_backend, get_backend

    kind, _, rest = backend.partition(":")
    if kind in ("aer-noisy", "fake") and rest:
        device = fake_backend(rest)
    elif kind == "ibm" and rest:
        device = get_backend(backend)
    else:
        return None
    target = getattr(device, "target", None)
    if target is None:
        return None
    qubits = []
    for q in range(target.num_qubits):
        props = target.qubit_properties[q] if target.qubit_properties else None
        qubits.append({k: getattr(props, k, None) for k in ("t1", "t2", "frequency")})
    instructions: dict[str, dict[str, dict]] = {}
    for name in target.operation_names:
        entries = {}
        for qargs, props in (target[name] or {}).items():
            if props is not None and qargs is not None:
                entries[",".join(map(str, qargs))] = {"error": props.error, "duration": props.duration}
        instructions[name] = entries
    snapshot = {"backend": getattr(device, "name", str(backend)), "num_qubits": target.num_qubits,
                "qubits": qubits, "instructions": instructions}
    with contextlib.suppress(Exception):  # optional: only devices with BackendProperties have it
        snapshot["last_update_date"] = str(device.properties().last_update_date)
    return snapshot


class Run:
    """One run folder of the ledger (see the module docstring for its files).

    Args:
        path: the run's folder ``<runs_dir>/<id>``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.id = self.path.name
        self.jobs_store = RecordStore(self.path / "jobs", argument="runs_dir")

    @property
    def info(self) -> dict:
        """``run.json``: experiment, parameters, backend, created."""
        return _read_json(self.path / "run.json")

    def job_records(self) -> list[dict]:
        """The recorded jobs, in submission order."""
        return sorted((r["result"] for r in self.jobs_store.records()), key=lambda r: r["index"])

    def save_job(self, index: int, record: dict) -> None:
        """Record job ``index`` (atomic; replaces an older record of it)."""
        self.jobs_store.save({"run": self.id, "job": index}, {"index": index, **record})

    def save_circuits(self, name: str, circuits) -> str:
        """Write ``circuits`` as QPY to ``circuits/<name>.qpy``; returns the path relative to the run."""
        from qiskit import qpy

        buf = io.BytesIO()
        qpy.dump(list(circuits), buf)
        (self.path / "circuits").mkdir(exist_ok=True)
        write_atomic(self.path / "circuits" / f"{name}.qpy", buf.getvalue())
        return f"circuits/{name}.qpy"

    def load_circuits(self, relpath: str) -> list:
        """The circuits stored at ``relpath`` (QPY)."""
        from qiskit import qpy

        with open(self.path / relpath, "rb") as fh:
            return qpy.load(fh)

    @property
    def result(self) -> dict | None:
        """The analysed record (``result.json``), or ``None`` before a fetch."""
        file = self.path / "result.json"
        return _read_json(file) if file.exists() else None

    def save_result(self, payload: dict) -> None:
        _write_json(self.path / "result.json", payload)

    def pin(self, resolved: dict, given: dict) -> None:
        """Store in ``run.json`` (``pinned``) the parameters the run resolved itself (``--plan best``'s
        protocol and layout): they depend on the device's calibration at submission, so a fetch must
        reuse them instead of resolving them anew."""
        pinned = {k: v for k, v in resolved.items() if k in given and given[k] != v}
        if pinned:
            _write_json(self.path / "run.json", {**self.info, "pinned": pinned})


def _runs_dir(runs_dir: str | os.PathLike | None) -> Path:
    return Path(DEFAULT_RUNS_DIR if runs_dir is None else runs_dir)


def create_run(experiment: str, parameters: dict, *, runs_dir: str | os.PathLike | None = None) -> Run:
    """A new run folder with ``run.json`` and the calibration snapshot, written before anything runs.

    The id is ``<UTC time>-<experiment>-<6 random hex digits>``: sortable, unique across processes.

    Example:
        >>> import tempfile
        >>> root = tempfile.mkdtemp()
        >>> run = create_run("charge", {"atoms": 2, "backend": "aer"}, runs_dir=root)
        >>> [(r["experiment"], r["backend"], r["jobs"], r["fetched"]) for r in list_runs(runs_dir=root)]
        [('charge', 'aer', 0, False)]
        >>> open_run(run.id, runs_dir=root).info["parameters"]
        {'atoms': 2, 'backend': 'aer'}
    """
    root = _runs_dir(runs_dir)
    RecordStore(root, argument="runs_dir")  # created and test-written now: job ids must not be lost
    backend = parameters.get("backend", "aer")
    # Before the folder exists: an unknown backend or missing credentials leave no half-made run.
    snapshot = calibration_snapshot(backend)
    now = datetime.now(timezone.utc)
    run_id = f"{now:%Y%m%dT%H%M%S}-{experiment}-{secrets.token_hex(3)}"
    path = root / run_id
    path.mkdir()
    # run.json first: a folder with job records always says what they belong to.
    _write_json(path / "run.json", {"run": run_id, "experiment": experiment, "parameters": parameters,
                                    "backend": backend, "created": now.isoformat(timespec="seconds")})
    run = Run(path)
    if snapshot is not None:
        _write_json(path / "calibration.json", snapshot)
    return run


def open_run(run_id: str, *, runs_dir: str | os.PathLike | None = None) -> Run:
    """The stored run ``run_id``.

    Raises:
        ParameterError: no such run in ``runs_dir``.
    """
    root = _runs_dir(runs_dir)
    path = root / str(run_id)
    if not str(run_id) or os.sep in str(run_id) or not (path / "run.json").is_file():
        raise ParameterError(f"Argument `run` must name a run in {str(root)!r}, but {str(run_id)!r} is not one "
                             "(`qcharge runs` lists them).")
    return Run(path)


def list_runs(*, runs_dir: str | os.PathLike | None = None) -> list[dict]:
    """The runs of ``runs_dir``, oldest first: ``run``, ``experiment``, ``backend``, ``created``, ``jobs``, ``fetched``."""
    root = _runs_dir(runs_dir)
    if not root.is_dir():
        return []
    out = []
    for path in sorted(p for p in root.iterdir() if (p / "run.json").is_file()):
        run = Run(path)
        info = run.info
        out.append({"run": run.id, "experiment": info["experiment"], "backend": info["backend"],
                    "created": info["created"], "jobs": len(run.job_records()),
                    "fetched": (path / "result.json").exists()})
    return out


# ---------------------------------------------------------------------------------------------
# the three counts sources handed to the experiments (signature of qcharge.execute.run_counts)
# ---------------------------------------------------------------------------------------------
class _Submitted(Exception):
    """Raised by the submitting counts source once every job is recorded: the analysis waits for fetch."""


def _record_jobs(run: Run, circuits, *, backend, shots, seed: int | None, initial_layout=None) -> list[dict]:
    """Write the circuits of every job and submit the remote ones, each id recorded before the next step.

    Local jobs are recorded (circuits, seed, digest) without running: they could not outlive this process.
    """
    from .execute import get_backend, is_remote_backend, job_chunks, submit_sampler_job

    remote = is_remote_backend(backend)
    device = get_backend(backend) if remote else None  # resolved once (a service call for ibm:)
    records = []
    for k, spec in enumerate(job_chunks(circuits, seed=seed, shots=shots)):
        record = {"first_circuit": spec["first_circuit"], "n_circuits": len(spec["circuits"]), "seed": spec["seed"],
                  "shots": spec["shots"], "digest": spec["digest"], "backend": str(backend),
                  "initial_layout": None if initial_layout is None else [int(q) for q in initial_layout],
                  "circuits_file": run.save_circuits(f"job-{k}", spec["circuits"])}
        if remote:
            # Transpiled with the run's seed, as run_counts transpiles every job: the same routing, so the
            # same measured physical qubits as the readout calibration was built for.
            job, transpiled = submit_sampler_job(spec["circuits"], backend=device, shots=spec["shots"], seed=spec["seed"],
                                                 seed_transpiler=seed, initial_layout=initial_layout)
            record.update(kind="remote", job_id=str(job.job_id()), state="queued",
                          submitted=datetime.now(timezone.utc).isoformat(timespec="seconds"))
            run.save_job(k, record)  # the paid job's id is on disk before anything else happens
            record["transpiled_file"] = run.save_circuits(f"job-{k}-transpiled", transpiled)
        else:
            record.update(kind="local", job_id=None, state="local")
        run.save_job(k, record)
        records.append(record)
    return records


def _counts_of_jobs(run: Run, circuits, *, backend, shots, seed: int | None, job_store=None,
                    initial_layout=None, progress: bool = False, service=None) -> list[dict[str, int]]:
    """The counts of the recorded jobs, for the circuits the experiment rebuilt now.

    The rebuilt circuits must be the recorded ones (same digests, shots, seeds), else the stored
    jobs would be analysed as something they are not.
    """
    from .execute import job_chunks, place_counts, pool_counts, retrieve_counts, run_counts, runtime_service

    records = run.job_records()
    specs = job_chunks(circuits, seed=seed, shots=shots)
    if len(records) < len(specs) and all(
            (s["digest"], s["seed"]) == (r["digest"], r["seed"]) for s, r in zip(specs, records)):
        raise ParameterError(f"Argument `run` must name a completely submitted run, but run {run.id!r} has "
                             f"{len(records)} of its {len(specs)} jobs recorded (its submission was interrupted; "
                             "the recorded jobs are kept in its jobs/ folder).")
    if len(specs) != len(records) or any(
            (s["digest"], s["seed"], s["first_circuit"]) != (r["digest"], r["seed"], r["first_circuit"]) or
            r["shots"] != s["shots"] for s, r in zip(specs, records)):
        raise ParameterError(f"Argument `run` must rebuild the circuits it recorded, but run {run.id!r} rebuilds "
                             "different ones (was it recorded by another qcharge version?).")
    if all(r["kind"] == "local" for r in records):
        # Local jobs cannot be retrieved: rerun them from their stored seeds through run_counts itself,
        # which gives the counts `run` gives.
        counts = run_counts(circuits, backend=backend, shots=shots, seed=seed, job_store=job_store,
                            initial_layout=initial_layout, progress=progress)
        for r in records:
            run.save_job(r["index"], {**r, "state": "done"})
        return counts
    service = service or runtime_service(backend)
    per_job = []
    for spec, r in zip(specs, records):
        per_job.append(retrieve_counts(service, r["job_id"], spec["circuits"]))
        run.save_job(r["index"], {**r, "state": "done"})
    return pool_counts(circuits, place_counts(specs, per_job, sum(len(s["circuits"]) for s in specs)))


def _source(run: Run, mode: str, service=None) -> Callable:
    """A counts source for the experiments: ``'submit'`` (record, then stop), ``'fetch'`` (counts of the
    recorded jobs) or ``'record'`` (record, then fetch in the same process: ``run --runs-dir``)."""

    def source(circuits, *, backend, shots, seed, job_store=None, initial_layout=None, progress=False):
        if mode in ("submit", "record"):
            _record_jobs(run, circuits, backend=backend, shots=shots, seed=seed, initial_layout=initial_layout)
            if mode == "submit":
                raise _Submitted
        return _counts_of_jobs(run, circuits, backend=backend, shots=shots, seed=seed, job_store=job_store,
                               initial_layout=initial_layout, progress=progress, service=service)

    return source


# ---------------------------------------------------------------------------------------------
# the verbs
# ---------------------------------------------------------------------------------------------
def run_parameters(args: argparse.Namespace) -> dict:
    """The experiment's parameters in parsed ``run charge|harvest`` arguments (no functions or output flags)."""
    return {k: v for k, v in vars(args).items() if k not in _NOT_PARAMETERS}


def execute_run(run: Run, args: argparse.Namespace, mode: str, service=None) -> dict | None:
    """Run the experiment of ``args`` (``run charge|harvest`` arguments) with the ledger's counts source.

    ``mode``: ``'submit'`` (record / submit the jobs, then return ``None``), ``'record'`` (the same, then
    wait and analyse) or ``'fetch'`` (analyse the recorded jobs). Returns the record ``run --json``
    prints, stored as ``result.json``.
    """
    verb = _verb(args.experiment)
    got: list[dict] = []
    params = dict(vars(args))
    if mode == "fetch":
        params.update(run.info.get("pinned", {}))
        recorded = {tuple(r["initial_layout"]) for r in run.job_records() if r.get("initial_layout") is not None}
        if "layout" in params and params["layout"] is None and len(recorded) == 1:
            params["layout"] = list(recorded.pop())  # the qubits the jobs ran on, not today's best choice
    inner = argparse.Namespace(**{**params, "counts_source": _source(run, mode, service),
                                  "record_sink": got.append, "runs_dir": None, "json": True})
    try:
        verb(inner)
    except _Submitted:
        pass
    if mode != "fetch":
        run.pin(run_parameters(inner), vars(args))
    if not got:
        return None
    run.save_result(got[0])
    return got[0]


def _verb(experiment: str) -> Callable:
    from .cli import run as run_cli

    if experiment not in ("charge", "harvest"):
        raise ParameterError(f"Argument `experiment` must be 'charge' or 'harvest', but is {experiment!r}.")
    return run_cli.run_charge if experiment == "charge" else run_cli.run_harvest


def submit(args: argparse.Namespace, *, runs_dir: str | os.PathLike | None = None) -> Run:
    """Record a run of ``run charge|harvest ARGS`` and submit its jobs; returns at once (no waiting).

    ``args`` are the parsed arguments of ``run charge|harvest`` (``args.experiment`` names it).
    An exact run (no counts) is analysed at once.
    """
    run = create_run(args.experiment, run_parameters(args), runs_dir=runs_dir)
    execute_run(run, args, "submit")
    return run


def fetch(run_id: str, *, runs_dir: str | os.PathLike | None = None, service=None) -> dict:
    """The analysed record of run ``run_id``: what ``run ... --json`` prints for its parameters.

    Stored after the first fetch (``result.json``). ``service``: the runtime service that holds the
    remote jobs (default: the one of the run's ``ibm:`` backend).
    """
    run = open_run(run_id, runs_dir=runs_dir)
    if (done := run.result) is not None:
        return done
    info = run.info
    args = argparse.Namespace(**info["parameters"])
    return execute_run(run, args, "fetch", service)


def status(run_id: str, *, runs_dir: str | os.PathLike | None = None, service=None) -> dict:
    """``run``, ``state`` and ``jobs`` (id, kind, state per job) of run ``run_id``.

    Remote job states come from the runtime job (``queued | running | done | error``); local jobs
    have state ``'local'`` until fetched (their results lived in the submitting process; fetch reruns
    them from the stored seed). The run's state is ``done`` once fetched, else the least advanced of
    its jobs' (``error`` first).
    """
    from .execute import job_state, retrieve_job, runtime_service

    run = open_run(run_id, runs_dir=runs_dir)
    fetched = run.result is not None
    jobs = []
    for r in run.job_records():
        state = r["state"]
        if r["kind"] == "remote" and state != "done":
            service = service or runtime_service(r["backend"])
            state = job_state(retrieve_job(service, r["job_id"]))
            if state != r["state"]:
                run.save_job(r["index"], {**r, "state": state})
        job = {"job": r["index"], "kind": r["kind"], "job_id": r["job_id"], "state": state,
               "circuits": r["n_circuits"], "shots": r["shots"], "seed": r["seed"]}
        if r["kind"] == "local" and state == "local":
            job["note"] = ("local job: its result lived in the submitting process's memory and cannot be "
                           "retrieved; fetch reruns it from the stored seed (same counts)")
        jobs.append(job)
    states = {j["state"] for j in jobs}
    if fetched:
        state = "done"
    else:
        state = next((s for s in ("error", "queued", "running", "local") if s in states), "done")
    return {"run": run.id, "experiment": run.info["experiment"], "backend": run.info["backend"], "state": state,
            "jobs": jobs}
