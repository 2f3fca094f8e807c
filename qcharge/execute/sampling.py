"""Counts: circuits split into jobs, each job's id recorded before waiting, ensembles pooled."""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit_aer import AerSimulator

from .._checks import check_int
from ..exceptions import ParameterError, QchargeError
# Metadata key of a data circuit: the physical qubits its readout calibration measured (qcharge.experiments).
from ..mitigation import MEASURED_PHYSICAL
from ..records import RecordStore
from ._common import (_active_qubits, _backend_name, _circuits_digest, _flatten, _is_aer, _measured_qubits,
                      _pass_manager, _progress)
from .backends import _fake_device, get_backend
from .capabilities import check_supported
from .noise import _cached_noise_model
from .samplers import ErrorSuppression, _make_sampler, _open_batch, _retrieve_job, current_suppression
from .seeds import job_seed


def job_store_for(job_store: str | os.PathLike | RecordStore) -> RecordStore:
    """The record store for job ids: ``job_store`` itself, or a :class:`~qcharge.records.RecordStore`
    at that folder (created and test-written now, before anything is computed or submitted)."""
    if isinstance(job_store, RecordStore):
        return job_store
    return RecordStore(job_store, argument="job_store")


def _counts(pub_result, circuit: QuantumCircuit) -> dict[str, int]:
    reg = (circuit.metadata or {}).get("counts_register")
    if reg is not None and hasattr(pub_result.data, reg):
        return dict(getattr(pub_result.data, reg).get_counts())
    return dict(pub_result.join_data().get_counts())


def _sampling_backend(backend, noise_model=None):
    """``(be, device)``: the backend :func:`run_counts` transpiles for, and the device whose noise model
    samples the jobs (``aer-noisy:`` and ``custom``; ``None`` otherwise)."""
    kind, _, rest = backend.partition(":") if isinstance(backend, str) else ("", "", "")
    # 'aer-noisy:<fake>': transpile for the fake device and sample each job on its noise model
    # restricted to the qubits the job uses: the same counts as AerSimulator.from_backend (tested),
    # without building the full model (10-20 s for a 156-qubit device).
    # 'custom:...' likewise (its device is a target carrying the flags' errors).
    device = None
    if noise_model is None and kind == "aer-noisy" and rest:
        device = _fake_device(rest)
    elif noise_model is None and kind == "custom":
        device = get_backend(backend)
    be = device if device is not None else get_backend(backend)
    if noise_model is not None:
        if not _is_aer(be):
            raise ParameterError(f"Argument `noise_model` needs an Aer backend, but backend is {_backend_name(be)!r}.")
        be = AerSimulator(noise_model=noise_model)
    return be, device


def measured_physical_qubits(
    circuits: Sequence[QuantumCircuit],
    *,
    backend: str | Any = "aer",
    seed: int | None = 1234,
    optimization_level: int = 1,
    initial_layout: Sequence[int] | None = None,
    noise_model=None,
) -> list[tuple[int, ...]]:
    """Per circuit, the physical qubit measured into each bit of its counts register by :func:`run_counts`.

    The circuits are transpiled exactly as :func:`run_counts` transpiles them (same backend resolution and
    pass manager, ``seed_transpiler=seed``): routing (SWAPs) can move a logical qubit off
    ``initial_layout[q]`` before its measurement, so this is where the readout of a data circuit must be
    calibrated. On ideal Aer (no layout) the physical qubits are the logical ones. Entry ``i`` of each tuple
    is bit ``i`` of the counts register (``metadata['counts_register']``, else all classical bits).

    >>> from qiskit import QuantumCircuit
    >>> qc = QuantumCircuit(2, 2); _ = qc.x(1); _ = qc.measure([0, 1], [1, 0])
    >>> measured_physical_qubits([qc])
    [(1, 0)]
    """
    flat, _ = _flatten(list(circuits))
    optimization_level = check_int("optimization_level", optimization_level, minimum=0, maximum=3)
    be, _ = _sampling_backend(backend, noise_model)
    pm = _pass_manager(be, optimization_level=optimization_level, seed=seed, initial_layout=initial_layout)
    return [_measured_qubits(t, c.metadata) for t, c in zip(pm.run(flat), flat)]


