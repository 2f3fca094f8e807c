"""The device's Aer noise model restricted to the qubits a circuit uses, and its cache."""

from __future__ import annotations

import math
from typing import Any


def restricted_noise_model(device, qubits):
    """Aer noise model of ``device`` (gate depolarising + thermal relaxation, readout) on ``qubits`` only.

    Same construction as :meth:`qiskit_aer.noise.NoiseModel.from_backend` (its public building blocks
    ``basic_device_gate_errors`` / ``basic_device_readout_errors``), fed a copy of the device's target
    that keeps only the instructions on ``qubits``: the errors on those qubits are the ones
    from_backend builds, so a simulation of a circuit on those qubits gives the same state
    (benchmarks/results/circuits_noisy.md: difference 0), while a 156-qubit device costs ~0.1-0.5 s
    instead of 10-20 s. The relaxation on delays that from_backend adds (a noise pass) is
    :func:`restricted_idle_noise`, applied only to scheduled circuits.

    Args:
        device: a backend with a target (fake or IBM device).
        qubits: the physical qubits to keep.

    Returns:
        A :class:`qiskit_aer.noise.NoiseModel` with errors on ``qubits`` only.

    Example:
        >>> from qcharge.execute import fake_backend
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


def restricted_idle_noise(device, qubits):
    r"""Thermal relaxation after the ``Delay`` instructions of ``qubits``: the delay noise that
    :meth:`qiskit_aer.noise.NoiseModel.from_backend` adds (its ``RelaxationNoisePass``), restricted.

    A delay of length :math:`t` on qubit :math:`q` is followed by ``thermal_relaxation_error(T1, T2, t)``
    of that qubit (populations relax as :math:`e^{-t/T_1}` to the ground state, coherences decay as
    :math:`e^{-t/T_2}`), with :math:`T_2` capped at :math:`2T_1` and no thermal excitation, as
    from_backend does at its default temperature 0. Delays on other qubits stay noiseless. Each error
    is built once per (qubit, duration): scheduled circuits repeat a few idle lengths many times, and
    building an Aer error costs ~1 ms.

    Example:
        >>> from qcharge.execute import fake_backend
        >>> type(restricted_idle_noise(fake_backend("manila"), [0, 1])).__name__
        'LocalNoisePass'
    """
    from qiskit.circuit import Delay
    from qiskit.utils.units import apply_prefix
    from qiskit_aer.noise import thermal_relaxation_error
    from qiskit_aer.noise.passes import LocalNoisePass

    target = device.target
    props = target.qubit_properties or [None] * target.num_qubits
    times = {}
    for q in sorted(set(int(q) for q in qubits)):
        p = props[q]
        t1 = math.inf if p is None or p.t1 is None else p.t1
        t2 = min(math.inf if p is None or p.t2 is None else p.t2, 2 * t1)
        if not (math.isinf(t1) and math.isinf(t2)):
            times[q] = (t1, t2)
    errors: dict[tuple, Any] = {}

    def relax(op, qargs):
        q = qargs[0]
        if q not in times:
            return None
        key = (q, op.duration, op.unit)
        if key not in errors:
            seconds = op.duration * target.dt if op.unit == "dt" else apply_prefix(op.duration, op.unit)
            errors[key] = thermal_relaxation_error(*times[q], seconds)
        return errors[key]

    return LocalNoisePass(relax, op_types=Delay, method="append")


# Restricted noise models by (device target, qubits): building one costs ~0.1-0.8 s (Aer composes
# the depolarising and relaxation errors in Python), and a planner or a sweep asks for the same
# layout many times. The target object is kept in the entry, so its id cannot be reused.
# The idle-noise passes share the cache (keyed by the builder too).
_NOISE_CACHE: dict[tuple[str, int, tuple[int, ...]], tuple[Any, Any]] = {}
_NOISE_CACHE_SIZE = 32


def _cached(build, device, qubits: tuple[int, ...]):
    key = (build.__name__, id(device.target), qubits)
    if key not in _NOISE_CACHE:
        if len(_NOISE_CACHE) >= _NOISE_CACHE_SIZE:
            _NOISE_CACHE.pop(next(iter(_NOISE_CACHE)))
        _NOISE_CACHE[key] = (device.target, build(device, qubits))
    return _NOISE_CACHE[key][1]


def _cached_noise_model(device, qubits: tuple[int, ...]):
    return _cached(restricted_noise_model, device, qubits)


def _cached_idle_noise(device, qubits: tuple[int, ...]):
    return _cached(restricted_idle_noise, device, qubits)
