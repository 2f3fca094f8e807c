"""Helpers every part of :mod:`qcharge.execute` shares: ensembles, progress bars, digests, backend kinds."""

from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from qiskit import QuantumCircuit
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
