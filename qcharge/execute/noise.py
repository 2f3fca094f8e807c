"""The device's Aer noise model restricted to the qubits a circuit uses, and its cache."""

from __future__ import annotations

from typing import Any


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
