r"""Coherence measures in the computational (product) basis, the eigenbasis of :math:`H_0`.

* l1 norm: :math:`C_{l1}(\rho) = \sum_{s \ne s'} |\rho_{ss'}|`.
* relative entropy: :math:`C_{re}(\rho) = S(\Delta\rho) - S(\rho)` in nats, Δ = dephasing.
* classes (docs/physics.md §3): an element :math:`|s\rangle\langle s'|` has
  :math:`\Delta n = |s| - |s'|`; Δn = 0 are the heat-exchange coherences, ±1 displacement
  ("work-like"), ±2 squeezing, the rest higher order.

Example: the symmetric pair state |S⟩ = (|eg⟩ + |ge⟩)/√2 carries one unit of heat-exchange
coherence and ln 2 nats of relative-entropy coherence; |+⟩ carries displacement coherence only.

>>> import numpy as np
>>> from qcharge.states import dicke_state
>>> rho_s = dicke_state(2, 1)
>>> l1_coherence(rho_s), relative_entropy_coherence(rho_s)   # (1, ln 2)
(1.0, 0.693147)
>>> coherence_classes(np.full((2, 2), 0.5))                   # |+><+|
{'heat_exchange': 0.0, 'displacement': 1.0, 'squeezing': 0.0, 'higher': 0.0}
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._checks import hermitian_eigenvalues
from .states import excitation_numbers

__all__ = [
    "l1_coherence",
    "relative_entropy_coherence",
    "von_neumann_entropy",
    "coherence_classes",
    "heat_exchange_coherence",
    "dephase",
]


def _as_state(rho: ArrayLike) -> np.ndarray:
    rho = np.asarray(rho, dtype=complex)
    if rho.ndim != 2 or rho.shape[0] != rho.shape[1]:
        raise ValueError(f"Argument `rho` must be a square matrix, but has shape {rho.shape}.")
    return rho


def l1_coherence(rho: ArrayLike) -> float:
    r""":math:`C_{l1} = \sum_{s\ne s'} |\rho_{ss'}|`."""
    rho = _as_state(rho)
    return float(np.abs(rho).sum() - np.abs(np.diag(rho)).sum())


def von_neumann_entropy(rho: ArrayLike) -> float:
    r""":math:`S(\rho) = -\mathrm{Tr}\,\rho\ln\rho` (nats); eigenvalues below 1e-15 count as 0."""
    lam = hermitian_eigenvalues(_as_state(rho))
    lam = lam[lam > 1e-15]
    return float(-(lam * np.log(lam)).sum())


def dephase(rho: ArrayLike) -> np.ndarray:
    r""":math:`\Delta\rho`: keep the populations, drop every computational-basis coherence.

    >>> dephase([[0.5, 0.5], [0.5, 0.5]]).real.tolist()
    [[0.5, 0.0], [0.0, 0.5]]
    """
    return np.diag(np.diag(_as_state(rho)))


def relative_entropy_coherence(rho: ArrayLike) -> float:
    r""":math:`C_{re} = S(\Delta\rho) - S(\rho)` (nats), clipped at 0 against round-off."""
    rho = _as_state(rho)
    p = np.real(np.diag(rho))
    p = p[p > 1e-15]
    s_diag = float(-(p * np.log(p)).sum())
    return max(0.0, s_diag - von_neumann_entropy(rho))


def coherence_classes(rho: ArrayLike) -> dict[str, float]:
    r"""l1 coherence split by :math:`|\Delta n|`.

    Returns ``{"heat_exchange": Δn=0, "displacement": |Δn|=1, "squeezing": |Δn|=2,
    "higher": |Δn|>=3}``; the four values sum to :func:`l1_coherence`.
    """
    rho = _as_state(rho)
    n = int(round(np.log2(rho.shape[0])))
    if 2**n != rho.shape[0]:
        raise ValueError(f"Argument `rho` must have a power-of-two dimension, but has {rho.shape[0]}.")
    exc = excitation_numbers(n)
    dn = np.abs(exc[:, None] - exc[None, :])
    mag = np.abs(rho)
    np.fill_diagonal(mag, 0.0)
    return {
        "heat_exchange": float(mag[dn == 0].sum()),
        "displacement": float(mag[dn == 1].sum()),
        "squeezing": float(mag[dn == 2].sum()),
        "higher": float(mag[dn >= 3].sum()),
    }


def heat_exchange_coherence(rho: ArrayLike) -> float:
    """l1 norm of the Δn = 0 (energy-degenerate) coherences."""
    return coherence_classes(rho)["heat_exchange"]
