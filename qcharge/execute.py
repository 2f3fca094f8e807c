r"""Run qcharge circuits: exact density matrices on Aer, counts through SamplerV2 (Aer or IBM).

This is the only module that imports ``qiskit_aer`` (a core dependency) and
``qiskit_ibm_runtime`` (optional extra ``qcharge[ibm]``, imported lazily inside functions).

Save points. Builders mark the places where a reduced state is wanted with labelled barriers
(:func:`qcharge.circuits.collisions.append_save_marker`). :func:`prepare_for_aer` swaps each
marker for Aer's ``save_density_matrix`` on the marker's qubits, in the marker's qubit order.

Returned state order. Aer returns a saved state little-endian in the listed qubits; every state
returned here is converted to **QuTiP order of the listed qubits**: the first listed qubit is the
left-most tensor factor (for a charging circuit, atom 0 left-most, exactly as
:func:`qcharge.states.thermal_state` and the NumPy twin).

Ensembles. Wherever a list of circuits is accepted, an element may itself be a list of circuits
(classical-coin instances, Poisson instances): its results are averaged (states) or summed
(counts) with equal weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit.library import RXXGate, RYYGate, StatePreparation, UnitaryGate
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.library import SaveDensityMatrix
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from ._checks import check_int
from .circuits.collisions import save_marker_label
from .exceptions import BackendError, ParameterError
from .states import from_qiskit_order

__all__ = [
    "DEFAULT_MEASURE_SHOTS",
    "get_backend",
    "fake_backend",
    "prepare_for_aer",
    "run_density_matrix",
    "run_counts",
    "resources",
]

# Shots for circuits whose saved states depend on mid-circuit measurements (ancilla='measure'):
# the averaged state then carries a statistical error ~ 1/sqrt(shots) (PHYSICS 5.3: 2000 shots
# -> trace distance 4.6e-3).
DEFAULT_MEASURE_SHOTS = 2000

# Circuits per Aer call when a progress bar is requested (one update per chunk).
_AER_CHUNK = 32

_BACKEND_FORMS = "'aer', 'aer-noisy:<fake backend, e.g. fake_sherbrooke>', 'ibm:<backend name>'"


# ---------------------------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------------------------
def fake_backend(name: str):
    """A ``qiskit_ibm_runtime.fake_provider`` backend by name (``'sherbrooke'``, ``'fake_sherbrooke'``, ``'FakeSherbrooke'``)."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise BackendError(
            "Fake IBM backends need qiskit-ibm-runtime: pip install 'qcharge[ibm]'."
        ) from err
    want = name.lower().replace("_", "").replace("-", "")
    want = want if want.startswith("fake") else "fake" + want
    classes = {n.lower(): n for n in dir(fake_provider) if n.startswith("Fake") and not n.endswith("V1")}
    if want not in classes and want + "v2" in classes:
        want += "v2"
    if want not in classes:
        close = sorted(n for n in classes.values() if want[4:7] in n.lower())[:10]
        raise ParameterError(
            f"Argument `backend` names an unknown fake backend {name!r}; e.g. {close or ['FakeSherbrooke', 'FakeTorino']}."
        )
    return getattr(fake_provider, classes[want])()


def get_backend(name: str | Any = "aer"):
    """Resolve a backend specification.

    Args:
        name: ``'aer'`` (ideal :class:`~qiskit_aer.AerSimulator`), ``'aer-noisy:<fake>'`` (Aer with
            the noise model and target of a ``qiskit_ibm_runtime`` fake backend), ``'ibm:<name>'``
            (IBM Quantum; needs ``qiskit-ibm-runtime`` and the environment variable
            ``QISKIT_IBM_TOKEN``; optional ``QISKIT_IBM_CHANNEL``, ``QISKIT_IBM_INSTANCE``), or a
            backend object (returned unchanged).

    Raises:
        ParameterError: malformed specification.
        BackendError: the backend cannot be reached (missing token or package, service error).
    """
    if not isinstance(name, str):
        if hasattr(name, "run") or hasattr(name, "target"):
            return name
        raise ParameterError(f"Argument `backend` must be one of {_BACKEND_FORMS} or a backend, but is {name!r}.")
    kind, _, rest = name.partition(":")
    if kind == "aer" and not rest:
        return AerSimulator()
    if kind == "aer-noisy" and rest:
        return AerSimulator.from_backend(fake_backend(rest))
    if kind == "ibm" and rest:
        token = os.environ.get("QISKIT_IBM_TOKEN")
        if not token:
            raise BackendError(
                f"Backend {name!r} needs IBM Quantum credentials: set the environment variable "
                "QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE if your account has several instances)."
            )
        try:
            from qiskit_ibm_runtime import QiskitRuntimeService
        except ImportError as err:
            raise BackendError(f"Backend {name!r} needs qiskit-ibm-runtime: pip install 'qcharge[ibm]'.") from err
        try:
            service = QiskitRuntimeService(
                channel=os.environ.get("QISKIT_IBM_CHANNEL", "ibm_quantum_platform"),
                token=token,
                instance=os.environ.get("QISKIT_IBM_INSTANCE"),
            )
            return service.backend(rest)
        except Exception as err:  # the service raises many types; report one
            raise BackendError(f"Could not get IBM backend {rest!r}: {type(err).__name__}: {err}") from err
    raise ParameterError(f"Argument `backend` must be one of {_BACKEND_FORMS}, but is {name!r}.")


