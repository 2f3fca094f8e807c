r"""A short exact circuit for the collective collision of a pair (docs/physics.md §5.1).

For N = 2 the collision :math:`U = \exp[-i\theta(\sigma_+^a J_- + \sigma_-^a J_+)]` is a
*free-fermion* (matchgate) unitary. Order the three qubits (atom 0, ancilla, atom 1) for a
Jordan-Wigner transformation :math:`c_j = (\prod_{k<j} Z_k)\,\sigma_-^j`: both couplings join
neighbours of that order, so no string appears and

.. math::
    H = \sigma_+^a\sigma_-^0 + \sigma_+^a\sigma_-^1 + \mathrm{h.c.}
      = \sum_{jk} h_{jk}\, c_j^\dagger c_k,\qquad
    h = \begin{pmatrix}0&1&0\\1&0&1\\0&1&0\end{pmatrix}.

A number-conserving Gaussian unitary is fixed by its single-particle matrix :math:`u = e^{-i\theta h}`
(the map :math:`u \mapsto \Gamma(u)` is a representation, no phase), and an exchange gate
:math:`E_{aj}(\varphi) = \exp[-i\varphi(\sigma_+^a\sigma_-^j + \mathrm{h.c.})]` is the Givens rotation
:math:`e^{-i\varphi h_{aj}}` of modes (a, j). Three Givens rotations factor :math:`u`:

.. math::
    U = E_{a0}(\alpha)\,E_{a1}(\beta)\,E_{a0}(\alpha),\qquad
    \tan\alpha = \frac{\tan(x/2)}{\sqrt2},\quad
    \cos\beta = \frac{1+\cos x}{2},\quad \sin\beta = \frac{\sin x}{\sqrt2\cos\alpha},\quad x = \sqrt2\,\theta,

(matching the entries (1,1), (a,1) and (0,1) of :math:`u`; the others follow from unitarity and the
0 <-> 1 symmetry of h). It is the palindromic Trotter step (α = θ/2, β = θ) with corrected angles:
the same three ``XXPlusYYGate`` (2 CZ each on a line atom 0 - ancilla - atom 1, 6 in all) instead of
a generic 3-qubit synthesis (30-36 CZ on Heron, benchmarks/README.md), and exact for every θ, global phase included.

N >= 3: the ancilla couples to three or more atoms, which no Jordan-Wigner order makes neighbours,
and the collision is not Gaussian. The exchange gates still generate it (their Lie algebra holds
:math:`iH`; dimension 14 for N = 3), but a seeded numerical search over products of up to 14 exchange
gates (``benchmarks/bench_collision_synthesis.py --search-n3``) stalled at infidelity 5e-10 (13 gates,
a palindrome) and 4e-8 (14 free angles), short of the 1e-12 asked of an exact gate, and 14+ exchange
gates (28+ CZ) would cost ~3x a palindromic step anyway: for N >= 3 the dense unitary (generic
synthesis, ~150-200 CZ on Heron) stays the exact gate.
"""

from __future__ import annotations

import math
from typing import Sequence

from qiskit import QuantumCircuit
from qiskit.circuit import Qubit
from qiskit.circuit.library import XXPlusYYGate

from .._checks import check_real
from ..exceptions import ParameterError

__all__ = ["SHORT_EXACT_ATOMS", "pair_collision_angles", "append_pair_collision", "pair_collision_circuit"]

# Atom numbers with a short exact collision circuit.
SHORT_EXACT_ATOMS = (2,)


def pair_collision_angles(theta: float) -> tuple[float, float]:
    r"""(α, β) of :math:`U = E_{a0}(\alpha)E_{a1}(\beta)E_{a0}(\alpha)` for the pair collision of angle θ.

    ``atan2`` keeps both angles continuous through :math:`\cos(x/2) = 0` (θ = π/√2), where tan α is infinite.

    Example:
        >>> a, b = pair_collision_angles(0.3)
        >>> round(a, 6), round(b, 6)   # palindromic Trotter would use (0.15, 0.3)
        (0.15113, 0.298866)
    """
    x = math.sqrt(2.0) * check_real("theta", theta)
    alpha = math.atan2(math.sin(x / 2), math.sqrt(2.0) * math.cos(x / 2))
    beta = math.atan2(math.sin(x) / (math.sqrt(2.0) * math.cos(alpha)), (1.0 + math.cos(x)) / 2.0)
    return alpha, beta


def append_pair_collision(qc: QuantumCircuit, atom_qubits: Sequence[int | Qubit], ancilla_qubit: int | Qubit,
                          theta: float) -> None:
    """Append the exact pair collision as three exchange gates (``XXPlusYYGate(2φ)`` = :math:`E(\\varphi)`)."""
    atom_qubits = list(atom_qubits)
    if len(atom_qubits) != 2:
        raise ParameterError(f"Argument `atom_qubits` must hold 2 atoms (the pair circuit), but holds {len(atom_qubits)}.")
    a0, a1 = atom_qubits
    alpha, beta = pair_collision_angles(theta)
    for atom, phi in ((a0, alpha), (a1, beta), (a0, alpha)):
        qc.append(XXPlusYYGate(2.0 * phi, 0.0), [ancilla_qubit, atom])


def pair_collision_circuit(theta: float) -> QuantumCircuit:
    """The pair collision on 3 qubits in QuTiP order (ancilla = qubit 2, atom 0 = qubit 1, atom 1 = qubit 0),
    so that ``Operator(pair_collision_circuit(θ))`` equals :func:`qcharge.protocol.collective_unitary` (2, θ)."""
    qc = QuantumCircuit(3, name=f"Ucoll_pair({float(theta):.4g})")
    append_pair_collision(qc, [1, 0], 2, theta)
    return qc
