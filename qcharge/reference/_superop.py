r"""Small superoperator helpers shared by the probe maps and the charging twin.

Column stacking throughout: :math:`\mathrm{vec}(\rho)_{i + d j} = \rho_{ij}`
(``rho.reshape(-1, order="F")``), so :math:`\mathrm{vec}(A X B) = (B^T \otimes A)\,\mathrm{vec}(X)`:
QuTiP's ``operator_to_vector`` / ``super`` convention. The probe or ancilla is the left-most factor.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..states import SIGMA_MINUS, SIGMA_PLUS, collective_lowering

__all__: list[str] = []  # private helpers only

# Dense 2^(N+1) collision unitaries: N = 10 is a 2048 x 2048 complex matrix (64 MiB).
_MAX_COLLISION_ATOMS = 10


def _vec(rho: np.ndarray) -> np.ndarray:
    """Column-stacking vectorisation (QuTiP ``operator_to_vector``).

    Example:
        >>> _vec(np.array([[1, 2], [3, 4]])).tolist()
        [1, 3, 2, 4]
    """
    return np.asarray(rho).reshape(-1, order="F")


def _unvec(v: np.ndarray, dim: int) -> np.ndarray:
    """Inverse of :func:`_vec` for a ``dim x dim`` matrix."""
    return np.asarray(v).reshape(dim, dim, order="F")


def _spre_spost(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    r"""Superoperator of :math:`X \mapsto A X B` (column stacking): :math:`B^T \otimes A`."""
    return np.kron(right.T, left)


def _dissipator(op: np.ndarray) -> np.ndarray:
    r""":math:`D[L]\rho = L\rho L^\dagger - \tfrac12\{L^\dagger L, \rho\}` as a column-stacking superoperator."""
    ld = op.conj().T
    eye = np.eye(op.shape[0])
    ldl = ld @ op
    return _spre_spost(op, ld) - 0.5 * _spre_spost(ldl, eye) - 0.5 * _spre_spost(eye, ldl)


def _n_qubits(dim: int) -> int:
    """Number of qubits of a power-of-two dimension."""
    return dim.bit_length() - 1


@lru_cache(maxsize=16)
def _coupling_eigh(n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Eigen-decomposition of :math:`V = \sigma_+^a J_- + \sigma_-^a J_+` (ancilla/probe = left-most factor).

    Cached: every U(θ) for the same N reuses it, and eigh keeps U unitary to round-off.
    """
    jm = collective_lowering(n_atoms)
    v = np.kron(SIGMA_PLUS, jm) + np.kron(SIGMA_MINUS, jm.conj().T)
    w, vecs = np.linalg.eigh(v)
    w.setflags(write=False)
    vecs.setflags(write=False)
    return w, vecs


def _collective_unitary(n_atoms: int, theta: float) -> np.ndarray:
    r""":math:`U = \exp[-i\theta(\sigma_+^a J_- + \sigma_-^a J_+)]` from the cached :func:`_coupling_eigh`."""
    w, vecs = _coupling_eigh(n_atoms)
    return (vecs * np.exp(-1j * theta * w)) @ vecs.conj().T