def transpiled_two_qubit_gates(
    circuits: Sequence[QuantumCircuit],
    *,
    backend: str | Any = "aer",
    seed: int | None = 1234,
    optimization_level: int = 1,
    initial_layout: Sequence[int] | None = None,
) -> list[int]:
    """Two-qubit gates of each circuit after the transpile :func:`run_counts` gives it (routing SWAPs included)."""
    from .transpile_stats import _stats

    flat, _ = _flatten(list(circuits))
    optimization_level = check_int("optimization_level", optimization_level, minimum=0, maximum=3)
    be, _ = _sampling_backend(backend)
    pm = _pass_manager(be, optimization_level=optimization_level, seed=seed, initial_layout=initial_layout)
    return [_stats(t)["two_qubit_gates"] for t in pm.run(flat)]


def _check_measured(transpiled: Sequence[QuantumCircuit], chunk: Sequence[QuantumCircuit]) -> None:
    """Circuits that carry ``metadata[MEASURED_PHYSICAL]`` (their readout calibration's qubits) must be
    measured there after this transpile; else the calibration would correct the wrong qubits."""
    for t, c in zip(transpiled, chunk):
        want = (c.metadata or {}).get(MEASURED_PHYSICAL)
        if want is not None and tuple(want) != (got := _measured_qubits(t, c.metadata)):
            raise QchargeError(f"Circuit {c.name!r} was calibrated for readout on physical qubits {list(want)} but is "
                               f"measured on {list(got)} after transpiling: transpile with the same seed and layout.")


