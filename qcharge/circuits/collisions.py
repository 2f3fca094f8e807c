r"""Exchange gate, collective collision and Trotter orderings (docs/physics.md §5.1, 5.2).

One collision of an ancilla :math:`a` with N atoms is

.. math::
    U_\mathrm{exact} = \exp[-i\theta(\sigma_+^a J_- + \sigma_-^a J_+)],

either exactly (``ordering='exact'``: for N = 2 the three exchange gates of
:mod:`qcharge.circuits.synthesis`, for other small N one :class:`~qiskit.circuit.library.UnitaryGate`)
or as a product of two-qubit exchange gates
:math:`U_i(f\theta) = \exp[-i f\theta(\sigma_+^a\sigma_-^i + \mathrm{h.c.})]
= \mathtt{XXPlusYYGate}(2f\theta, \beta=0)` in the order given by
:func:`qcharge.protocol.trotter_schedule` (carried by the experiment's plan), so the circuit and its
NumPy twin share one schedule, and the exact unitary is :func:`qcharge.protocol.collective_unitary`
(its one cache).

Qubit order: a matrix written in QuTiP order over factors :math:`(f_0, \dots, f_{m-1})`
(:math:`f_0` left-most) is applied to the qubits ``reversed([f_0, ..., f_{m-1}])``: Qiskit's
little-endian index :math:`\sum_j b_{q_j} 2^j` then equals the QuTiP index, no permutation needed.

Save markers: builders never touch a backend, and Aer's ``save_density_matrix`` instruction
lives in ``qiskit_aer``. A builder therefore marks *where* a state is to be saved with a
labelled :class:`~qiskit.circuit.Barrier` (label ``"qcharge.save:<label>"``, qargs = the saved
qubits in order) and :mod:`qcharge.execute` swaps each marker for an Aer save instruction.
A barrier is a standard instruction: it survives transpilation, exports to OpenQASM and is a
no-op on hardware.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from qiskit import QuantumCircuit
from qiskit.circuit import Barrier, Qubit
from qiskit.circuit.library import UnitaryGate, XXPlusYYGate

from .._checks import check_int, check_real
from ..exceptions import ParameterError
from ..protocol import collective_unitary as _plan_unitary
from .synthesis import SHORT_EXACT_ATOMS, append_pair_collision

__all__ = [
    "MAX_EXACT_ATOMS",
    "SAVE_MARKER_PREFIX",
    "exchange_gate",
    "collective_unitary",
    "collective_collision_gate",
    "append_collision",
    "append_qutip_unitary",
    "append_save_marker",
    "save_marker_label",
]

# The exact collective gate is a dense 2^(N+1) unitary: its synthesis on hardware costs
# O(4^(N+1)) CX and Aer applies it as one dense (N+1)-qubit matrix; N = 6 (7 qubits) is the
# largest size where that is still reasonable.
MAX_EXACT_ATOMS = 6

SAVE_MARKER_PREFIX = "qcharge.save:"


def exchange_gate(theta: float) -> XXPlusYYGate:
    r"""The resonant exchange gate :math:`\exp[-i\theta(\sigma_+\sigma_- + \sigma_-\sigma_+)]`.

    .. math::
        \sigma_+^a\sigma_-^i + \sigma_-^a\sigma_+^i = (X_aX_i + Y_aY_i)/2
        \;\Rightarrow\; U = \exp[-i\theta(XX+YY)/2] = \mathtt{XXPlusYYGate}(2\theta, \beta=0).

    The generator is symmetric under swapping the two qubits, so the qubit order does not matter.

    Args:
        theta: exchange angle θ (any real number; θ = 0 is the identity).

    Returns:
        ``XXPlusYYGate(2*theta, 0.0)``.
    """
    theta = check_real("theta", theta)
    return XXPlusYYGate(2.0 * theta, 0.0)


def collective_unitary(n_atoms: int, theta: float) -> np.ndarray:
    r"""Dense :math:`U = \exp[-i\theta(\sigma_+^a J_- + \sigma_-^a J_+)]`, QuTiP order, ancilla left-most.

    Args:
        n_atoms: N, 1 <= N <= :data:`MAX_EXACT_ATOMS`.
        theta: collision angle θ.

    Returns:
        The :math:`2^{N+1}\times 2^{N+1}` unitary, factors (ancilla, atom 0, ..., atom N-1).
    """
    n_atoms = check_int("n_atoms", n_atoms, minimum=1)
    if n_atoms > MAX_EXACT_ATOMS:
        raise ParameterError(
            f"Argument `n_atoms` must be <= {MAX_EXACT_ATOMS} for the exact collective collision "
            f"(a dense {2 ** (n_atoms + 1)}x{2 ** (n_atoms + 1)} unitary), but is {n_atoms}; "
            "use ordering='palindromic' instead."
        )
    theta = check_real("theta", theta)
    return np.array(_plan_unitary(n_atoms, theta))


def collective_collision_gate(n_atoms: int, theta: float) -> UnitaryGate:
    """:func:`collective_unitary` as a :class:`UnitaryGate` (QuTiP order, ancilla left-most).

    Append it with :func:`append_qutip_unitary` (or use :func:`append_collision`) to get the
    qubit order right. Build it once per circuit and pass it to every :func:`append_collision`
    (``gate=``): a long circuit then shares one matrix.
    """
    u = collective_unitary(n_atoms, theta)  # validates the arguments
    return UnitaryGate(u, label=f"Ucoll({float(theta):.4g})", check_input=False)


def append_qutip_unitary(qc: QuantumCircuit, matrix: np.ndarray | UnitaryGate, qubits: Sequence, label=None) -> None:
    """Append a unitary written in QuTiP order over ``qubits`` (``qubits[0]`` = left-most factor)."""
    gate = matrix if isinstance(matrix, UnitaryGate) else UnitaryGate(matrix, label=label)
    qc.append(gate, list(reversed(list(qubits))))


def append_collision(
    qc: QuantumCircuit,
    atom_qubits: Sequence[int | Qubit],
    ancilla_qubit: int | Qubit,
    theta: float,
    gates: Sequence[tuple[int, float]] | None,
    *,
    gate: UnitaryGate | None = None,
) -> None:
    r"""Append one collision of ``ancilla_qubit`` with the atoms.

    Args:
        qc: circuit to append to (modified in place).
        atom_qubits: qubits of atoms 0..N-1.
        ancilla_qubit: the ancilla (for harvesting: the probe).
        theta: collision angle θ.
        gates: one entry of :func:`qcharge.protocol.trotter_schedule`: ``((atom, fraction), ...)`` applied in
            list order as ``XXPlusYYGate(2*fraction*theta)`` on (ancilla, atom); ``None`` for
            the exact collective unitary :math:`\exp[-i\theta(\sigma_+^a J_- + \sigma_-^a J_+)]`
            (N <= :data:`MAX_EXACT_ATOMS`): for N = 2 its exact three-gate circuit
            (:func:`~qcharge.circuits.synthesis.append_pair_collision`), else one dense unitary.
        gate: for ``gates=None`` and N != 2, the :func:`collective_collision_gate` of (N, θ) to reuse
            (built here if omitted; unused for N = 2).
    """
    atom_qubits = list(atom_qubits)
    n = len(atom_qubits)
    if gates is None:
        if n > MAX_EXACT_ATOMS:
            raise ParameterError(
                f"Argument `atom_qubits` must hold <= {MAX_EXACT_ATOMS} atoms for the exact collective "
                f"collision, but holds {n}; use ordering='palindromic' instead."
            )
        if n in SHORT_EXACT_ATOMS:
            append_pair_collision(qc, atom_qubits, ancilla_qubit, theta)
            return
        append_qutip_unitary(qc, gate if gate is not None else collective_collision_gate(n, theta),
                             [ancilla_qubit, *atom_qubits])
        return
    for atom, fraction in gates:
        if not 0 <= atom < n:
            raise ParameterError(f"Argument `gates` must name atoms in [0, {n}), but names atom {atom}.")
        qc.append(exchange_gate(fraction * theta), [ancilla_qubit, atom_qubits[atom]])


def append_save_marker(qc: QuantumCircuit, label: str, qubits: Sequence[int | Qubit]) -> None:
    """Mark the point where the reduced state of ``qubits`` (in this order) is to be saved.

    :func:`qcharge.execute.run_density_matrix` replaces the marker by Aer's
    ``save_density_matrix`` and returns that state in QuTiP order (``qubits[0]`` left-most).
    """
    if not label or SAVE_MARKER_PREFIX in label:
        raise ParameterError(f"Argument `label` must be a non-empty plain string, but is {label!r}.")
    qubits = list(qubits)
    qc.append(Barrier(len(qubits), label=SAVE_MARKER_PREFIX + label), qubits)


def save_marker_label(operation) -> str | None:
    """The save label of a marker barrier, ``None`` for any other operation."""
    label = getattr(operation, "label", None)
    if operation.name == "barrier" and isinstance(label, str) and label.startswith(SAVE_MARKER_PREFIX):
        return label[len(SAVE_MARKER_PREFIX):]
    return None
