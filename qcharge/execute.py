r"""Run qcharge circuits: exact density matrices on Aer, counts through a sampler (Aer or IBM Runtime).

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

Noisy backends. An exact run (:func:`run_density_matrix`) on ``'aer-noisy:<fake>'`` or a device
object is the exact *noisy* state: the circuit transpiled to the device, on the device's noise
model restricted to the qubits it uses (:func:`restricted_noise_model`); it is never replaced by
the ideal simulator.

Job records. :func:`run_counts` records each job id in a :class:`qcharge.records.RecordStore`
(keyed by the hash of circuits and settings) before waiting for the result.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.providers import BackendV2
from qiskit.circuit.library import RXXGate, RYYGate, StatePreparation, UnitaryGate
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator
from qiskit_aer.library import SaveDensityMatrix
from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from ._checks import check_int, check_real
from .circuits.collisions import append_save_marker, save_marker_label
from .exceptions import BackendError, ParameterError
from .records import RecordStore
from .states import from_qiskit_order

__all__ = [
    "DEFAULT_MEASURE_SHOTS",
    "get_backend",
    "fake_backend",
    "CustomNoise",
    "describe_backend",
    "list_backends",
    "circuit_features",
    "check_supported",
    "layout_of",
    "choose_layout",
    "prepare_for_aer",
    "run_density_matrix",
    "restricted_noise_model",
    "MAX_DENSITY_MATRIX_BYTES",
    "density_matrix_bytes",
    "run_counts",
    "job_store_for",
    "resources",
]

# Shots for circuits whose saved states depend on mid-circuit measurements (ancilla='measure'):
# the averaged state then carries a statistical error ~ 1/sqrt(shots) (docs/physics.md §5.3: 2000 shots
# -> trace distance 4.6e-3).
DEFAULT_MEASURE_SHOTS = 2000

# Circuits per Aer call when a progress bar is requested (one update per chunk).
_AER_CHUNK = 32

_BACKEND_FORMS = ("'aer', 'aer-noisy:<fake>', 'fake:<fake>' (e.g. fake_fez), 'ibm:<backend name>' or "
                  "'custom:two_qubit_error=P,one_qubit_error=P,readout_error=P,t1=T1,t2=T2'")


# ---------------------------------------------------------------------------------------------
# backends
# ---------------------------------------------------------------------------------------------
def _fake_classes() -> dict[str, str]:
    """lower-case class name -> class name of every BackendV2 fake device of ``qiskit_ibm_runtime``."""
    try:
        from qiskit_ibm_runtime import fake_provider
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise BackendError(
            "Fake IBM backends need qiskit-ibm-runtime: pip install 'qcharge[ibm]'."
        ) from err
    return {n.lower(): n for n in dir(fake_provider)
            if n.startswith("Fake") and not n.endswith("V1") and not n.startswith("FakeProvider")}


def fake_backend(name: str):
    """A ``qiskit_ibm_runtime.fake_provider`` backend by name (``'sherbrooke'``, ``'fake_sherbrooke'``, ``'FakeSherbrooke'``)."""
    from qiskit_ibm_runtime import fake_provider

    classes = _fake_classes()
    want = name.lower().replace("_", "").replace("-", "")
    want = want if want.startswith("fake") else "fake" + want
    if want not in classes and want + "v2" in classes:
        want += "v2"
    if want not in classes:
        close = sorted(n for n in classes.values() if want[4:7] in n.lower())[:10]
        raise ParameterError(
            f"Argument `backend` names an unknown fake backend {name!r}; e.g. {close or ['FakeSherbrooke', 'FakeTorino']}."
        )
    return getattr(fake_provider, classes[want])()


@dataclass(frozen=True)
class CustomNoise:
    r"""A noise model from flags on an all-to-all device (``--backend custom``).

    Gate errors are the average gate infidelities the target carries (Aer's
    ``basic_device_gate_errors`` turns each into depolarising noise on top of the thermal relaxation
    that T1, T2 and the gate duration give); ``readout_error`` is a symmetric bit flip
    :math:`P(1|0) = P(0|1) = p`. Durations are Heron-like (1q 32 ns, cz 68 ns, measure 1.56 µs) so
    that T1/T2 (µs; ``inf`` = none) act at realistic strength. Basis ``cz, sx, x, rz``, with reset and
    control flow.

    Example:
        >>> CustomNoise.from_spec(CustomNoise(two_qubit_error=0.01).spec()) == CustomNoise(two_qubit_error=0.01)
        True
    """

    two_qubit_error: float = 0.0
    one_qubit_error: float = 0.0
    readout_error: float = 0.0
    t1: float = math.inf
    t2: float = math.inf
    qubits: int = 8

    def __post_init__(self) -> None:
        for name in ("two_qubit_error", "one_qubit_error", "readout_error"):
            check_real(name, getattr(self, name), minimum=0.0, maximum=0.5)
        for name in ("t1", "t2"):
            check_real(name, getattr(self, name), minimum=0.0, strict_min=True, allow_inf=True)
        if self.t2 > 2 * self.t1:
            raise ParameterError(f"Argument `t2` must be <= 2 t1 = {2 * self.t1} µs (physical), but is {self.t2}.")
        check_int("qubits", self.qubits, minimum=1, maximum=16)

    def spec(self) -> str:
        """The backend string: ``custom:key=value,...`` (every field, so equal noise gives equal strings)."""
        return "custom:" + ",".join(f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self))

    @classmethod
    def from_spec(cls, spec: str) -> CustomNoise:
        """Parse ``custom`` or ``custom:key=value,...`` (keys: the field names)."""
        kind, _, rest = spec.partition(":")
        if kind != "custom":
            raise ParameterError(f"Argument `backend` must start with 'custom', but is {spec!r}.")
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for item in filter(None, rest.split(",")):
            key, eq, value = item.partition("=")
            if key not in fields or not eq:
                raise ParameterError(f"Argument `backend` must list key=value with keys {list(fields)}, but has {item!r}.")
            try:
                values[key] = int(value) if key == "qubits" else float(value)
            except ValueError:
                raise ParameterError(f"Argument `backend` must give a number for {key}, but has {value!r}.") from None
        return cls(**values)


class _CustomDevice(BackendV2):
    """All-to-all device whose target carries the errors of a :class:`CustomNoise` (no network, no calibration)."""

    _ONE_Q_NS, _TWO_Q_NS, _MEAS_NS = 32e-9, 68e-9, 1.56e-6

    def __init__(self, noise: CustomNoise):
        super().__init__(name="custom", description=noise.spec())
        from qiskit.circuit import IfElseOp, Measure, Parameter, Reset
        from qiskit.circuit.library import CZGate, RZGate, SXGate, XGate
        from qiskit.providers import QubitProperties
        from qiskit.transpiler import InstructionProperties, Target

        self.noise = noise
        n = noise.qubits
        t1 = None if math.isinf(noise.t1) else noise.t1 * 1e-6
        t2 = None if math.isinf(noise.t2) else noise.t2 * 1e-6
        target = Target(num_qubits=n, dt=2.22e-10, qubit_properties=[QubitProperties(t1=t1, t2=t2) for _ in range(n)])
        one = {(q,): InstructionProperties(duration=self._ONE_Q_NS, error=noise.one_qubit_error) for q in range(n)}
        for gate in (SXGate(), XGate()):
            target.add_instruction(gate, dict(one))
        target.add_instruction(RZGate(Parameter("phi")), {(q,): InstructionProperties(duration=0.0, error=0.0)
                                                          for q in range(n)})
        target.add_instruction(CZGate(), {(a, b): InstructionProperties(duration=self._TWO_Q_NS,
                                                                         error=noise.two_qubit_error)
                                          for a in range(n) for b in range(n) if a != b})
        target.add_instruction(Measure(), {(q,): InstructionProperties(duration=self._MEAS_NS, error=noise.readout_error)
                                           for q in range(n)})
        target.add_instruction(Reset(), {(q,): InstructionProperties(duration=self._MEAS_NS, error=0.0)
                                         for q in range(n)})
        target.add_instruction(IfElseOp, name="if_else")
        self._target = target

    @property
    def target(self):
        return self._target

    @property
    def max_circuits(self):
        return None

    @classmethod
    def _default_options(cls):
        from qiskit.providers import Options

        return Options(shots=1024)

    def run(self, run_input, **options):
        """Run on Aer with this device's noise model (the whole device: it has at most 16 qubits)."""
        return AerSimulator(noise_model=restricted_noise_model(self, range(self.noise.qubits))).run(run_input, **options)


