r"""Dense 2^N x 2^N density matrix of the Dicke-limit state from its block probabilities (docs/physics.md §2.4), N <= 12."""

from __future__ import annotations

import math

import numpy as np

from ..._checks import check_real
from ...exceptions import ParameterError
from ...params import Atoms, Bath, InitialState
from ...states import excitation_numbers
from .combinatorics import eberlein_matrix
from .dynamics import block_probabilities
from .solve import _physical_inputs

__all__ = ["dicke_density_matrix"]

# Largest N for which a dense 2^N x 2^N matrix is built (2^12 complex = 256 MiB).
_MAX_DENSE_ATOMS = 12


def dicke_density_matrix(atoms: Atoms, bath: Bath, initial: InitialState, t: float) -> np.ndarray:
    r"""Dense density matrix :math:`\rho(t) = \sum_{j,k} c_{j,k}(t)\Pi_{j,k}` (QuTiP order), N <= 12.

    Built from the Johnson-scheme matrix elements (2.4): for :math:`|s| = |s'| = k` at Hamming
    distance 2i, :math:`\langle s|\rho|s'\rangle = \sum_j q_{j,k} P_i(j) / (\binom{N}{k} v_i)`;
    coherences between different k vanish (U(1) covariance). ``t`` is in the units of 1/gamma
    (rates :math:`\gamma(\bar n+1)`, :math:`\gamma\bar n`); ``t = np.inf`` gives the long-time state (2.1).

    Example:
        >>> from qcharge import Atoms, Bath, InitialState
        >>> rho = dicke_density_matrix(Atoms.dicke(2), Bath(1.0), InitialState.thermal(0.5), np.inf)
        >>> round(float(abs(rho[1, 2]) * 2), 10)  # C_l1 = |p_S - p_A| (2.4)
        0.114039966
    """
    n, x, nbar, pe0 = _physical_inputs(atoms, bath, initial)
    if n > _MAX_DENSE_ATOMS:
        raise ParameterError(
            f"Argument `atoms` must have N <= {_MAX_DENSE_ATOMS} for a dense 2^N x 2^N matrix, but N = {n}."
        )
    t = check_real("t", t, minimum=0.0, allow_inf=True)
    q = block_probabilities(n, x, pe0, atoms.gamma * t if np.isfinite(t) else np.inf, nbar)
    return _dense_from_q(n, q)


def _dense_from_q(n: int, q: np.ndarray) -> np.ndarray:
    dim = 2**n
    rho = np.zeros((dim, dim), dtype=complex)
    pops = excitation_numbers(n)
    for k in range(n + 1):
        idx = np.nonzero(pops == k)[0]
        kk = min(k, n - k)
        table = eberlein_matrix(n, kk).astype(float)  # exact integers, < 2^53 for N <= 12
        v = np.array([math.comb(kk, i) * math.comb(n - kk, i) for i in range(kk + 1)], dtype=float)
        element = (table @ q[: kk + 1, k]) / (math.comb(n, k) * v)  # value at half-distance i
        half_dist = np.array([[bin(a ^ b).count("1") // 2 for b in idx] for a in idx], dtype=int)
        rho[np.ix_(idx, idx)] = element[half_dist]
    return rho

