r"""Free-space dipole geometry: collective decay :math:`\gamma_{ij}` and dipole–dipole couplings :math:`\Omega_{ij}`.

Lehmberg, Phys. Rev. A 2, 883 (1970); Ficek & Tanaś, Phys. Rep. 372, 369 (2002), eqs. (9)-(10): for two
identical atoms with a common linear dipole :math:`\hat d` at separation :math:`\mathbf r_{ij}`,
:math:`\xi = k r_{ij} = 2\pi r_{ij}/\lambda` and :math:`\cos\alpha = \hat d\cdot\hat r_{ij}`,

.. math::

    \gamma_{ij} = \gamma F(\xi),\quad
    F = \tfrac32\Big[(1-\cos^2\alpha)\frac{\sin\xi}{\xi}
        + (1-3\cos^2\alpha)\Big(\frac{\cos\xi}{\xi^2}-\frac{\sin\xi}{\xi^3}\Big)\Big]
      = \tfrac32\big[(1-\cos^2\alpha)\,j_0(\xi) - (1-3\cos^2\alpha)\,j_1(\xi)/\xi\big],

    \Omega_{ij} = \gamma G(\xi),\quad
    G = \tfrac34\Big[-(1-\cos^2\alpha)\frac{\cos\xi}{\xi}
        + (1-3\cos^2\alpha)\Big(\frac{\sin\xi}{\xi^2}+\frac{\cos\xi}{\xi^3}\Big)\Big]
      = \tfrac34\big[(1-\cos^2\alpha)\,y_0(\xi) - (1-3\cos^2\alpha)\,y_1(\xi)/\xi\big],

with :math:`\gamma` the single-atom decay rate and :math:`H_\Omega = \sum_{i\neq j}\Omega_{ij}\sigma_+^i\sigma_-^j`
(docs/physics.md §1.1). The spherical-Bessel forms are evaluated with :mod:`scipy.special`, which avoids the
cancellation of the elementary form at small :math:`\xi`: :math:`F \to 1` as :math:`r\to 0` for every
orientation, while :math:`G \simeq \tfrac34(1-3\cos^2\alpha)/\xi^3` diverges (the near-field dipole–dipole
shift), so coincident atoms are refused.

Positions are in units of the wavelength :math:`\lambda = 2\pi c/\omega`.

Which arrangements protect. The coherence charged into a cluster lives in the permutation-symmetric
(J-multiplet) structure, which survives only if :math:`\gamma_{ij}` and :math:`\Omega_{ij}` are uniform
(docs/physics.md §1.1, Dicke limit). With a common linear dipole that needs equal distances **and** equal
angles :math:`\alpha_{ij}`: any pair; the equilateral triangle with the dipole perpendicular to its plane
(an in-plane dipole makes 0°, 60°, 120° with the sides); and nothing for N >= 4 (the regular tetrahedron
is the only equidistant set, and no direction makes equal angles with its six edges; N >= 5 equidistant
points do not exist in 3-D). A chain is never uniform: at 0.01λ its :math:`\Omega_{12}` and
:math:`\Omega_{13}` differ by ~2600γ and C_l1(t = 5) of three atoms from ground at T = ω is 0.312, less
than half the Dicke 0.648, while the triangle keeps 0.641. Even the uniform arrangements protect only
approximately, because :math:`F < 1` at any r > 0: see :func:`qcharge.reference.lifetime.coherence_lifetime`
(a pair at 0.01λ: 470/γ).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import spherical_jn, spherical_yn

from ._checks import check_real
from .exceptions import ParameterError

__all__ = ["DIPOLES", "MIN_DISTANCE", "dipole_vector", "pattern_f", "pattern_g", "pair_matrices"]

#: Named dipole orientations (unit vectors).
DIPOLES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}

#: Smallest separation accepted (in wavelengths). At 1e-6 lambda, |Omega| ~ 3e15 gamma: the atoms overlap,
#: the point-dipole description is meaningless and no integrator resolves such a frequency over 1/gamma.
MIN_DISTANCE = 1e-6


def dipole_vector(dipole: str | ArrayLike) -> np.ndarray:
    """The common dipole orientation as a unit 3-vector: ``'x'``, ``'y'``, ``'z'`` or any non-zero real 3-vector.

    Example:
        >>> dipole_vector("z").tolist(), dipole_vector([1, 1, 0]).round(6).tolist()
        ([0.0, 0.0, 1.0], [0.707107, 0.707107, 0.0])
    """
    if isinstance(dipole, str):
        if dipole not in DIPOLES:
            raise ParameterError(
                f"Argument `dipole` must be one of {list(DIPOLES)} or a real 3-vector, but is {dipole!r}."
            )
        return np.array(DIPOLES[dipole])
    try:
        vec = np.asarray(dipole, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(
            f"Argument `dipole` must be one of {list(DIPOLES)} or a real 3-vector, but is {dipole!r}."
        ) from None
    if vec.shape != (3,) or not np.all(np.isfinite(vec)):
        raise ParameterError(f"Argument `dipole` must be a finite real 3-vector, but is {dipole!r}.")
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:
        raise ParameterError("Argument `dipole` must be a non-zero vector, but is (0, 0, 0).")
    return vec / norm


def _check_xi_cos2(xi: ArrayLike, cos2: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    xi = np.asarray(xi, dtype=float)
    cos2 = np.asarray(cos2, dtype=float)
    if not np.all(np.isfinite(xi)) or np.any(xi <= 0):
        raise ParameterError(f"Argument `xi` must be > 0 (k r of distinct atoms), but contains {np.min(xi)}.")
    if not np.all(np.isfinite(cos2)) or np.any(cos2 < 0) or np.any(cos2 > 1):
        raise ParameterError(f"Argument `cos2` must lie in [0, 1] (cos^2 of an angle), but is {cos2!r}.")
    return xi, cos2


def pattern_f(xi: ArrayLike, cos2: ArrayLike = 0.0) -> np.ndarray:
    r"""Collective-decay pattern :math:`F(\xi) = \tfrac32[(1-\cos^2\alpha)j_0(\xi) - (1-3\cos^2\alpha)j_1(\xi)/\xi]`.

    Args:
        xi: :math:`k r > 0`.
        cos2: :math:`\cos^2\alpha`, the squared cosine between dipole and separation.

    Example:
        >>> round(float(pattern_f(1e-8)), 12), round(float(pattern_f(1e-8, 1.0)), 12)   # F -> 1 as r -> 0
        (1.0, 1.0)
    """
    xi, cos2 = _check_xi_cos2(xi, cos2)
    return 1.5 * ((1.0 - cos2) * spherical_jn(0, xi) - (1.0 - 3.0 * cos2) * spherical_jn(1, xi) / xi)


def pattern_g(xi: ArrayLike, cos2: ArrayLike = 0.0) -> np.ndarray:
    r"""Dipole–dipole pattern :math:`G(\xi) = \tfrac34[(1-\cos^2\alpha)y_0(\xi) - (1-3\cos^2\alpha)y_1(\xi)/\xi]`.

    Diverges as :math:`\tfrac34(1-3\cos^2\alpha)/\xi^3` for :math:`\xi\to 0`.

    Example:
        >>> xi = 1e-3
        >>> round(float(pattern_g(xi) * xi**3), 6)   # near field: 3/4 (1 - 3 cos^2 alpha) / xi^3
        0.75
    """
    xi, cos2 = _check_xi_cos2(xi, cos2)
    return 0.75 * ((1.0 - cos2) * spherical_yn(0, xi) - (1.0 - 3.0 * cos2) * spherical_yn(1, xi) / xi)


def _check_positions(positions: ArrayLike) -> np.ndarray:
    try:
        pos = np.asarray(positions, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(
            f"Argument `positions` must be a list of [x, y, z] per atom (in wavelengths), but is {positions!r}."
        ) from None
    if pos.ndim != 2 or pos.shape[1] != 3 or pos.shape[0] < 1:
        raise ParameterError(
            f"Argument `positions` must have shape (N, 3) with N >= 1 ([x, y, z] per atom), but has shape {pos.shape}."
        )
    if not np.all(np.isfinite(pos)):
        raise ParameterError("Argument `positions` must have finite entries, but has inf or nan.")
    return pos


def pair_matrices(
    positions: ArrayLike, dipole: str | ArrayLike = "z", *, min_distance: float = MIN_DISTANCE
) -> tuple[np.ndarray, np.ndarray]:
    r"""Dimensionless :math:`F_{ij} = \gamma_{ij}/\gamma` and :math:`G_{ij} = \Omega_{ij}/\gamma` at ``positions``.

    Args:
        positions: (N, 3) positions in wavelengths.
        dipole: common dipole orientation (see :func:`dipole_vector`).
        min_distance: refuse pairs closer than this (in wavelengths; :math:`G\propto r^{-3}` diverges).

    Returns:
        ``(F, G)``: real symmetric (N, N) arrays, :math:`F_{ii} = 1`, :math:`G_{ii} = 0`.

    Example:
        >>> f, g = pair_matrices([[0, 0, 0], [0.5, 0, 0]], "z")   # r = lambda/2, dipoles perpendicular
        >>> round(float(f[0, 1]), 6), round(float(g[0, 1]), 6)    # F = -(3/2)/pi^2, G = (3/4)(1/pi - 1/pi^3)
        (-0.151982, 0.214544)
    """
    pos = _check_positions(positions)
    d = dipole_vector(dipole)
    min_distance = check_real("min_distance", min_distance, minimum=0.0, strict_min=True)
    n = pos.shape[0]
    f = np.eye(n)
    g = np.zeros((n, n))
    if n == 1:
        return f, g
    iu, ju = np.triu_indices(n, k=1)
    sep = pos[ju] - pos[iu]
    dist = np.linalg.norm(sep, axis=1)
    close = int(np.argmin(dist))
    if dist[close] < min_distance:
        raise ParameterError(
            f"Argument `positions` must keep atoms at least {min_distance:g} wavelengths apart "
            f"(Omega_ij ~ 1/(k r)^3 diverges), but atoms {iu[close]} and {ju[close]} are {dist[close]:.3g} apart."
        )
    cos2 = np.clip((sep @ d / dist) ** 2, 0.0, 1.0)
    xi = 2.0 * math.pi * dist
    f[iu, ju] = f[ju, iu] = pattern_f(xi, cos2)
    g[iu, ju] = g[ju, iu] = pattern_g(xi, cos2)
    return f, g