@functools.lru_cache(maxsize=8)
def _custom_device(spec: str) -> _CustomDevice:
    return _CustomDevice(CustomNoise.from_spec(spec))


def _ibm_backend(name: str):
    """A real device through the runtime's saved account or its environment variables
    (``QISKIT_IBM_TOKEN``, optional ``QISKIT_IBM_CHANNEL``, ``QISKIT_IBM_INSTANCE``)."""
    try:
        from qiskit_ibm_runtime import QiskitRuntimeService
    except ImportError as err:
        raise BackendError(f"Backend 'ibm:{name}' needs qiskit-ibm-runtime: pip install 'qcharge[ibm]'.") from err
    # Checked here, without the network: otherwise the service raises a long multi-line error.
    if not os.environ.get("QISKIT_IBM_TOKEN") and not _saved_accounts():
        raise BackendError(
            f"Backend 'ibm:{name}' needs IBM Quantum credentials: save an account with "
            "QiskitRuntimeService.save_account(...) or set QISKIT_IBM_TOKEN (and QISKIT_IBM_INSTANCE)."
        )
    try:
        return QiskitRuntimeService().backend(name)
    except Exception as err:  # the service raises many types; report one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise BackendError(f"Could not get IBM backend {name!r}: {type(err).__name__}: {first}") from err


def _saved_accounts() -> dict:
    from qiskit_ibm_runtime import QiskitRuntimeService

    try:
        return QiskitRuntimeService.saved_accounts()
    except Exception:  # an unreadable or absent account file: no saved account
        return {}


