r"""Energy, heat and effective temperature: pure functions of states.

:math:`E = \mathrm{Tr}[H_0\rho] = \omega\langle\hat N\rangle`; the Hamiltonian is time independent and
commutes with the dipole term, so no work is done and the heat drawn from the bath is
:math:`\Delta Q(t) = E(t) - E(0)` (first law).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_real
from .states import excitation_numbers

__all__ = ["energy", "heat", "excitation_number", "effective_temperature"]


def excitation_number(rho: ArrayLike) -> float:
    r""":math:`\langle\hat N\rangle = \sum_s |s|\,\rho_{ss}`."""
    rho = np.asarray(rho, dtype=complex)
    n = int(round(np.log2(rho.shape[0])))
    return float(np.real(np.diag(rho)) @ excitation_numbers(n))


def energy(rho: ArrayLike, omega: float = 1.0) -> float:
    r""":math:`E = \omega\langle\hat N\rangle`."""
    return omega * excitation_number(rho)


def heat(rho: ArrayLike, rho0: ArrayLike, omega: float = 1.0) -> float:
    r""":math:`\Delta Q = E(\rho) - E(\rho_0)` (heat drawn from the bath; no work is done)."""
    return energy(rho, omega) - energy(rho0, omega)


def effective_temperature(p_excited: float, omega: float = 1.0) -> float:
    r"""Temperature of a qubit with excited population :math:`p_e`: :math:`p_e/p_g = e^{-\omega/T_\mathrm{eff}}`.

    Branches (PHYSICS.md §4): :math:`p_e = 0 \to 0^+` (``0.0``), :math:`p_e = 1 \to 0^-` (``-0.0``),
    :math:`p_e = 1/2 \to +\infty`, :math:`p_e > 1/2 \to T_\mathrm{eff} < 0` (population inversion).
    Never a raw log of a ratio <= 0.
    """
    # Sampled estimates may land a hair outside [0, 1]; anything further is a caller bug.
    p = check_real("p_excited", p_excited, minimum=-1e-9, maximum=1 + 1e-9)
    p = min(max(p, 0.0), 1.0)
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return -0.0
    if p == 0.5:
        return math.inf
    return omega / math.log((1.0 - p) / p)
