r"""Harvesting summary: a cluster of K atoms -> probe steady state, T_eff (exact map and second order).

The clusters of the paper: ``charged`` (Dicke-limit long-time state of K atoms at the bath
temperature T, docs/physics.md §2.1) and its ``dephased`` twin (same populations, no coherence); and the
coherence that heats the probe most (docs/physics.md §4.2, :mod:`qcharge.reference.clusters`): ``optimal``
(same populations) and ``optimal-energy`` (same energy).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_density_matrix, check_int
from ..coherence import dephase, l1_coherence
from ..exceptions import ParameterError
from ..params import Bath, Harvest, InitialState
from ..results import HarvestSummary
from ..thermo import effective_temperature
from .probe import (
    _check_cluster_size,
    _fixed_point_rtol,
    _probe_nbar,
    charged_cluster,
    cluster_moments,
    heat_current,
    heat_current_second_order,
    probe_fixed_point,
    teff_second_order,
)

__all__ = ["CLUSTERS", "make_cluster", "harvest_summary"]

CLUSTERS = ("charged", "dephased", "optimal", "optimal-energy")


def make_cluster(kind: str, bath: Bath, initial: InitialState, cluster_size: int = 2) -> np.ndarray:
    """``charged``: Dicke long-time state of K atoms; ``dephased``: its computational-basis diagonal;
    ``optimal`` / ``optimal-energy``: the Dicke-state mixtures of docs/physics.md (4.9) / (4.10).

    Example:
        >>> from qcharge import Bath, InitialState
        >>> from qcharge.coherence import l1_coherence
        >>> pair = make_cluster("charged", Bath(1.0), InitialState())
        >>> round(l1_coherence(pair), 6), l1_coherence(make_cluster("dephased", Bath(1.0), InitialState()))
        (0.244728, 0.0)
    """
    if kind not in CLUSTERS:
        raise ParameterError(f"Argument `cluster` must be one of {list(CLUSTERS)} or a .npy file, but is {kind!r}.")
    k = check_int("cluster_size", cluster_size, minimum=2)
    if kind.startswith("optimal"):
        from .clusters import cluster_density_matrix

        return cluster_density_matrix(kind, k, bath, initial)
    rho = charged_cluster(k, bath, initial)
    return rho if kind == "charged" else dephase(rho)


def harvest_summary(rho_cluster: ArrayLike, harvest: Harvest, omega: float = 1.0) -> HarvestSummary:
    r"""Probe steady state of (4.3) with the exact collision map, and the second-order (4.5) T_eff.

    Returns a :class:`~qcharge.results.HarvestSummary`: ``teff``, ``teff_second_order``, ``probe_excited_population``, the cluster's
    ``coherence_l1``, ``jp_jm`` = :math:`\langle J_+J_-\rangle`, ``jm_jp`` = :math:`\langle J_-J_+\rangle`,
    ``heat_current``, the exact heat flow into the probe :math:`\omega r[M(\rho_p) - \rho_p]_{ee}` at the
    steady state (= the heat the probe passes to its own bath; 0 without probe damping), and
    ``heat_current_second_order``, (4.6) at the same steady state (:math:`2\theta^2/\sin^2(\sqrt2\theta)`
    times the exact one for pairs).

    Example:
        >>> from qcharge import Bath, Harvest, InitialState
        >>> bath = Bath(1.0)
        >>> round(harvest_summary(make_cluster("charged", bath, InitialState()), Harvest(theta=0.5)).teff, 6)
        1.0
        >>> s = harvest_summary(make_cluster("charged", bath, InitialState()),
        ...                     Harvest(theta=1.0, rate=0.5, probe_gamma=1.0, probe_temperature=0.1))
        >>> round(s.heat_current, 4), round(s.heat_current_second_order, 4)
        (0.1016, 0.2083)
    """
    rho_cluster = check_density_matrix("cluster", rho_cluster)
    _check_cluster_size(int(round(np.log2(rho_cluster.shape[0]))), harvest)
    nbar_p = _probe_nbar(harvest, omega)
    probe = probe_fixed_point(
        rho_cluster,
        harvest.theta,
        probe_gamma=harvest.probe_gamma,
        probe_nbar=nbar_p,
        rate=harvest.rate,
        coupling=harvest.coupling,
    )
    pe = float(np.real(probe[1, 1]))
    moments = cluster_moments(rho_cluster, coupling=harvest.coupling)
    return HarvestSummary(
        # the branch test at p_e = 1/2 allows for the steady state's round-off (~eps/theta^2)
        teff=effective_temperature(
            pe, omega, rtol=_fixed_point_rtol(harvest.theta, harvest.rate, harvest.probe_gamma, nbar_p)
        ),
        teff_second_order=teff_second_order(
            rho_cluster,
            rate=harvest.rate,
            theta=harvest.theta,
            probe_gamma=harvest.probe_gamma,
            probe_nbar=nbar_p,
            omega=omega,
            coupling=harvest.coupling,
        ),
        probe_excited_population=pe,
        coherence_l1=l1_coherence(rho_cluster),
        jp_jm=float(np.real(moments["jp_jm"])),
        jm_jp=float(np.real(moments["jm_jp"])),
        heat_current=heat_current(
            rho_cluster, probe, harvest.theta, harvest.rate, omega, coupling=harvest.coupling
        ),
        heat_current_second_order=heat_current_second_order(
            rho_cluster, pe, harvest.theta, harvest.rate, omega, coupling=harvest.coupling
        ),
    )
