"""Physical layouts: the preset's choice on a device, read back from transpiled circuits."""

from __future__ import annotations

from typing import Sequence

from qiskit import QuantumCircuit
from qiskit.transpiler import generate_preset_pass_manager

from ..circuits.collisions import append_save_marker, save_marker_label
from .backends import _device_for_noise
from .capabilities import check_width


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


def _transpile_with_markers(flat: list[QuantumCircuit], device, seed: int | None, optimization_level: int,
                            initial_layout: Sequence[int] | None = None):
    """Transpile to ``device``; the save markers (barriers) are routed with their qubits.

    A circuit without markers gets one on all its qubits first, so that its final state is saved in
    the order of its logical qubits (not of the device's 156 physical ones).
    """
    check_width(flat, device)
    marked = []
    for qc in flat:
        if not any(save_marker_label(inst.operation) is not None for inst in qc.data):
            qc = qc.copy()
            append_save_marker(qc, "final", list(range(qc.num_qubits)))
        marked.append(qc)
    pm = generate_preset_pass_manager(optimization_level=optimization_level, backend=device, seed_transpiler=seed,
                                      initial_layout=None if initial_layout is None else list(initial_layout))
    return pm.run(marked)