def _is_aer(backend) -> bool:
    return isinstance(backend, AerSimulator)


def _backend_name(backend) -> str:
    name = getattr(backend, "name", None)
    return name() if callable(name) else str(name)


# ---------------------------------------------------------------------------------------------
# density matrices
# ---------------------------------------------------------------------------------------------
def _householder_preparation(vec: np.ndarray) -> np.ndarray:
    r"""Unitary U with :math:`U|0\rangle = v` (a Householder reflection times a phase)."""
    vec = np.asarray(vec, dtype=complex)
    vec = vec / np.linalg.norm(vec)
    phase = np.exp(1j * np.angle(vec[0])) if abs(vec[0]) > 0 else 1.0
    w = vec.copy()
    w[0] -= phase  # H = 1 - 2ww^dag/|w|^2 maps v -> phase*e0 (v0*conj(phase) is real >= 0)
    nw = np.vdot(w, w).real
    dim = len(vec)
    if nw < 1e-30:
        return phase * np.eye(dim, dtype=complex)
    h = np.eye(dim, dtype=complex) - 2.0 * np.outer(w, w.conj()) / nw
    return phase * h  # H is Hermitian and H v = phase e0 => phase * H e0 = v


def prepare_for_aer(circuit: QuantumCircuit, simulator: AerSimulator | None = None, *, seed: int | None = None) -> QuantumCircuit:
    """Copy of ``circuit`` ready for Aer's density-matrix method.

    * save markers -> ``save_density_matrix`` (same qubits, same order, same label);
      without markers, the state of all qubits is saved at the end as ``'final'``;
    * ``XXPlusYYGate(phi, beta=0)`` -> ``RXX(phi/2) RYY(phi/2)`` (exact, both native in Aer);
    * ``StatePreparation(v)`` (acting on |0>) -> a ``UnitaryGate`` mapping |0> to v;
    * anything still not native is transpiled at optimization level 0 (exact decompositions).
    These rewrites avoid a generic transpile, whose first call costs ~2 s.
    """
    simulator = simulator or AerSimulator(method="density_matrix")
    out = circuit.copy_empty_like()
    has_marker = False
    for inst in circuit.data:
        op = inst.operation
        label = save_marker_label(op)
        if label is not None:
            has_marker = True
            out.append(SaveDensityMatrix(len(inst.qubits), label=label), inst.qubits)
        elif op.name == "xx_plus_yy" and float(op.params[1]) == 0.0:
            half = float(op.params[0]) / 2.0
            out.append(RXXGate(half), inst.qubits)
            out.append(RYYGate(half), inst.qubits)
        elif isinstance(op, StatePreparation) and len(op.params) == 2 ** op.num_qubits:
            out.append(UnitaryGate(_householder_preparation(np.asarray(op.params, dtype=complex)), check_input=False),
                       inst.qubits)
        else:
            out._append(inst)
    if not has_marker:
        out.append(SaveDensityMatrix(out.num_qubits, label="final"), out.qubits)
    native = set(simulator.configuration().basis_gates) | {"barrier", "measure"}
    if any(inst.operation.name not in native for inst in out.data):
        out = transpile(out, simulator, optimization_level=0, seed_transpiler=seed)
    return out


def _needs_shots(circuit: QuantumCircuit) -> bool:
    """True if a measurement precedes a save: the saved state then depends on the sampled outcome."""
    last_save = max((i for i, inst in enumerate(circuit.data) if inst.operation.name == "save_density_matrix"),
                    default=-1)
    return any(inst.operation.name == "measure" for inst in circuit.data[:last_save])


