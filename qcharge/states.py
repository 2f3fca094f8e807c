r"""Basis convention, standard states and small operator helpers (NumPy).

Convention (docs/physics.md §0): :math:`|g\rangle = |0\rangle`, :math:`|e\rangle = |1\rangle`,
:math:`\sigma_- = |g\rangle\langle e|`. Multi-atom operators use the QuTiP order: atom 0 is
the left-most (most significant) tensor factor, so the index of :math:`|s_0 \dots s_{N-1}\rangle`
is :math:`\sum_i s_i 2^{N-1-i}`. Qiskit is little-endian; :func:`from_qiskit_order`
converts a Qiskit density matrix (qubit 0 = atom 0) into this order.

Example: |eg⟩ (atom 0 excited) is index 2 = 0b10 here, index 1 in Qiskit's order.

>>> import numpy as np
>>> from qiskit import QuantumCircuit
>>> from qiskit.quantum_info import DensityMatrix
>>> qc = QuantumCircuit(2)
>>> _ = qc.x(0)                                   # excite atom 0
>>> rho = from_qiskit_order(DensityMatrix(qc).data)
>>> bool(np.allclose(rho, basis_state("10")))
True
"""

from __future__ import annotations

import math

from functools import reduce

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_int, check_real

__all__ = [
    "SIGMA_MINUS",
    "SIGMA_PLUS",
    "NUMBER",
    "excited_probability",
    "mean_occupation",
    "boltzmann_factor",
    "local_operator",
    "collective_lowering",
    "excitation_numbers",
    "thermal_qubit",
    "product_state",
    "thermal_state",
    "ground_state",
    "excited_state",
    "basis_state",
    "eg_state",
    "dicke_state",
    "partial_trace",
    "from_qiskit_order",
]

SIGMA_MINUS = np.array([[0.0, 1.0], [0.0, 0.0]], dtype=complex)  # |g><e| = qutip.destroy(2)
SIGMA_PLUS = SIGMA_MINUS.conj().T
NUMBER = SIGMA_PLUS @ SIGMA_MINUS  # |e><e|


def boltzmann_factor(temperature: float, omega: float = 1.0) -> float:
    r""":math:`x = e^{-\omega/T}` (0 at T = 0, 1 at T = inf).

    >>> boltzmann_factor(1.0), boltzmann_factor(0.0), boltzmann_factor(float("inf"))
    (0.367879, 0.0, 1.0)
    """
    temperature = check_real("temperature", temperature, minimum=0.0, allow_inf=True)
    if temperature == 0.0:
        return 0.0
    # math, not NumPy, for these scalars: NumPy dispatches exp/expm1 to SIMD kernels that differ in the
    # last bit between CPUs (AVX-512 or not), and Δt = θ²/(γ(2n̄+1)) goes into the exported circuits.
    return math.exp(-omega / temperature)


def excited_probability(temperature: float, omega: float = 1.0) -> float:
    r""":math:`p_e(T) = 1/(1+e^{\omega/T}) = \bar n/(2\bar n+1)`; 0 at T = 0, 1/2 at T = inf.

    >>> excited_probability(1.0), excited_probability(float("inf"))
    (0.268941, 0.5)
    """
    x = boltzmann_factor(temperature, omega)
    return x / (1.0 + x)


def mean_occupation(temperature: float, omega: float = 1.0) -> float:
    r""":math:`\bar n(T) = 1/(e^{\omega/T}-1)`; 0 at T = 0, inf at T = inf.

    >>> mean_occupation(1.0), mean_occupation(0.0), mean_occupation(float("inf"))
    (0.581977, 0.0, inf)
    """
    temperature = check_real("temperature", temperature, minimum=0.0, allow_inf=True)
    if temperature == 0.0:
        return 0.0
    if np.isinf(temperature):
        return float("inf")
    y = omega / temperature
    return math.exp(-y) if y > 700.0 else 1.0 / math.expm1(y)  # (math: see boltzmann_factor; expm1 overflows at 710)


def local_operator(op: ArrayLike, site: int, n_atoms: int) -> np.ndarray:
    """``op`` acting on atom ``site`` of ``n_atoms`` (identity elsewhere), QuTiP order."""
    op = np.asarray(op, dtype=complex)
    left = np.eye(2**site)
    right = np.eye(2 ** (n_atoms - site - 1))
    return np.kron(np.kron(left, op), right)


def collective_lowering(n_atoms: int) -> np.ndarray:
    r""":math:`J_- = \sum_i \sigma_-^i` as a dense :math:`2^N \times 2^N` matrix."""
    return sum(local_operator(SIGMA_MINUS, i, n_atoms) for i in range(n_atoms))