def run_counts(
    circuits,
    *,
    backend: str | Any = "aer",
    shots: int | Sequence[int] = 1024,
    seed: int | None = 1234,
    noise_model=None,
    optimization_level: int = 1,
    max_circuits_per_job: int = 100,
    job_store: str | os.PathLike | RecordStore | None = None,
    initial_layout: Sequence[int] | None = None,
    progress: bool = False,
    suppression: ErrorSuppression | None = None,
) -> list[dict[str, int]]:
    """Measurement counts through SamplerV2.

    Circuits are transpiled with :func:`~qiskit.transpiler.generate_preset_pass_manager`
    (``seed_transpiler=seed``), split into jobs of at most ``max_circuits_per_job`` circuits and
    sampled with ``shots`` each. With a ``job_store`` (a folder, or a :class:`~qcharge.records.RecordStore`),
    each job's id is recorded **before** waiting for its result, under the hash of the circuits and
    settings (:func:`qcharge.records.input_hash`); a later call with the same inputs resumes from the
    stored id instead of resubmitting (IBM backends; an Aer job cannot be retrieved and is rerun,
    which the seed makes reproducible). The store is checked writable before anything runs.

    Args:
        circuits: circuits, or lists of circuits (ensembles: their counts are summed).
        backend: see :func:`get_backend`, or a backend object.
        shots: shots per circuit, or one number per flattened circuit (ensemble members in order; a
            weighted ensemble sampled in proportion to its weights). Circuits of one job share their shots
            (the runtime sampler asks that of a job), so a job ends where the shots change.
        seed: ``seed_transpiler``, and the user seed of the simulators' seeds (:mod:`qcharge.execute.seeds`:
            Aer and local testing mode get a hash of it, so nearby seeds give independent shots).
        noise_model: Aer noise model (``backend='aer'`` only).
        optimization_level: preset pass-manager level 0-3.
        max_circuits_per_job: job size.
        job_store: folder (or :class:`~qcharge.records.RecordStore`) of the job records.
        initial_layout: physical qubit of each logical qubit on a device (default: the preset's).
        progress: tqdm bar over jobs.
        suppression: dynamical decoupling / gate twirling of the runtime sampler
            (:class:`~qcharge.execute.samplers.ErrorSuppression`; default: the one of the enclosing
            :func:`~qcharge.execute.samplers.error_suppression` block, off outside one).

    Raises:
        BackendError: the backend lacks an operation the circuits use (:func:`check_supported`),
            before anything is submitted.
        ParameterError: suppression asked of an Aer path, or DD of circuits with control flow.

    Returns:
        One counts dict per element of ``circuits``: keys are bitstrings of the register named by
        ``metadata['counts_register']`` (``'meas'`` for qcharge builders; rightmost character =
        first listed qubit), else of all classical bits.
    """
    flat, spans = _flatten(circuits)
    store = job_store_for(job_store) if job_store is not None else None
    shots = check_shots(shots, len(flat))
    optimization_level = check_int("optimization_level", optimization_level, minimum=0, maximum=3)
    max_circuits_per_job = check_int("max_circuits_per_job", max_circuits_per_job, minimum=1)
    for qc in flat:
        if not any(inst.operation.name == "measure" for inst in qc.data):
            raise ParameterError(
                f"Argument `circuits` must contain measurements for run_counts, but {qc.name!r} has none "
                "(build it with measure=True)."
            )
    be, device = _sampling_backend(backend, noise_model)
    check_supported(flat, be)
    least = shots if isinstance(shots, int) else min(shots)
    if isinstance(backend, str) and backend == "aer" and noise_model is None and 2 ** max(c.num_qubits for c in flat) <= least:
        # Resets force Aer's statevector method to simulate shot by shot (cost ~ shots * 2^n); the
        # density-matrix method applies them as channels once (~ 4^n) and samples every shot from the
        # final state. Measured crossover (benchmarks/README.md): 2^n ~ shots; 15x faster on the
        # 5-qubit harvesting circuits at 2000 shots.
        be = AerSimulator(method="density_matrix")
    pm = _pass_manager(be, optimization_level=optimization_level, seed=seed, initial_layout=initial_layout)
    suppression = current_suppression() if suppression is None else suppression
    suppression.check(flat, backend if isinstance(backend, str) else _backend_name(be),
                      runtime=device is None and not _is_aer(be))
    batch = _open_batch(be) if device is None and not _is_aer(be) else None
    # Hardware: one sampler in the batch for every job. Simulators: one per job (its own seed, below).
    sampler = _make_sampler(batch, least, seed, suppression) if batch is not None else None
    name = _backend_name(be) if device is None else f"aer_simulator_from({device.name})"
    try:
        counts = _sample_jobs(flat, pm, sampler, device, store, be, name, shots, seed, optimization_level,
                              max_circuits_per_job, progress, suppression)
    finally:
        if batch is not None:
            batch.close()  # no new jobs; the submitted ones still run
    return pool_counts(circuits, counts)


