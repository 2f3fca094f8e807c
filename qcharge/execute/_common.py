"""Helpers every part of :mod:`qcharge.execute` shares: ensembles, progress bars, digests, backend kinds."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager
from qiskit_aer import AerSimulator

from ..exceptions import ParameterError


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


def _active_qubits(circuit: QuantumCircuit) -> list[int]:
    return sorted({circuit.find_bit(q).index for inst in circuit.data
                   if inst.operation.name not in ("barrier", "delay") for q in inst.qubits})

def _is_aer(backend) -> bool:
    return isinstance(backend, AerSimulator)


def _pass_manager(be, *, optimization_level: int, seed: int | None, initial_layout: Sequence[int] | None):
    """The preset pass manager of every sampled circuit: :func:`run_counts`, submitted jobs and
    :func:`measured_physical_qubits` transpile with this one, so they agree on where each qubit is measured
    (``seed_transpiler`` fixes Sabre's choices; each circuit of a list is transpiled independently)."""
    return generate_preset_pass_manager(optimization_level=optimization_level, backend=be, seed_transpiler=seed,
                                        initial_layout=None if initial_layout is None or _is_aer(be)
                                        else list(initial_layout))


def _measured_qubits(transpiled: QuantumCircuit, metadata=None) -> tuple[int, ...]:
    """Physical qubit of each bit of the counts register of a transpiled circuit (its last measurement).

    The counts register is ``metadata['counts_register']`` (as read by :func:`run_counts`), else all
    classical bits; bit ``i`` of the register (the ``i``-th character from the right of a count key)
    is entry ``i``. A transpiled circuit's qubit index is the physical qubit.
    """
    reg = (metadata if metadata is not None else transpiled.metadata or {}).get("counts_register")
    clbits = next((list(r) for r in transpiled.cregs if r.name == reg), None) if reg else None
    clbits = list(transpiled.clbits) if clbits is None else clbits
    where = {}
    for inst in transpiled.data:
        if inst.operation.name == "measure":
            where[inst.clbits[0]] = transpiled.find_bit(inst.qubits[0]).index
    missing = [i for i, c in enumerate(clbits) if c not in where]
    if missing:
        raise ParameterError(f"Argument `circuits` must measure every bit of its counts register, but "
                             f"{transpiled.name!r} never measures bits {missing}.")
    return tuple(where[c] for c in clbits)


def _backend_name(backend) -> str:
    name = getattr(backend, "name", None)
    return name() if callable(name) else str(name)


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