def get_backend(name: str | Any = "aer"):
    """Resolve a backend specification.

    Args:
        name: ``'aer'`` (ideal :class:`~qiskit_aer.AerSimulator`); ``'aer-noisy:<fake>'`` (Aer with the
            noise model and target of a ``qiskit_ibm_runtime`` fake backend); ``'fake:<fake>'`` (the
            fake device itself, sampled by the runtime's local testing mode: the hardware code path);
            ``'ibm:<name>'`` (IBM Quantum: saved account or ``QISKIT_IBM_TOKEN``); ``'custom:...'``
            (:class:`CustomNoise` on an all-to-all device); or a backend object (returned unchanged).

    Raises:
        ParameterError: malformed specification.
        BackendError: the backend cannot be reached (missing credentials or package, service error).
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
    if kind == "fake" and rest:
        return _fake_device(rest)
    if kind == "custom":
        return _custom_device(CustomNoise.from_spec(name).spec())
    if kind == "ibm" and rest:
        return _ibm_backend(rest)
    raise ParameterError(f"Argument `backend` must be one of {_BACKEND_FORMS}, but is {name!r}.")


def _is_aer(backend) -> bool:
    return isinstance(backend, AerSimulator)


def _backend_name(backend) -> str:
    name = getattr(backend, "name", None)
    return name() if callable(name) else str(name)


def _two_qubit_gate(target) -> str | None:
    names = [n for n in target.operation_names
             if not isinstance(target.operation_from_name(n), type) and target.operation_from_name(n).num_qubits == 2]
    return names[0] if len(names) == 1 else ("/".join(sorted(names)) or None)


def _median_error(target, names) -> float | None:
    errors = [p.error for n in names if n in target.operation_names for p in target[n].values()
              if p is not None and p.error is not None]
    return float(np.median(errors)) if errors else None


def describe_backend(backend) -> dict:
    """``name``, ``qubits``, ``processor``, ``two_qubit_gate``, median 2q and readout error, ``reset``.

    Example:
        >>> d = describe_backend(fake_backend("manila"))
        >>> d["name"], d["qubits"], d["two_qubit_gate"], d["reset"]
        ('fake_manila', 5, 'cx', True)
    """
    target = backend.target
    cfg = backend.configuration() if hasattr(backend, "configuration") else None
    proc = getattr(cfg, "processor_type", None) or {}
    processor = " r".join(str(proc[k]) for k in ("family", "revision") if k in proc) or None
    gate = _two_qubit_gate(target)
    return {
        "name": _backend_name(backend),
        "qubits": int(target.num_qubits),
        "processor": processor,
        "two_qubit_gate": gate,
        "median_two_qubit_error": _median_error(target, (gate or "").split("/")),
        "median_readout_error": _median_error(target, ["measure"]),
        "reset": "reset" in target.operation_names,
    }


def list_backends(*, real: bool = True) -> list[dict]:
    """:func:`describe_backend` of every fake device (by name), then of the real ones when an account exists."""
    out = []
    with warnings.catch_warnings():
        # FakeNighthawk warns that its properties are not typical: the listing states them anyway.
        warnings.simplefilter("ignore", UserWarning)
        for cls in sorted(_fake_classes().values()):
            dev = fake_backend(cls)
            if getattr(dev, "target", None) is not None:
                out.append(describe_backend(dev))
    if real and (os.environ.get("QISKIT_IBM_TOKEN") or _saved_accounts()):
        from qiskit_ibm_runtime import QiskitRuntimeService

        try:
            for dev in QiskitRuntimeService().backends():
                out.append({**describe_backend(dev), "name": f"ibm:{dev.name}"})
        except Exception as err:
            raise BackendError(f"Could not list IBM backends: {type(err).__name__}: {str(err).splitlines()[0]}") from err
    return out


# Operations that need dynamic-circuit support on a device.
_CONTROL_FLOW = frozenset({"if_else", "while_loop", "for_loop", "switch_case", "box"})


def circuit_features(circuits) -> set[str]:
    """What the circuits need from a device: ``'reset'``, ``'mid-circuit measurement'``, control-flow names."""
    flat, _ = _flatten(circuits)
    need: set[str] = set()
    for qc in flat:
        measured: set[int] = set()
        for inst in qc.data:
            name = inst.operation.name
            qubits = {qc.find_bit(q).index for q in inst.qubits}
            if name == "reset":
                need.add("reset")
            if name in _CONTROL_FLOW:
                need.add(name)
            if name == "measure":
                measured |= qubits
            elif name not in ("barrier", "delay") and qubits & measured and save_marker_label(inst.operation) is None:
                need.add("mid-circuit measurement")
    return need


def check_supported(circuits, backend) -> None:
    """Refuse, in one line, circuits using what ``backend`` lacks (reset, mid-circuit measurement, control flow).

    Aer supports everything. A device supports reset and control flow when its target lists them;
    mid-circuit measurement counts as supported where the target lists ``if_else`` (IBM advertises
    dynamic circuits, of which mid-circuit measurement is part, through control-flow instructions).

    Raises:
        BackendError: the backend lacks something the circuits use.
    """
    if _is_aer(backend):
        return
    names = set(backend.target.operation_names)
    missing = sorted(f for f in circuit_features(circuits)
                     if (f == "mid-circuit measurement" and "if_else" not in names)
                     or (f != "mid-circuit measurement" and f not in names))
    if missing:
        raise BackendError(
            f"Backend {_backend_name(backend)!r} does not support {', '.join(missing)}, which the circuits use: "
            "choose another backend (see `qcharge backends`; e.g. fake_fez) or another --ancilla."
        )


def layout_of(transpiled: QuantumCircuit) -> list[int] | None:
    """Physical qubit of each logical qubit of a transpiled circuit (its initial layout), or ``None``."""
    if transpiled.layout is None:
        return None
    return [int(q) for q in transpiled.layout.initial_index_layout(filter_ancillas=True)]


def choose_layout(circuit: QuantumCircuit, backend, *, seed: int | None = 1234, optimization_level: int = 1) -> list[int] | None:
    """Physical qubits for ``circuit`` on ``backend`` (``None`` on ideal Aer).

    The preset pass manager's choice: VF2Layout looks for a connected subgraph matching the
    circuit's interactions and scores the candidates by the target's gate and readout errors
    (VF2PostLayout re-scores after routing); where none matches (N >= 3 stars on heavy-hex),
    Sabre places and routes. Pass the result as ``initial_layout`` so that the exact-noisy
    prediction and the sampled run use the same qubits.
    """
    device = _device_for_noise(backend)
    if device is None:
        return None
    return layout_of(_transpile_with_markers([circuit], device, seed, optimization_level)[0])


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


# A dense density matrix of n qubits holds 4^n complex128 entries; Aer needs about twice that
# while it applies a gate. Refused above this (checked before Aer allocates anything).
MAX_DENSITY_MATRIX_BYTES = 4 * 2**30


def density_matrix_bytes(n_qubits: int) -> int:
    """Peak bytes of an Aer density-matrix run on ``n_qubits``: 4^n complex128 entries, twice."""
    return 2 * 16 * 4**n_qubits


def _check_density_matrix_width(n_qubits: int) -> None:
    need = density_matrix_bytes(n_qubits)
    if need > MAX_DENSITY_MATRIX_BYTES:
        most = int(math.log(MAX_DENSITY_MATRIX_BYTES / 32, 4))
        raise ParameterError(
            f"Argument `circuits` must act on at most {most} qubits for an exact density-matrix run, but one acts on "
            f"{n_qubits} qubits: it would need {need / 2**30:.3g} GiB (limit {MAX_DENSITY_MATRIX_BYTES / 2**30:.0f} GiB)."
        )


@functools.lru_cache(maxsize=8)
def _fake_device(name: str):
    """One fake device per name for the noisy density-matrix path (its restricted noise models are cached)."""
    return fake_backend(name)


def _device_for_noise(backend):
    """The device whose noise model an exact run must use, or ``None`` for the ideal simulator.

    ``'aer'`` and a noiseless :class:`AerSimulator` are ideal; ``'aer-noisy:<fake>'`` and
    ``'fake:<fake>'`` are the fake device itself (its target carries the calibration), so the noise model can be built for the
    used qubits only; any other backend object with a target (fake or IBM device) is used as is.
    """
    if isinstance(backend, str):
        kind, _, rest = backend.partition(":")
        if kind in ("aer-noisy", "fake") and rest:
            return _fake_device(rest)
    be = get_backend(backend)
    if _is_aer(be):
        if be.options.noise_model is not None and not getattr(be.options.noise_model, "is_ideal", lambda: True)():
            raise ParameterError(
                "Argument `backend` for an exact density-matrix run must be 'aer', 'aer-noisy:<fake>' or a device "
                "with a target, but is an AerSimulator with a custom noise model: pass the device instead."
            )
        return None
    if getattr(be, "target", None) is None:
        raise ParameterError(f"Argument `backend` must have a target for a noisy density-matrix run, but "
                             f"{_backend_name(be)!r} has none.")
    return be


def restricted_noise_model(device, qubits):
    """Aer noise model of ``device`` (gate depolarising + thermal relaxation, readout) on ``qubits`` only.

    Same construction as :meth:`qiskit_aer.noise.NoiseModel.from_backend` (its public building blocks
    ``basic_device_gate_errors`` / ``basic_device_readout_errors``), fed a copy of the device's target
    that keeps only the instructions on ``qubits``: the errors on those qubits are the ones
    from_backend builds, so a simulation of a circuit on those qubits gives the same state
    (benchmarks/results/circuits_noisy.md: difference 0), while a 156-qubit device costs ~0.1-0.5 s
    instead of 10-20 s. Idle (delay) relaxation is not added: the circuits run here are not
    scheduled, so they have no delays.

    Args:
        device: a backend with a target (fake or IBM device).
        qubits: the physical qubits to keep.

    Returns:
        A :class:`qiskit_aer.noise.NoiseModel` with errors on ``qubits`` only.

    Example:
        >>> model = restricted_noise_model(fake_backend("manila"), [0, 1])
        >>> sorted(model.noise_qubits)
        [0, 1]
    """
    from qiskit.transpiler import Target
    from qiskit_aer.noise import NoiseModel
    from qiskit_aer.noise.device import basic_device_gate_errors, basic_device_readout_errors

    keep = set(int(q) for q in qubits)
    full = device.target
    sub = Target(num_qubits=full.num_qubits, dt=full.dt, qubit_properties=full.qubit_properties)
    for name, props in full.items():
        op = full.operation_from_name(name)
        if props is None or None in props:  # global (control flow, ideal): carries no error
            continue
        kept = {qargs: p for qargs, p in props.items() if qargs is not None and set(qargs) <= keep}
        if kept:
            sub.add_instruction(op, kept, name=name)
    model = NoiseModel(basis_gates=list(full.operation_names))
    for q_list, error in basic_device_readout_errors(target=sub):
        if q_list[0] in keep:
            model.add_readout_error(error, q_list)
    for name, q_tuple, error in basic_device_gate_errors(target=sub):
        model.add_quantum_error(error, name, q_tuple)
    return model


# Restricted noise models by (device target, qubits): building one costs ~0.1-0.8 s (Aer composes
# the depolarising and relaxation errors in Python), and a planner or a sweep asks for the same
# layout many times. The target object is kept in the entry, so its id cannot be reused.
_NOISE_CACHE: dict[tuple[int, tuple[int, ...]], tuple[Any, Any]] = {}
_NOISE_CACHE_SIZE = 32


def _cached_noise_model(device, qubits: tuple[int, ...]):
    key = (id(device.target), qubits)
    if key not in _NOISE_CACHE:
        if len(_NOISE_CACHE) >= _NOISE_CACHE_SIZE:
            _NOISE_CACHE.pop(next(iter(_NOISE_CACHE)))
        _NOISE_CACHE[key] = (device.target, restricted_noise_model(device, qubits))
    return _NOISE_CACHE[key][1]


def _active_qubits(circuit: QuantumCircuit) -> list[int]:
    return sorted({circuit.find_bit(q).index for inst in circuit.data
                   if inst.operation.name not in ("barrier", "delay") for q in inst.qubits})


def _transpile_with_markers(flat: list[QuantumCircuit], device, seed: int | None, optimization_level: int,
                            initial_layout: Sequence[int] | None = None):
    """Transpile to ``device``; the save markers (barriers) are routed with their qubits.

    A circuit without markers gets one on all its qubits first, so that its final state is saved in
    the order of its logical qubits (not of the device's 156 physical ones).
    """
    marked = []
    for qc in flat:
        if not any(save_marker_label(inst.operation) is not None for inst in qc.data):
            qc = qc.copy()
            append_save_marker(qc, "final", list(range(qc.num_qubits)))
        marked.append(qc)
    pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=device, seed_transpiler=seed,
                                      initial_layout=None if initial_layout is None else list(initial_layout))
    return pm.run(marked)


def run_density_matrix(
    circuits,
    *,
    backend: str | Any = "aer",
    seed: int | None = 1234,
    shots: int | None = None,
    optimization_level: int = 1,
    initial_layout: Sequence[int] | None = None,
    progress: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Exact reduced density matrices at every save point, from Aer's density-matrix method.

    Resets, CX-purified ancillas and unitaries are applied as exact channels, so circuits
    without mid-circuit measurement run with one shot and give the exact state (round-off only).
    Circuits whose saves follow a mid-circuit measurement (``ancilla='measure'``) are run with
    ``shots`` (default :data:`DEFAULT_MEASURE_SHOTS`) and return the shot-averaged state.

    On a noisy backend (``'aer-noisy:<fake>'``, a fake or IBM device object) the result is the
    exact *noisy* state: the circuit transpiled to the device (preset pass manager,
    ``optimization_level``, ``seed_transpiler=seed``) and run on the device's noise model,
    restricted to the qubits the transpiled circuit uses (:func:`restricted_noise_model`). A noisy
    backend is never replaced by the ideal simulator. Readout errors do not act on saved states.

    Args:
        circuits: a circuit, or a list whose elements are circuits or lists of circuits
            (ensembles, averaged with equal weights).
        backend: ``'aer'`` (ideal, default), ``'aer-noisy:<fake>'``, or a device object.
        seed: Aer ``seed_simulator`` (only matters for mid-circuit measurements) and
            ``seed_transpiler`` on noisy backends.
        shots: shots for measurement-dependent circuits (deterministic ones always use 1).
        optimization_level: preset pass-manager level 0-3 (noisy backends only).
        initial_layout: physical qubit of each logical qubit (noisy backends only; default: the
            preset's choice, see :func:`choose_layout`).
        progress: show a tqdm bar.

    Returns:
        One dict per element: save label -> density matrix in QuTiP order of the saved qubits
        (first listed qubit left-most; for a transpiled circuit, the physical qubits that carry
        the listed logical ones at that point).
    """
    flat, spans = _flatten(circuits)
    n_meas = DEFAULT_MEASURE_SHOTS if shots is None else check_int("shots", shots, minimum=1)
    optimization_level = check_int("optimization_level", optimization_level, minimum=0, maximum=3)
    device = _device_for_noise(backend)
    for qc in flat:  # the transpiled circuits keep their width (ancillas stay idle)
        _check_density_matrix_width(qc.num_qubits)
    ideal = AerSimulator(method="density_matrix")
    if device is None:
        prepared = [prepare_for_aer(c, ideal, seed=seed) for c in flat]
        sims = [ideal] * len(flat)
    else:
        check_supported(flat, device)
        transpiled = _transpile_with_markers(flat, device, seed, optimization_level, initial_layout)
        prepared = [prepare_for_aer(c, ideal, seed=seed) for c in transpiled]
        models: dict[tuple[int, ...], AerSimulator] = {}
        sims = []
        for c in prepared:
            used = tuple(_active_qubits(c))
            _check_density_matrix_width(len(used))
            if used not in models:
                models[used] = AerSimulator(method="density_matrix", noise_model=_cached_noise_model(device, used))
            sims.append(models[used])
    shot_list = [n_meas if _needs_shots(c) else 1 for c in prepared]
    results: list[dict[str, np.ndarray] | None] = [None] * len(flat)
    groups: dict[tuple[int, int], list[int]] = {}
    for i in range(len(flat)):
        groups.setdefault((id(sims[i]), shot_list[i]), []).append(i)
    chunks = []
    for idx in groups.values():
        size = _AER_CHUNK if progress else len(idx)
        chunks += [(sims[idx[0]], shot_list[idx[0]], idx[j:j + size]) for j in range(0, len(idx), size)]
    for sim, s, idx in _progress(chunks, progress, len(chunks), "aer density matrix"):
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
def _circuits_digest(circuits: Sequence[QuantumCircuit]) -> str:
    """Content hash of circuits (gate names, qubits, clbits, parameters): part of a job record's inputs."""
    h = hashlib.sha256()
    for qc in circuits:
        h.update(f"|{qc.num_qubits},{qc.num_clbits}|".encode())
        for inst in qc.data:
            op = inst.operation
            h.update(op.name.encode())
            h.update(str([qc.find_bit(q).index for q in inst.qubits]).encode())
            h.update(str([qc.find_bit(c).index for c in inst.clbits]).encode())
            for p in op.params:
                h.update(np.asarray(p).tobytes() if isinstance(p, np.ndarray) else repr(p).encode())
    return h.hexdigest()


def job_store_for(job_store: str | os.PathLike | RecordStore) -> RecordStore:
    """The record store for job ids: ``job_store`` itself, or a :class:`~qcharge.records.RecordStore`
    at that folder (created and test-written now, before anything is computed or submitted)."""
    if isinstance(job_store, RecordStore):
        return job_store
    return RecordStore(job_store, argument="job_store")


def _make_sampler(backend, shots: int, seed: int | None):
    """A sampler for ``backend``: Aer's SamplerV2 for Aer simulators, else the runtime's current one.

    ``qiskit_ibm_runtime.executor_sampler.Sampler`` (imported explicitly: the top-level
    ``SamplerV2``/``Sampler`` of qiskit-ibm-runtime 0.51 is the deprecated class). ``backend`` is
    its mode: a fake device (local testing mode) or a :class:`qiskit_ibm_runtime.Batch` on a real
    one (the open plan has no sessions).
    """
    if _is_aer(backend):
        return AerSamplerV2.from_backend(backend, default_shots=shots, seed=seed)
    try:
        from qiskit_ibm_runtime.executor_sampler import Sampler
    except ImportError as err:
        raise BackendError("Non-Aer backends need qiskit-ibm-runtime >= 0.50: pip install 'qcharge[ibm]'.") from err
    sampler = Sampler(mode=backend)
    sampler.options.default_shots = shots
    if seed is not None and getattr(backend, "service", None) is None:  # local testing mode: seed its Aer run,
        sampler.options.simulator.seed_simulator = seed  # so that fetch's rerun of a local job gives its counts
    return sampler


def _open_batch(backend):
    """A runtime Batch for a real device (``None`` for fake devices, which run in local mode)."""
    if getattr(backend, "service", None) is None:
        return None
    from qiskit_ibm_runtime import Batch

    return Batch(backend=backend)


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
    job_store: str | os.PathLike | RecordStore | None = None,
    initial_layout: Sequence[int] | None = None,
    progress: bool = False,
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
        shots: shots per circuit.
        seed: ``seed_simulator`` (Aer) and ``seed_transpiler``.
        noise_model: Aer noise model (``backend='aer'`` only).
        optimization_level: preset pass-manager level 0-3.
        max_circuits_per_job: job size.
        job_store: folder (or :class:`~qcharge.records.RecordStore`) of the job records.
        initial_layout: physical qubit of each logical qubit on a device (default: the preset's).
        progress: tqdm bar over jobs.

    Raises:
        BackendError: the backend lacks an operation the circuits use (:func:`check_supported`),
            before anything is submitted.

    Returns:
        One counts dict per element of ``circuits``: keys are bitstrings of the register named by
        ``metadata['counts_register']`` (``'meas'`` for qcharge builders; rightmost character =
        first listed qubit), else of all classical bits.
    """
    flat, spans = _flatten(circuits)
    store = job_store_for(job_store) if job_store is not None else None
    shots = check_int("shots", shots, minimum=1)
    optimization_level = check_int("optimization_level", optimization_level, minimum=0, maximum=3)
    max_circuits_per_job = check_int("max_circuits_per_job", max_circuits_per_job, minimum=1)
    for qc in flat:
        if not any(inst.operation.name == "measure" for inst in qc.data):
            raise ParameterError(
                f"Argument `circuits` must contain measurements for run_counts, but {qc.name!r} has none "
                "(build it with measure=True)."
            )
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
    check_supported(flat, be)
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
    pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=be, seed_transpiler=seed,
                                      initial_layout=None if initial_layout is None or _is_aer(be) else list(initial_layout))
    batch = _open_batch(be) if device is None and not _is_aer(be) else None
    # Hardware: one sampler in the batch for every job. Simulators: one per job (its own seed, below).
    sampler = _make_sampler(batch, shots, seed) if batch is not None else None
    name = _backend_name(be) if device is None else f"aer_simulator_from({device.name})"
    try:
        counts = _sample_jobs(flat, pm, sampler, device, store, be, name, shots, seed, optimization_level,
                              max_circuits_per_job, progress)
    finally:
        if batch is not None:
            batch.close()  # no new jobs; the submitted ones still run

    out = []
    for a, b in spans:
        total: dict[str, int] = {}
        for c in counts[a:b]:
            for k, v in c.items():
                total[k] = total.get(k, 0) + int(v)
        out.append(total)
    return out


def _sample_jobs(flat, pm, sampler, device, store, be, name, shots, seed, optimization_level,
                 max_circuits_per_job, progress) -> list[dict[str, int]]:
    """Submit (or resume) the jobs of :func:`run_counts`, each id recorded before waiting."""

    counts: list[dict[str, int]] = []
    specs = job_chunks(flat, seed=seed, max_circuits_per_job=max_circuits_per_job)
    for spec in _progress(specs, progress, len(specs), f"jobs on {name}"):
        chunk, j, job_seed = spec["circuits"], spec["first_circuit"], spec["seed"]
        inputs = {"record": "sampler job", "backend": name, "shots": shots, "seed": job_seed,
                  "optimization_level": optimization_level, "circuits": spec["digest"]}
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
            if sampler is not None:
                job = sampler.run(transpiled, shots=shots)
            elif device is not None:
                used = tuple(sorted({q for c in transpiled for q in _active_qubits(c)}))
                job = _make_sampler(AerSimulator(noise_model=_cached_noise_model(device, used)), shots,
                                    job_seed).run(transpiled, shots=shots)
            else:
                job = _make_sampler(be, shots, job_seed).run(transpiled, shots=shots)
            record = {"job_id": str(job.job_id()), "backend": name, "n_circuits": len(chunk),
                      "shots": shots, "first_circuit": j, "done": False,
                      "submitted": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            if store is not None:
                store.save(inputs, record)  # on disk before anybody waits for the result
        result = job.result()
        if store is not None:
            store.save(inputs, {**store.load(inputs), "done": True})
        counts += [_counts(pub, qc) for pub, qc in zip(result, chunk)]
    return counts


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


_LOGICAL_BASIS = ["cx", "u"]
# Operations of qcharge's circuits that the level-1 preset handles without high-level synthesis
# (standard gates with an equivalence-library entry, UnitarySynthesis for 'unitary', directives).
_NO_HLS_OPS = frozenset({"cx", "u", "rx", "ry", "rz", "x", "h", "xx_plus_yy", "rxx", "ryy", "unitary",
                         "reset", "measure", "barrier", "delay"})


def _logical_pass_manager(circuit: QuantumCircuit, optimization_level: int, seed: int):
    """The level-1 preset pass manager for ``['cx', 'u']`` without connectivity, built from its passes.

    ``generate_preset_pass_manager`` loads every installed transpiler and synthesis plugin through
    entry points on its first call; with qiskit-ibm-runtime and qiskit-experiments installed that
    imports both (plus lmfit, matplotlib, scipy.stats): ~2.5 s, most of an exact ``run charge``.
    Without a coupling map, level 1 is: init (InverseCancellation), translation (UnitarySynthesis,
    HighLevelSynthesis, BasisTranslator) and a fixed-point loop of Optimize1qGatesDecomposition +
    InverseCancellation. For circuits whose operations need no high-level synthesis
    (:data:`_NO_HLS_OPS`) this is the same pass list without the plugin loading; the test suite
    checks the counts equal the preset's on every circuit family. Anything else gets the preset.
    """
    if optimization_level != 1 or any(inst.operation.name not in _NO_HLS_OPS for inst in circuit.data):
        return generate_preset_pass_manager(optimization_level=optimization_level, basis_gates=_LOGICAL_BASIS,
                                            seed_transpiler=seed)
    from qiskit.circuit.equivalence_library import SessionEquivalenceLibrary
    from qiskit.passmanager.flow_controllers import DoWhileController
    from qiskit.transpiler import PassManager
    from qiskit.transpiler.passes import (BasisTranslator, Depth, FixedPoint, InverseCancellation,
                                          Optimize1qGatesDecomposition, Size, UnitarySynthesis)

    def checks():
        return [Depth(recurse=True), FixedPoint("depth"), Size(recurse=True), FixedPoint("size")]

    def not_fixed(props) -> bool:
        return not props["depth_fixed_point"] or not props["size_fixed_point"]

    pm = PassManager([InverseCancellation(), UnitarySynthesis(basis_gates=_LOGICAL_BASIS),
                      BasisTranslator(SessionEquivalenceLibrary, _LOGICAL_BASIS)])
    pm.append(checks())
    pm.append(DoWhileController([Optimize1qGatesDecomposition(basis=_LOGICAL_BASIS), InverseCancellation(), *checks()],
                                do_while=not_fixed))
    return pm


def resources(circuit: QuantumCircuit, backend: str | Any | None = None, *, optimization_level: int = 1,
              seed: int = 0) -> dict:
    """Width, depth and two-qubit gate count before and after transpiling.

    ``backend=None`` transpiles to the logical basis ``['cx', 'u']`` without connectivity (the
    gate budget of docs/physics.md §5.3); otherwise to the backend's target (e.g. ``'aer-noisy:fake_sherbrooke'``
    or a fake backend object), including routing. ``qubits`` counts qubits that carry operations.
    """
    before = _stats(circuit)
    t0 = time.perf_counter()
    if backend is None:
        pm = _logical_pass_manager(circuit, optimization_level, seed)
        name = "logical cx+u"
    else:
        # Only the target matters here: 'aer-noisy:<fake>' is transpiled for the fake device itself,
        # without building its full noise model (18 s for a 156-qubit device).
        kind, _, rest = backend.partition(":") if isinstance(backend, str) else ("", "", "")
        be = _fake_device(rest) if kind in ("aer-noisy", "fake") and rest else get_backend(backend)
        pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=be, seed_transpiler=seed)
        name = _backend_name(be)
    after = _stats(pm.run(circuit))
    return {
        "backend": name,
        **{k: v for k, v in before.items()},
        **{f"transpiled_{k}": v for k, v in after.items()},
        "transpile_seconds": time.perf_counter() - t0,
    }


# ---------------------------------------------------------------------------------------------
# run ledger: submit without waiting, job states, retrieval by id (qcharge.ledger)
# ---------------------------------------------------------------------------------------------
def is_remote_backend(backend) -> bool:
    """True for backends whose jobs outlive the submitting process (``'ibm:<name>'``, runtime devices).

    Aer, ``aer-noisy:`` and local testing mode (``fake:``) jobs live in the submitting process's
    memory: they cannot be retrieved later, only rerun from their seed.
    """
    if isinstance(backend, str):
        return backend.partition(":")[0] == "ibm"
    return getattr(backend, "service", None) is not None and not _is_aer(backend)


def job_chunks(circuits, *, seed: int | None, max_circuits_per_job: int = 100) -> list[dict]:
    """The jobs :func:`run_counts` makes of ``circuits``: first circuit, circuits, seed and digest of each.

    :func:`run_counts` runs exactly these jobs, so a job spec recorded here identifies its job. Every
    job gets its own simulator seed: with one seed for all jobs, Aer repeats the same random numbers
    in every job, so equal circuits in different jobs (1-shot coin instances) gave identical outcomes.
    Job 0 keeps ``seed`` itself (single-job runs are unchanged).
    """
    flat, _ = _flatten(circuits)
    out = []
    for j in range(0, len(flat), max_circuits_per_job):
        chunk = flat[j:j + max_circuits_per_job]
        job_seed = seed if seed is None or j == 0 else int(np.random.SeedSequence([seed, j]).generate_state(1)[0])
        out.append({"first_circuit": j, "circuits": chunk, "seed": job_seed, "digest": _circuits_digest(chunk)})
    return out


def submit_sampler_job(chunk: Sequence[QuantumCircuit], *, backend, shots: int, seed: int | None,
                       optimization_level: int = 1, initial_layout: Sequence[int] | None = None):
    """Transpile ``chunk`` for ``backend`` and submit it as one sampler job; returns ``(job, transpiled)`` at once.

    No waiting: the caller records ``job.job_id()`` before anybody asks for the result. A real device
    gets the job in a batch (as :func:`run_counts` does), closed once the job is in.
    """
    be = get_backend(backend)
    pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=be, seed_transpiler=seed,
                                      initial_layout=None if initial_layout is None else list(initial_layout))
    transpiled = pm.run(list(chunk))
    batch = _open_batch(be)
    try:
        job = _make_sampler(batch if batch is not None else be, shots, seed).run(transpiled, shots=shots)
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


__all__ += ["is_remote_backend", "job_chunks", "submit_sampler_job", "runtime_service", "job_state",
            "retrieve_job", "retrieve_counts", "pool_counts"]
