r"""Small superoperator helpers shared by the probe maps and the charging twin.

Column stacking throughout: :math:`\mathrm{vec}(\rho)_{i + d j} = \rho_{ij}`
(``rho.reshape(-1, order="F")``), so :math:`\mathrm{vec}(A X B) = (B^T \otimes A)\,\mathrm{vec}(X)`:
QuTiP's ``operator_to_vector`` / ``super`` convention. The probe or ancilla is the left-most factor.
"""

from __future__ import annotations

import numpy as np

__all__: list[str] = []  # private helpers only


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