def _flatten(items) -> tuple[list[QuantumCircuit], list[tuple[int, int]]]:
    if isinstance(items, QuantumCircuit):
        items = [items]
    flat, spans = [], []
    for item in items:
        group = [item] if isinstance(item, QuantumCircuit) else list(item)
        if not group or not all(isinstance(c, QuantumCircuit) for c in group):
            raise ParameterError(
                "Argument `circuits` must be a QuantumCircuit or a list of circuits / lists of circuits, "
                f"but contains {item!r}."
            )
        spans.append((len(flat), len(flat) + len(group)))
        flat.extend(group)
    return flat, spans


def _progress(iterable, enabled: bool, total: int, desc: str):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc)


def run_density_matrix(
    circuits,
    *,
    seed: int | None = 1234,
    shots: int | None = None,
    progress: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Exact reduced density matrices at every save point, from Aer's density-matrix method.

    Resets, CX-purified ancillas and unitaries are applied as exact channels, so circuits
    without mid-circuit measurement run with one shot and give the exact state (round-off only).
    Circuits whose saves follow a mid-circuit measurement (``ancilla='measure'``) are run with
    ``shots`` (default :data:`DEFAULT_MEASURE_SHOTS`) and return the shot-averaged state.

    Args:
        circuits: a circuit, or a list whose elements are circuits or lists of circuits
            (ensembles, averaged with equal weights).
        seed: Aer ``seed_simulator`` (only matters for mid-circuit measurements).
        shots: shots for measurement-dependent circuits (deterministic ones always use 1).
        progress: show a tqdm bar.

    Returns:
        One dict per element: save label -> density matrix in QuTiP order of the saved qubits
        (first listed qubit left-most).
    """
    flat, spans = _flatten(circuits)
    sim = AerSimulator(method="density_matrix")
    prepared = [prepare_for_aer(c, sim, seed=seed) for c in flat]
    n_meas = DEFAULT_MEASURE_SHOTS if shots is None else check_int("shots", shots, minimum=1)
    shot_list = [n_meas if _needs_shots(c) else 1 for c in prepared]
    results: list[dict[str, np.ndarray] | None] = [None] * len(flat)
    order = sorted(range(len(flat)), key=lambda i: shot_list[i])
    chunks = []
    for s in sorted(set(shot_list)):
        idx = [i for i in order if shot_list[i] == s]
        size = _AER_CHUNK if progress else len(idx)
        chunks += [(s, idx[j:j + size]) for j in range(0, len(idx), size)]
    for s, idx in _progress(chunks, progress, len(chunks), "aer density matrix"):
        res = sim.run([prepared[i] for i in idx], shots=s, seed_simulator=seed).result()
        if not res.success:
            raise BackendError(f"Aer density-matrix run failed: {res.status}")
        for k, i in enumerate(idx):
            data = res.data(k)
            results[i] = {
                label: from_qiskit_order(np.asarray(data[label]))
                for label in (inst.operation.label for inst in prepared[i].data
                              if inst.operation.name == "save_density_matrix")
            }
    out = []
    for a, b in spans:
        if b - a == 1:
            out.append(results[a])
            continue
        labels = results[a].keys()
        out.append({lab: sum(results[i][lab] for i in range(a, b)) / (b - a) for lab in labels})
    return out


# ---------------------------------------------------------------------------------------------
# counts
# ---------------------------------------------------------------------------------------------
def _fingerprint(circuits: Sequence[QuantumCircuit], extra: str) -> str:
    """Content hash of circuits (gate names, qubits, parameters) + run settings: a job-store key."""
    h = hashlib.sha256(extra.encode())
    for qc in circuits:
        h.update(f"|{qc.num_qubits},{qc.num_clbits}|".encode())
        for inst in qc.data:
            op = inst.operation
            h.update(op.name.encode())
            h.update(str([qc.find_bit(q).index for q in inst.qubits]).encode())
            h.update(str([qc.find_bit(c).index for c in inst.clbits]).encode())
            for p in op.params:
                h.update(np.asarray(p).tobytes() if isinstance(p, np.ndarray) else repr(p).encode())
    return h.hexdigest()[:32]


class _JobStore:
    """JSON file mapping a job key to the submitted job id; written atomically before waiting."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.data = {"version": 1, "jobs": {}}
        if self.path.exists():
            try:
                self.data = json.loads(self.path.read_text())
            except json.JSONDecodeError as err:
                raise BackendError(f"Job store {self.path} is not valid JSON: {err}") from err
            self.data.setdefault("jobs", {})

    def get(self, key: str) -> dict | None:
        return self.data["jobs"].get(key)

    def put(self, key: str, **record) -> None:
        self.data["jobs"].setdefault(key, {}).update(record)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".jobstore", suffix=".json")
        with os.fdopen(fd, "w") as fh:
            json.dump(self.data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)  # atomic: a crash leaves the old or the new file, never half


