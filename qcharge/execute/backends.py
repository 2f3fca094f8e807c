"""Backend names -> backend objects: Aer, fake devices, custom noise flags, IBM devices; describe and list them."""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from qiskit.providers import BackendV2
from qiskit_aer import AerSimulator

from .._checks import check_int, check_real
from ..exceptions import BackendError, ParameterError
from ._common import _backend_name, _is_aer
from .noise import restricted_noise_model

_BACKEND_FORMS = ("'aer', 'aer-noisy:<fake>', 'fake:<fake>' (e.g. fake_fez), 'ibm:<backend name>' or "
                  "'custom:two_qubit_error=P,one_qubit_error=P,readout_error=P,t1=T1,t2=T2'")



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
        from qiskit.circuit import Delay, IfElseOp, Measure, Parameter, Reset
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
        # As on IBM devices: idle periods of a scheduled circuit are delays (qcharge.execute.scheduling).
        target.add_instruction(Delay(Parameter("t")), {(q,): None for q in range(n)})
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
