"""``qcharge harvest``: a probe colliding with coherent clusters, its steady-state T_eff."""

from __future__ import annotations

import numpy as np

from ..exceptions import ParameterError
from ..params import Bath, Harvest
from ._common import add_bath_args, add_initial_args, emit, initial_from, table

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("harvest", help="probe atom colliding with coherent clusters: T_eff")
    p.add_argument("--cluster", required=True, help="charged | dephased | FILE.npy (QuTiP-order density matrix)")
    add_bath_args(p)
    add_initial_args(p, with_eg=False)
    p.add_argument("--cluster-size", type=int, default=2)
    p.add_argument("--theta", type=float, default=0.5, help="probe-cluster exchange angle")
    p.add_argument("--rate", type=float, default=1.0, help="Poisson collision rate r")
    p.add_argument("--probe-gamma", type=float, default=0.0, help="probe damping rate to its own bath")
    p.add_argument("--probe-temperature", type=float, default=None, help="temperature of the probe's own bath")
    p.set_defaults(func=run)


def run(args) -> int:
    from .._checks import check_density_matrix
    from ..reference.harvest import harvest_summary, make_cluster

    bath = Bath(args.temperature, args.omega)
    if (args.probe_gamma > 0) != (args.probe_temperature is not None):
        raise ParameterError(
            "Arguments `--probe-gamma` and `--probe-temperature` describe the probe's own bath and go together, "
            f"but got probe_gamma={args.probe_gamma}, probe_temperature={args.probe_temperature}."
        )
    harvest = Harvest(
        theta=args.theta,
        rate=args.rate,
        cluster_size=args.cluster_size,
        probe_gamma=args.probe_gamma,
        probe_temperature=args.probe_temperature or 0.0,
    )
    if args.cluster.endswith(".npy"):
        try:
            rho = np.load(args.cluster, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ParameterError(f"Argument `cluster` must be a readable .npy file, but {exc}") from None
        rho = check_density_matrix("cluster", rho, args.cluster_size)
    else:
        rho = make_cluster(args.cluster, bath, initial_from(args), args.cluster_size)
    res = harvest_summary(rho, harvest, args.omega)
    rows = [[k, v] for k, v in res.items()]
    emit(args, res, table(["quantity", "value"], rows))
    return 0