def _make_sampler(backend, shots: int, seed: int | None):
    """SamplerV2 for ``backend`` (Aer's for Aer simulators, IBM Runtime's otherwise)."""
    if _is_aer(backend):
        return AerSamplerV2.from_backend(backend, default_shots=shots, seed=seed)
    try:
        from qiskit_ibm_runtime import SamplerV2 as RuntimeSamplerV2
    except ImportError as err:
        raise BackendError("Non-Aer backends need qiskit-ibm-runtime: pip install 'qcharge[ibm]'.") from err
    return RuntimeSamplerV2(mode=backend)


def _retrieve_job(backend, job_id: str):
    """A previously submitted job by id, or ``None`` when the backend cannot retrieve jobs (Aer)."""
    service = getattr(backend, "service", None)
    if service is None or _is_aer(backend):
        return None
    try:
        return service.job(job_id)
    except Exception as err:
        raise BackendError(f"Could not retrieve stored job {job_id!r}: {type(err).__name__}: {err}") from err


def _counts(pub_result, circuit: QuantumCircuit) -> dict[str, int]:
    reg = (circuit.metadata or {}).get("counts_register")
    if reg is not None and hasattr(pub_result.data, reg):
        return dict(getattr(pub_result.data, reg).get_counts())
    return dict(pub_result.join_data().get_counts())


