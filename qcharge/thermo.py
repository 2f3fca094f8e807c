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
from .exceptions import ParameterError
from .states import excitation_numbers

__all__ = [
    "energy",
    "heat",
    "excitation_number",
    "TEFF_RATIO_RTOL",
    "temperature_from_ratio",
    "effective_temperature",
]

# A population (or rate) ratio p_e/p_g within this relative distance of 1 is "equal within round-off"
# and gives T_eff = inf (docs/physics.md §4.5). 1e-12 is ~4500 ulp of 1: the ratios reaching here are quotients
# of float64 populations, moments or rates computed by a few dozen operations on O(1) numbers (observed
# error <= 7e-16 for the maximally mixed and T = inf charged clusters, K <= 10), so round-off stays far
# below it, while every finite T_eff < 1e12 omega (ratio 1 - omega/T) is still reported as finite.
# Callers whose inputs are less accurate (a steady state found at small theta) pass their own rtol.
TEFF_RATIO_RTOL = 1e-12


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


def temperature_from_ratio(
    up: float, down: float, omega: float = 1.0, *, rtol: float = TEFF_RATIO_RTOL, what: str = "up, down"
) -> float:
    r"""The one home of the T_eff branches: :math:`\mathrm{up}/\mathrm{down} = p_e/p_g = e^{-\omega/T}`.

    ``up``/``down`` are the weights (populations or rates) of :math:`|e\rangle` and :math:`|g\rangle`;
    :math:`T = \omega/\ln(\mathrm{down}/\mathrm{up})`. Branches (docs/physics.md §4.5, pitfall 5), never a raw
    log of a ratio <= 0:

    * ``up = 0`` -> ``0.0`` (:math:`0^+`, probe driven to :math:`|g\rangle`);
    * ``down = 0`` -> ``-0.0`` (:math:`0^-`, probe driven to :math:`|e\rangle`);
    * :math:`|\mathrm{down} - \mathrm{up}| \le \mathrm{rtol}\,\max(\mathrm{up}, \mathrm{down})` -> ``inf``
      (equal within round-off; :math:`\pm\infty` are the same state, :math:`\beta = 0`, reported as ``+inf``);
    * ``up > down`` -> :math:`T < 0` (population inversion).

    Args:
        up: excitation weight >= 0.
        down: de-excitation weight >= 0 (not both zero).
        omega: level spacing > 0.
        rtol: relative round-off of the ratio (default :data:`TEFF_RATIO_RTOL`).
        what: argument name(s) for error messages.

    Example:
        >>> temperature_from_ratio(1.0, 1.0 + 1e-15)   # equal within round-off
        inf
        >>> round(temperature_from_ratio(1.0, 2.0), 12)   # T = 1/ln 2
        1.442695040889
    """
    up = check_real(what, up, minimum=0.0)
    down = check_real(what, down, minimum=0.0)
    omega = check_real("omega", omega, minimum=0.0, strict_min=True)
    rtol = check_real("rtol", rtol, minimum=0.0)
    if up == 0.0 and down == 0.0:
        raise ParameterError(f"Arguments `{what}` must not both be zero (no population ratio), but are 0 and 0.")
    if up == 0.0:
        return 0.0
    if down == 0.0:
        return -0.0
    if abs(down - up) <= rtol * max(up, down):
        return math.inf
    return omega / (math.log(down) - math.log(up))


def effective_temperature(p_excited: float, omega: float = 1.0, *, rtol: float = TEFF_RATIO_RTOL) -> float:
    r"""Temperature of a qubit with excited population :math:`p_e`: :math:`p_e/p_g = e^{-\omega/T_\mathrm{eff}}`.

    Branches of :func:`temperature_from_ratio`: :math:`p_e = 0 \to 0^+` (``0.0``),
    :math:`p_e = 1 \to 0^-` (``-0.0``), :math:`p_e = 1/2` within round-off :math:`\to +\infty`,
    :math:`p_e > 1/2 \to T_\mathrm{eff} < 0` (population inversion).

    Example:
        >>> effective_temperature(0.5 + 1.1e-16)   # the maximally mixed probe, one ulp off
        inf
        >>> round(effective_temperature(1 / (1 + math.e)), 12)
        1.0
    """
    # Sampled estimates may land a hair outside [0, 1]; anything further is a caller bug.
    p = check_real("p_excited", p_excited, minimum=-1e-9, maximum=1 + 1e-9)
    p = min(max(p, 0.0), 1.0)
    return temperature_from_ratio(p, 1.0 - p, omega, rtol=rtol, what="p_excited")
