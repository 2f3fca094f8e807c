"""``qcharge harvest``: a probe colliding with coherent clusters, its steady-state T_eff."""

from __future__ import annotations

import argparse

import numpy as np

from ..exceptions import ParameterError
from ..params import Bath, Harvest
from ..reference.probe import MAX_CLUSTER_ATOMS
from ._common import add_bath_args, add_initial_args, emit, initial_from, load_matrix

__all__ = ["add_parser", "run", "cluster_state"]


def add_parser(sub) -> None:
    p = sub.add_parser("harvest", help="probe atom colliding with coherent clusters: T_eff")
    p.add_argument("--cluster", required=True,
                   help="charged | dephased | optimal (same populations, the coherence that maximises T_eff) | "
                        "optimal-energy (same energy, ditto) | FILE.npy (a K-atom QuTiP-order density matrix, e.g. from "
                        "`charge --save-state`; K is read from it) (required)")
    add_bath_args(p)
    add_initial_args(p, with_eg=False)
    p.add_argument("--cluster-size", type=int, default=2, metavar="K", action=_Given,
                   help=f"atoms per cluster K, 2 <= K <= {MAX_CLUSTER_ATOMS} (default 2, or the size of --cluster FILE.npy)")
    p.add_argument("--theta", type=float, default=0.5, help="probe-cluster exchange angle, 0 < theta <= pi (default 0.5)")
    p.add_argument("--rate", type=float, default=1.0, help="Poisson collision rate r, units of gamma (default 1)")
    p.add_argument("--probe-gamma", type=float, default=None,
                   help="probe damping rate to its own bath (with --probe-temperature; default: no probe bath)")
    p.add_argument("--probe-temperature", type=float, default=None,
                   help="temperature of the probe's own bath (with --probe-gamma; default: no probe bath)")
    p.add_argument("--coupling", default=None, metavar="FILE.json",
                   help="JSON list g_i of the probe's relative coupling to each cluster atom (default all ones: the "
                        "collective J+- coupling the paper's T_eff = T needs; [1, 0] couples one atom only)")
    p.set_defaults(func=run)


class _Given(argparse.Action):
    """Store the value and note that it was given: a --cluster FILE.npy sets K unless --cluster-size says otherwise.

    (The default stays 2 in the parser, so what `qcharge sweep` keys a point by does not change.)
    """

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def cluster_state(args, size: int | None = None) -> np.ndarray | None:
    """The --cluster FILE.npy state (validated; its K must equal ``size`` when given), else None.

    Shared by ``harvest`` and ``run harvest``; the file replaces the initial-state options.
    """
    from .charge import load_state

    if not args.cluster.endswith(".npy"):
        return None
    for flag, value in (("--initial-state", args.initial_state), ("--initial-temperature", args.initial_temperature)):
        if value is not None:
            raise ParameterError(
                f"Argument `{flag}` must not be given with --cluster FILE.npy (the file is the charged state), "
                f"but is {value!r}."
            )
    rho = load_state("--cluster", args.cluster)
    k = rho.shape[0].bit_length() - 1
    if size is not None and size != k:
        raise ParameterError(
            f"Argument `--cluster` must hold a {size}-atom state (K = {size}), "
            f"but {args.cluster!r} is {rho.shape[0]} x {rho.shape[0]} ({k} atoms)."
        )
    return rho


def run(args) -> int:
    from ..reference.harvest import harvest_summary, make_cluster

    bath = Bath(args.temperature, args.omega)
    given = {"--probe-gamma": args.probe_gamma is not None, "--probe-temperature": args.probe_temperature is not None}
    if len(set(given.values())) > 1:
        missing = next(k for k, v in given.items() if not v)
        present = next(k for k, v in given.items() if v)
        raise ParameterError(
            f"Argument `{missing}` must be given with {present} (together they describe the probe's own bath), "
            "but it is missing."
        )
    rho = cluster_state(args, args.cluster_size if getattr(args, "cluster_size_given", False) else None)
    k = args.cluster_size if rho is None else rho.shape[0].bit_length() - 1
    if k > MAX_CLUSTER_ATOMS:
        # Checked here, before the cluster's dense 2^K x 2^K state is built (whose check says `atoms`).
        gib = 16 * 4.0 ** (k + 1) / 2**30
        raise ParameterError(
            f"Argument `--cluster-size` must be <= {MAX_CLUSTER_ATOMS} (the probe-cluster collision is a dense "
            f"2^(K+1) x 2^(K+1) unitary), but is {k} (that unitary alone would need {gib:.3g} GiB; for "
            "Dicke-diagonal clusters of any K, qcharge.cluster_teff gives T_eff in closed form)."
        )
    harvest = Harvest(
        theta=args.theta,
        rate=args.rate,
        cluster_size=k,
        probe_gamma=args.probe_gamma or 0.0,
        probe_temperature=args.probe_temperature or 0.0,
        coupling=None if args.coupling is None else load_matrix(args.coupling, "--coupling").tolist(),
    )
    if rho is None:
        rho = make_cluster(args.cluster, bath, initial_from(args), k)
    summary = harvest_summary(rho, harvest, args.omega)
    emit(args, summary.to_dict(), str(summary))
    return 0