def run_counts(
    circuits,
    *,
    backend: str | Any = "aer",
    shots: int = 1024,
    seed: int | None = 1234,
    noise_model=None,
    optimization_level: int = 1,
    max_circuits_per_job: int = 100,
    job_store: str | os.PathLike | None = None,
    progress: bool = False,
) -> list[dict[str, int]]:
    """Measurement counts through SamplerV2.

    Circuits are transpiled with :func:`~qiskit.transpiler.generate_preset_pass_manager`
    (``seed_transpiler=seed``), split into jobs of at most ``max_circuits_per_job`` circuits and
    sampled with ``shots`` each. With a ``job_store`` (a JSON file), each job's id is written to disk
    **before** waiting for its result, under a key hashing the circuits and settings; a later call with
    the same inputs resumes from the stored id instead of resubmitting (IBM backends; an Aer job
    cannot be retrieved and is rerun, which the seed makes reproducible).

    Args:
        circuits: circuits, or lists of circuits (ensembles: their counts are summed).
        backend: see :func:`get_backend`, or a backend object.
        shots: shots per circuit.
        seed: ``seed_simulator`` (Aer) and ``seed_transpiler``.
        noise_model: Aer noise model (``backend='aer'`` only).
        optimization_level: preset pass-manager level 0-3.
        max_circuits_per_job: job size.
        job_store: path of the JSON job store.
        progress: tqdm bar over jobs.

    Returns:
        One counts dict per element of ``circuits``: keys are bitstrings of the register named by
        ``metadata['counts_register']`` (``'meas'`` for qcharge builders; rightmost character =
        first listed qubit), else of all classical bits.
    """
    flat, spans = _flatten(circuits)
    shots = check_int("shots", shots, minimum=1)
    optimization_level = check_int("optimization_level", optimization_level, minimum=0, maximum=3)
    max_circuits_per_job = check_int("max_circuits_per_job", max_circuits_per_job, minimum=1)
    for qc in flat:
        if not any(inst.operation.name == "measure" for inst in qc.data):
            raise ParameterError(
                f"Argument `circuits` must contain measurements for run_counts, but {qc.name!r} has none "
                "(build it with measure=True)."
            )
    be = get_backend(backend)
    if isinstance(backend, str) and backend == "aer" and noise_model is None and 2 ** max(c.num_qubits for c in flat) <= shots:
        # Resets force Aer's statevector method to simulate shot by shot (cost ~ shots * 2^n); the
        # density-matrix method applies them as channels once (~ 4^n) and samples every shot from the
        # final state. Measured crossover (benchmarks/README.md): 2^n ~ shots; 15x faster on the
        # 5-qubit harvesting circuits at 2000 shots.
        be = AerSimulator(method="density_matrix")
    if noise_model is not None:
        if not _is_aer(be):
            raise ParameterError(f"Argument `noise_model` needs an Aer backend, but backend is {_backend_name(be)!r}.")
        be = AerSimulator(noise_model=noise_model)
    pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=be, seed_transpiler=seed)
    store = _JobStore(job_store) if job_store is not None else None
    settings = f"{_backend_name(be)}|{shots}|{seed}|{optimization_level}"

    counts: list[dict[str, int]] = []
    starts = list(range(0, len(flat), max_circuits_per_job))
    for j in _progress(starts, progress, len(starts), f"jobs on {_backend_name(be)}"):
        chunk = flat[j:j + max_circuits_per_job]
        # Every job gets its own simulator seed: with one seed for all jobs, Aer repeats the same
        # random numbers in every job, so equal circuits in different jobs (1-shot coin instances)
        # gave identical outcomes. Job 0 keeps `seed` itself (single-job runs are unchanged).
        job_seed = seed if seed is None or j == 0 else int(np.random.SeedSequence([seed, j]).generate_state(1)[0])
        sampler = _make_sampler(be, shots, job_seed)
        key = _fingerprint(chunk, settings if j == 0 else f"{settings}|job{j}")
        job = None
        if store is not None and (rec := store.get(key)) is not None:
            job = _retrieve_job(be, rec["job_id"])
            if job is None:
                warnings.warn(
                    f"Stored job {rec['job_id']} cannot be retrieved from {_backend_name(be)}; resubmitting.",
                    stacklevel=2,
                )
        if job is None:
            job = sampler.run(pm.run(chunk), shots=shots)
            if store is not None:
                store.put(key, job_id=str(job.job_id()), backend=_backend_name(be), n_circuits=len(chunk),
                          shots=shots, first_circuit=j, done=False,
                          submitted=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        result = job.result()
        if store is not None:
            store.put(key, done=True)
        counts += [_counts(pub, qc) for pub, qc in zip(result, chunk)]

    out = []
    for a, b in spans:
        total: dict[str, int] = {}
        for c in counts[a:b]:
            for k, v in c.items():
                total[k] = total.get(k, 0) + int(v)
        out.append(total)
    return out


# ---------------------------------------------------------------------------------------------
# resources
# ---------------------------------------------------------------------------------------------
def _stats(qc: QuantumCircuit) -> dict:
    def is_gate(inst) -> bool:
        return not getattr(inst.operation, "_directive", False) and inst.operation.name not in (
            "measure", "reset", "delay", "barrier")

    two = sum(1 for inst in qc.data if is_gate(inst) and len(inst.qubits) == 2)
    multi = sum(1 for inst in qc.data if is_gate(inst) and len(inst.qubits) > 2)
    active = {qc.find_bit(q).index for inst in qc.data if inst.operation.name not in ("barrier", "delay")
              for q in inst.qubits}
    return {
        "qubits": len(active),
        "depth": qc.depth(),
        "two_qubit_gates": two,
        "multi_qubit_gates": multi,
        "two_qubit_depth": qc.depth(lambda inst: is_gate(inst) and len(inst.qubits) >= 2),
        "ops": {k: int(v) for k, v in qc.count_ops().items()},
    }


def resources(circuit: QuantumCircuit, backend: str | Any | None = None, *, optimization_level: int = 1,
              seed: int = 0) -> dict:
    """Width, depth and two-qubit gate count before and after transpiling.

    ``backend=None`` transpiles to the logical basis ``['cx', 'u']`` without connectivity (the
    gate budget of PHYSICS 5.3); otherwise to the backend's target (e.g. ``'aer-noisy:fake_sherbrooke'``
    or a fake backend object), including routing. ``qubits`` counts qubits that carry operations.
    """
    before = _stats(circuit)
    t0 = time.perf_counter()
    if backend is None:
        pm = generate_preset_pass_manager(optimization_level=optimization_level, basis_gates=["cx", "u"],
                                          seed_transpiler=seed)
        name = "logical cx+u"
    else:
        be = get_backend(backend)
        pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=be, seed_transpiler=seed)
        name = _backend_name(be)
    after = _stats(pm.run(circuit))
    return {
        "backend": name,
        **{k: v for k, v in before.items()},
        **{f"transpiled_{k}": v for k, v in after.items()},
        "transpile_seconds": time.perf_counter() - t0,
    }
