"""Jobs that outlive the process: submit without waiting, job states, retrieval by id (for qcharge.ledger)."""

from __future__ import annotations

from typing import Sequence

from qiskit import QuantumCircuit

from ..exceptions import BackendError, ParameterError
from ._common import _backend_name, _is_aer, _pass_manager
from .backends import get_backend
from .samplers import ErrorSuppression, _make_sampler, _open_batch, current_suppression
from .sampling import _check_measured, _counts

_SAME = object()  # seed_transpiler default: the job's seed


def is_remote_backend(backend) -> bool:
    """True for backends whose jobs outlive the submitting process (``'ibm:<name>'``, runtime devices).

    Aer, ``aer-noisy:`` and local testing mode (``fake:``) jobs live in the submitting process's
    memory: they cannot be retrieved later, only rerun from their seed.
    """
    if isinstance(backend, str):
        return backend.partition(":")[0] == "ibm"
    return getattr(backend, "service", None) is not None and not _is_aer(backend)


def submit_sampler_job(chunk: Sequence[QuantumCircuit], *, backend, shots: int, seed: int | None,
                       optimization_level: int = 1, initial_layout: Sequence[int] | None = None,
                       suppression: ErrorSuppression | None = None, seed_transpiler=_SAME):
    """Transpile ``chunk`` for ``backend`` and submit it as one sampler job; returns ``(job, transpiled)`` at once.

    ``seed_transpiler`` (default ``seed``): give the run's seed where ``seed`` is a per-job seed, so the job
    is transpiled as :func:`run_counts` transpiles it (the same routing, the same measured qubits).

    No waiting: the caller records ``job.job_id()`` before anybody asks for the result. A real device
    gets the job in a batch (as :func:`run_counts` does), closed once the job is in.
    """
    be = get_backend(backend)
    suppression = current_suppression() if suppression is None else suppression
    suppression.check(chunk, str(backend) if isinstance(backend, str) else _backend_name(be),
                      runtime=not _is_aer(be) and _backend_name(be) != "custom")
    pm = _pass_manager(be, optimization_level=optimization_level,
                       seed=seed if seed_transpiler is _SAME else seed_transpiler, initial_layout=initial_layout)
    transpiled = pm.run(list(chunk))
    _check_measured(transpiled, chunk)
    batch = _open_batch(be)
    try:
        job = _make_sampler(batch if batch is not None else be, shots, seed, suppression).run(transpiled, shots=shots)
    finally:
        if batch is not None:
            batch.close()  # no new jobs; the submitted one still runs
    return job, transpiled


def runtime_service(backend):
    """The runtime service that holds the jobs of ``backend`` (``'ibm:<name>'`` or a device object)."""
    be = get_backend(backend)
    service = getattr(be, "service", None)
    if service is None:
        raise ParameterError(f"Argument `backend` must be an IBM runtime backend to retrieve jobs, but is {backend!r}.")
    return service


# Runtime job states -> the ledger's four.
_JOB_STATES = {"INITIALIZING": "queued", "QUEUED": "queued", "VALIDATING": "queued", "RUNNING": "running",
               "DONE": "done", "ERROR": "error", "CANCELLED": "error"}


def job_state(job) -> str:
    """``'queued' | 'running' | 'done' | 'error'`` of a runtime job (``RuntimeJobV2.status()``)."""
    status = job.status()
    status = getattr(status, "name", status)
    return _JOB_STATES.get(str(status).upper(), "queued")


def retrieve_job(service, job_id: str):
    """The runtime job ``job_id`` of ``service`` (a ``RuntimeJobV2``); any service failure is one BackendError."""
    try:
        return service.job(job_id)
    except Exception as err:  # the service raises many types; report one
        raise BackendError(f"Could not retrieve job {job_id!r}: {type(err).__name__}: {err}") from err


def retrieve_counts(service, job_id: str, chunk: Sequence[QuantumCircuit]) -> list[dict[str, int]]:
    """Counts of a stored job, retrieved by id from ``service`` (waits for it), one dict per circuit of ``chunk``."""
    job = retrieve_job(service, job_id)
    try:
        result = job.result()
    except Exception as err:  # RuntimeJobFailureError, RuntimeInvalidStateError (cancelled), ...
        raise BackendError(f"Job {job_id!r} has no result: {type(err).__name__}: {err}") from err
    if len(result) != len(chunk):
        raise BackendError(f"Job {job_id!r} has {len(result)} results, but {len(chunk)} circuits were submitted.")
    return [_counts(pub, qc) for pub, qc in zip(result, chunk)]