def _sample_jobs(flat, pm, sampler, device, store, be, name, shots, seed, optimization_level,
                 max_circuits_per_job, progress, suppression) -> list[dict[str, int]]:
    """Submit (or resume) the jobs of :func:`run_counts`, each id recorded before waiting."""

    per_job: list[list[dict[str, int]]] = []
    specs = job_chunks(flat, seed=seed, max_circuits_per_job=max_circuits_per_job, shots=shots)
    for spec in _progress(specs, progress, len(specs), f"jobs on {name}"):
        chunk, j, seed_j, shots = spec["circuits"], spec["first_circuit"], spec["seed"], spec["shots"]
        inputs = {"record": "sampler job", "backend": name, "shots": shots, "seed": seed_j,
                  "optimization_level": optimization_level, "circuits": spec["digest"]}
        if suppression.enabled:  # (absent when off: the records of runs without it keep their keys)
            inputs["suppression"] = suppression.to_dict()
        job = None
        if store is not None and (rec := store.get(inputs)) is not None:
            job = _retrieve_job(be, rec["job_id"])
            if job is None:
                warnings.warn(
                    f"Stored job {rec['job_id']} cannot be retrieved from {name}; resubmitting.",
                    stacklevel=2,
                )
        if job is None:
            transpiled = pm.run(chunk)
            _check_measured(transpiled, chunk)
            if sampler is not None:
                job = sampler.run(transpiled, shots=shots)
            elif device is not None:
                used = tuple(sorted({q for c in transpiled for q in _active_qubits(c)}))
                job = _make_sampler(AerSimulator(noise_model=_cached_noise_model(device, used)), shots,
                                    seed_j).run(transpiled, shots=shots)
            else:
                job = _make_sampler(be, shots, seed_j, suppression).run(transpiled, shots=shots)
            record = {"job_id": str(job.job_id()), "backend": name, "n_circuits": len(chunk),
                      "shots": shots, "first_circuit": j, "done": False,
                      "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            if store is not None:
                store.save(inputs, record)  # on disk before anybody waits for the result
        result = job.result()
        if store is not None:
            store.save(inputs, {**store.load(inputs), "done": True})
        per_job.append([_counts(pub, qc) for pub, qc in zip(result, chunk)])
    return place_counts(specs, per_job, len(flat))


def check_shots(shots, n_circuits: int) -> int | list[int]:
    """``shots`` of :func:`run_counts`: a positive int, or a list of ``n_circuits`` positive ints (one per flattened circuit)."""
    if isinstance(shots, (list, tuple, np.ndarray)):
        if len(shots) != n_circuits:
            raise ParameterError(f"Argument `shots` must hold one number per circuit ({n_circuits}), but holds {len(shots)}.")
        return [check_int("shots", k, minimum=1) for k in shots]
    return check_int("shots", shots, minimum=1)


def job_chunks(circuits, *, seed: int | None, max_circuits_per_job: int = 100,
               shots: int | Sequence[int] | None = None) -> list[dict]:
    """The jobs :func:`run_counts` makes of ``circuits``: indices (into the flattened circuits), first circuit,
    circuits, seed, digest and shots of each.

    ``shots`` per flattened circuit (or one int for all): the circuits are grouped by their shots (groups in
    order of first appearance, circuits in order within a group), and each group is cut into jobs of at most
    ``max_circuits_per_job``. One int: consecutive chunks, as always. (A weighted ensemble, ``ancilla='enumerate'``,
    interleaves its shot counts setting by setting: grouping keeps it to a few jobs, not one per run of equal shots.)

    :func:`run_counts` runs exactly these jobs, so a job spec recorded here identifies its job. Every
    job gets its own simulator seed: with one seed for all jobs, Aer repeats the same random numbers
    in every job, so equal circuits in different jobs (1-shot coin instances) gave identical outcomes.
    Job 0 keeps ``seed`` itself (single-job runs are unchanged); see :func:`~qcharge.execute.seeds.job_seed`.
    Every job's sampler gets :func:`~qcharge.execute.seeds.simulator_seed` of its job seed.
    """
    flat, _ = _flatten(circuits)
    per = [shots] * len(flat) if shots is None or isinstance(shots, int) else list(check_shots(shots, len(flat)))
    groups: dict = {}
    for i, k in enumerate(per):
        groups.setdefault(k, []).append(i)
    out = []
    for k, members in groups.items():
        for a in range(0, len(members), max_circuits_per_job):
            idx = members[a:a + max_circuits_per_job]
            chunk = [flat[i] for i in idx]
            out.append({"indices": idx, "first_circuit": idx[0], "circuits": chunk, "seed": job_seed(seed, idx[0]),
                        "digest": _circuits_digest(chunk), "shots": k})
    return out


def place_counts(specs: Sequence[dict], per_job: Sequence[Sequence[dict]], n_circuits: int) -> list[dict]:
    """Counts per flattened circuit from the counts of each job of :func:`job_chunks` (its ``indices``)."""
    flat: list = [None] * n_circuits
    for spec, counts in zip(specs, per_job):
        for i, c in zip(spec["indices"], counts):
            flat[i] = c
    return flat


def pool_counts(circuits, flat_counts: Sequence[dict[str, int]]) -> list[dict[str, int]]:
    """Counts per element of ``circuits`` from counts per flattened circuit (ensembles summed, as :func:`run_counts`)."""
    _, spans = _flatten(circuits)
    out = []
    for a, b in spans:
        total: dict[str, int] = {}
        for c in flat_counts[a:b]:
            for k, v in c.items():
                total[k] = total.get(k, 0) + int(v)
        out.append(total)
    return out
