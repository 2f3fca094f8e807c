"""``qcharge harvest``: a probe colliding with coherent clusters, its steady-state T_eff."""

from __future__ import annotations

import numpy as np

from ..exceptions import ParameterError
from ..params import Bath, Harvest
from ..reference.probe import MAX_CLUSTER_ATOMS
from ._common import add_bath_args, add_initial_args, emit, initial_from

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("harvest", help="probe atom colliding with coherent clusters: T_eff")
    p.add_argument("--cluster", required=True, help="charged | dephased | FILE.npy (QuTiP-order density matrix) (required)")
    add_bath_args(p)
    add_initial_args(p, with_eg=False)
    p.add_argument("--cluster-size", type=int, default=2, metavar="K",
                   help=f"atoms per cluster K, 2 <= K <= {MAX_CLUSTER_ATOMS} (default 2)")
    p.add_argument("--theta", type=float, default=0.5, help="probe-cluster exchange angle, 0 < theta <= pi (default 0.5)")
    p.add_argument("--rate", type=float, default=1.0, help="Poisson collision rate r, units of gamma (default 1)")
    p.add_argument("--probe-gamma", type=float, default=None,
                   help="probe damping rate to its own bath (with --probe-temperature; default: no probe bath)")
    p.add_argument("--probe-temperature", type=float, default=None,
                   help="temperature of the probe's own bath (with --probe-gamma; default: no probe bath)")
    p.set_defaults(func=run)


def run(args) -> int:
    from .._checks import check_density_matrix
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
    k = args.cluster_size
    if k > MAX_CLUSTER_ATOMS:
        # Checked here, before the cluster's dense 2^K x 2^K state is built (whose check says `atoms`).
        gib = 16 * 4.0 ** (k + 1) / 2**30
        raise ParameterError(
            f"Argument `--cluster-size` must be <= {MAX_CLUSTER_ATOMS} (the probe-cluster collision is a dense "
            f"2^(K+1) x 2^(K+1) unitary), but is {k} (that unitary alone would need {gib:.3g} GiB)."
        )
    harvest = Harvest(
        theta=args.theta,
        rate=args.rate,
        cluster_size=k,
        probe_gamma=args.probe_gamma or 0.0,
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
    summary = harvest_summary(rho, harvest, args.omega)
    emit(args, summary.to_dict(), str(summary))
    return 0