def excitation_numbers(n_atoms: int) -> np.ndarray:
    """Excitation number |s| of every computational basis index (order independent).

    >>> excitation_numbers(3).tolist()
    [0, 1, 1, 2, 1, 2, 2, 3]
    """
    idx = np.arange(2**n_atoms)
    return np.array([bin(i).count("1") for i in idx], dtype=int)


def thermal_qubit(temperature: float, omega: float = 1.0) -> np.ndarray:
    r"""diag(1 - p_e, p_e) with :math:`p_e = p_e(T)`."""
    pe = excited_probability(temperature, omega)
    return np.diag([1.0 - pe, pe]).astype(complex)


def product_state(single_atom_states: list[ArrayLike]) -> np.ndarray:
    """Tensor product, first factor = atom 0."""
    return reduce(np.kron, [np.asarray(s, dtype=complex) for s in single_atom_states])


def thermal_state(n_atoms: int, temperature: float, omega: float = 1.0) -> np.ndarray:
    r""":math:`\otimes_i \mathrm{diag}(1-p_e, p_e)`: the product Gibbs state at temperature T.

    >>> import numpy as np
    >>> np.diag(thermal_state(2, 1.0)).real.round(6).tolist()   # (p_g^2, p_g p_e, p_e p_g, p_e^2)
    [0.534447, 0.196612, 0.196612, 0.072329]
    """
    n_atoms = check_int("n_atoms", n_atoms, minimum=1)
    return product_state([thermal_qubit(temperature, omega)] * n_atoms)


def basis_state(bits: str) -> np.ndarray:
    """Projector on a computational basis state, e.g. ``basis_state("10")`` = |eg><eg|."""
    if not bits or set(bits) - {"0", "1"}:
        raise ValueError(f"Argument `bits` must be a non-empty string of 0/1, but is {bits!r}.")
    rho = np.zeros((2 ** len(bits),) * 2, dtype=complex)
    i = int(bits, 2)
    rho[i, i] = 1.0
    return rho


def ground_state(n_atoms: int) -> np.ndarray:
    """|g...g><g...g|."""
    return basis_state("0" * check_int("n_atoms", n_atoms, minimum=1))


def excited_state(n_atoms: int) -> np.ndarray:
    """|e...e><e...e|."""
    return basis_state("1" * check_int("n_atoms", n_atoms, minimum=1))


def eg_state() -> np.ndarray:
    """|eg><eg| for a pair (atom 0 excited)."""
    return basis_state("10")


def dicke_state(n_atoms: int, k: int) -> np.ndarray:
    """Projector on the symmetric Dicke state with k excitations.

    >>> dicke_state(2, 1).real.tolist()     # |S><S|, |S> = (|eg> + |ge>)/sqrt(2)
    [[0.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0], [0.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    n_atoms = check_int("n_atoms", n_atoms, minimum=1)
    k = check_int("k", k, minimum=0, maximum=n_atoms)
    vec = (excitation_numbers(n_atoms) == k).astype(complex)
    vec /= np.linalg.norm(vec)
    return np.outer(vec, vec.conj())


def partial_trace(rho: ArrayLike, keep: list[int] | tuple[int, ...], n_atoms: int) -> np.ndarray:
    """Reduced state on the atoms ``keep`` (kept in increasing order), QuTiP order.

    >>> partial_trace(basis_state("10"), [0], 2).real.tolist()   # atom 0 of |eg> is excited
    [[0.0, 0.0], [0.0, 1.0]]
    """
    rho = np.asarray(rho, dtype=complex)
    keep = sorted(keep)
    tensor = rho.reshape([2] * (2 * n_atoms))
    traced = [i for i in range(n_atoms) if i not in keep]
    # Trace out from the highest index down so the remaining axis numbers stay valid.
    for i in reversed(traced):
        n_now = tensor.ndim // 2
        tensor = np.trace(tensor, axis1=i, axis2=i + n_now)
    d = 2 ** len(keep)
    return tensor.reshape(d, d)


def _reverse_permutation(n_qubits: int) -> np.ndarray:
    idx = np.arange(2**n_qubits)
    rev = np.zeros_like(idx)
    for q in range(n_qubits):
        rev |= ((idx >> q) & 1) << (n_qubits - 1 - q)
    return rev


def from_qiskit_order(rho: ArrayLike) -> np.ndarray:
    """Qiskit little-endian matrix (qubit q = atom q) -> QuTiP order (atom 0 left-most)."""
    rho = np.asarray(rho, dtype=complex)
    n = int(np.log2(rho.shape[0]))
    perm = _reverse_permutation(n)
    return rho[np.ix_(perm, perm)]
