r"""Twin of a harvesting instance whose in-circuit charged pairs are dephased by random Z gates.

Collision i of the instance meets :math:`Z^{f_i}\rho_c Z^{f_i}` (:math:`f_i` = row i of
:func:`qcharge.protocol.dephasing_flips` of the instance's seed), with damping of the probe in between,
exactly as :func:`~qcharge.reference.probe.probe_instance` for a fixed cluster. The probe state is
multilinear in the fresh clusters, so its mean over the independent draws is the instance with every
cluster :math:`\mathrm{diag}(\rho_c)`; the instance mean of the circuits estimates the Poisson-averaged
dynamics (4.3) of the dephased pair.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_density_matrix, check_real
from ..exceptions import ParameterError
from ..params import Harvest
from ..states import local_operator
from .probe import probe_instance

__all__ = ["z_flipped", "flipped_cluster_instance"]

_Z = np.diag([1.0, -1.0]).astype(complex)


def z_flipped(rho: ArrayLike, flips) -> np.ndarray:
    r""":math:`Z^{f}\rho Z^{f}` with :math:`Z^f = \prod_{j: f_j} Z_j` (QuTiP order, atom 0 left-most)."""
    rho = check_density_matrix("rho_cluster", rho)
    k = rho.shape[0].bit_length() - 1
    flips = [bool(f) for f in np.asarray(flips).reshape(-1)]
    if len(flips) != k:
        raise ParameterError(f"Argument `flips` must hold one entry per atom ({k}), but holds {len(flips)}.")
    z = reduce(np.matmul, [local_operator(_Z, j, k) for j, f in enumerate(flips) if f], np.eye(2**k, dtype=complex))
    return z @ rho @ z


def flipped_cluster_instance(rho_cluster: ArrayLike, flips: ArrayLike, harvest: Harvest, collision_times: ArrayLike,
                             total_time: float, *, omega: float = 1.0) -> np.ndarray:
    """Probe state after one instance in which the collision at the i-th smallest time meets
    :func:`z_flipped` (ρ_c, ``flips[i]``); ``flips`` has one row per collision."""
    total_time = check_real("total_time", total_time, minimum=0.0)
    times = np.sort(np.atleast_1d(np.asarray(collision_times, dtype=float)))
    flips = np.asarray(flips, dtype=bool)
    if flips.ndim != 2 or flips.shape[0] != times.size:
        raise ParameterError(f"Argument `flips` must have one row per collision ({times.size}), "
                             f"but has shape {flips.shape}.")
    if times.size and (times[0] < 0 or times[-1] > total_time):
        raise ParameterError(f"Argument `collision_times` must lie in [0, {total_time}], but spans "
                             f"[{times[0]}, {times[-1]}].")
    clusters = {}  # at most 2^K distinct flipped pairs
    rho_p, now = None, 0.0
    for t, row in zip(times, flips):
        key = tuple(row)
        if key not in clusters:
            clusters[key] = z_flipped(rho_cluster, row)
        # Damping over [now, t], then the collision at t (probe_instance's order).
        rho_p = probe_instance(clusters[key], harvest, [t - now], t - now, probe_initial=rho_p, omega=omega)
        now = t
    return probe_instance(rho_cluster, harvest, [], total_time - now, probe_initial=rho_p, omega=omega)
