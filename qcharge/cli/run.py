"""``qcharge run charge | harvest``: the experiments as Qiskit circuits beside exact theory."""

from __future__ import annotations

import argparse

from .._checks import check_int, check_real
from ..exceptions import ParameterError
from ..params import ANCILLA_METHODS, ORDERINGS, Atoms, Bath, Harvest
from ..records import RecordStore
from .runs import add_runs_dir_arg, ledger_run, wants_ledger
from ._common import (
    OneLineParser,
    add_bath_args,
    add_circuit_args,
    add_initial_args,
    add_suppression_args,
    backend_from,
    emit,
    initial_from,
    load_matrix,
    idle_noise_from,
    progress,
    suppression_from,
)

__all__ = ["add_parser", "run_charge", "run_harvest", "DEFAULT_SHOTS"]

DEFAULT_SHOTS = 4000


def add_parser(sub) -> None:
    run = sub.add_parser("run", help="run an experiment as Qiskit circuits and compare with exact theory")
    run_sub = run.add_subparsers(dest="experiment", required=True, parser_class=OneLineParser)
    p = run_sub.add_parser("charge", help="charging circuit vs master equation and NumPy twin")
    p.add_argument("--atoms", "-N", type=int, required=True, help="number of atoms N (required)")
    add_bath_args(p, inf_allowed=False)
    add_initial_args(p, with_eg=False)
    p.add_argument("--theta", type=float, default=None, help="atom-ancilla exchange angle (required without --plan)")
    p.add_argument("--collisions", type=int, default=None,
                   help="number of collisions n, t = n dt (required without --plan)")
    p.add_argument("--plan", choices=["best"], default=None,
                   help="take theta, collisions, ordering and ancilla from `qcharge plan` on --backend (top protocol; default: none)")
    p.add_argument("--ordering", choices=list(ORDERINGS), default=None,
                   help="order of the atom-ancilla exchanges in one collision: palindromic (Strang), fitted "
                        "(the same gates, angles fitted to the exact collision; N <= 6), exact, ... (default palindromic)")
    p.add_argument("--ancilla", choices=list(ANCILLA_METHODS), default=None,
                   help="how the thermal ancilla is prepared: purify (exact channel, one CX and a partner qubit), "
                        "enumerate (every coin pattern, one circuit each, weighted by its probability: exact, "
                        "no partner; collisions <= 8), measure or coin (exact on average; need --shots) (default purify)")
    p.add_argument("--shots", type=int, default=None,
                   help=f"shots per tomography setting (default {DEFAULT_SHOTS}; not with --exact; --ancilla "
                        "enumerate splits them over the coin patterns in proportion to their probabilities)")
    p.add_argument("--exact", action="store_true", help="exact density-matrix run (no shots)")
    add_circuit_args(p)
    add_layout_arg(p, "the noise-aware choice, or the plan's with --plan best")
    add_suppression_args(p)
    add_runs_dir_arg(p)
    add_mitigate_arg(p)
    p.set_defaults(func=run_charge)

    p = run_sub.add_parser("harvest", help="probe-pair random collisions vs exact Poisson-averaged dynamics")
    add_bath_args(p, inf_allowed=False)
    add_initial_args(p, with_eg=False)
    p.add_argument("--cluster", required=True,
                   help="pairs prepared charged, dephased, charged inside the circuit (pipeline), charged "
                        "inside the circuit then dephased by random virtual Z gates (pipeline-dephased), or the "
                        "pair state in FILE.npy (e.g. from `charge --save-state`) (required)")
    p.add_argument("--theta", type=float, default=0.5, help="probe-pair exchange angle (default 0.5)")
    p.add_argument("--rate", type=float, default=1.0, help="Poisson collision rate r, units of gamma (default 1)")
    p.add_argument("--time", type=float, default=10.0, help="evolution time t, units of 1/gamma (default 10)")
    p.add_argument("--instances", type=int, default=40, help="Poisson realisations, one circuit each (default 40)")
    p.add_argument("--shots", type=int, default=None, help="shots per setting and instance (default: exact)")
    p.add_argument("--coupling", default=None, metavar="FILE.json",
                   help="JSON list [g_1, g_2] of the probe's relative coupling to each pair atom (default [1, 1]: "
                        "collective; [1, 0] couples one atom only, one exchange gate per collision)")
    p.add_argument("--plan", choices=["best"], default=None,
                   help="pipeline clusters: charge the pairs with the top `qcharge plan --target teff` protocol on "
                        "--backend (it pins --pipeline-* and --layout; planned for the default theta, rate, time) "
                        "(default: none)")
    p.add_argument("--pipeline-theta", type=float, default=None,
                   help="pipeline clusters: atom-ancilla angle of the in-circuit charging (default 0.3, with "
                        "collisions for gamma t = 5)")
    p.add_argument("--pipeline-collisions", type=int, default=None,
                   help="pipeline clusters: number of charging collisions (with --pipeline-theta; default: gamma t = 5)")
    p.add_argument("--pipeline-ordering", choices=list(ORDERINGS), default=None,
                   help="pipeline clusters: ordering of the charging collisions (with --pipeline-theta; default palindromic)")
    add_circuit_args(p)
    add_layout_arg(p, "the noise-aware choice on the first instance, kept for all")
    add_suppression_args(p)
    add_runs_dir_arg(p)
    add_mitigate_arg(p)
    p.set_defaults(func=run_harvest)


def layout_arg(text: str) -> list[int]:
    """``--layout 3,5,4``: physical qubits, comma separated."""
    try:
        qubits = [int(q) for q in text.split(",")]
    except ValueError:
        qubits = []
    if not qubits or any(q < 0 for q in qubits):
        raise argparse.ArgumentTypeError(f"must be physical qubits as Q0,Q1,... (non-negative integers), but is {text!r}")
    return qubits


def add_layout_arg(p, default: str) -> None:
    p.add_argument("--layout", type=layout_arg, default=None, metavar="Q0,Q1,...",
                   help=f"physical qubit of each circuit qubit on a noisy backend (default: {default})")


def add_mitigate_arg(p) -> None:
    p.add_argument("--mitigate", action="store_true",
                   help="readout mitigation: calibrate the measured qubits in the same job and add `mitigated` "
                        "(needs shots; default off)")


def run_charge(args) -> int:
    from ..experiments import run_charge as experiment
    from ..execute import error_suppression
    from ..params import Collision

    suppression = suppression_from(args)  # checked before a ledger run is recorded
    if wants_ledger(args):
        return ledger_run(args)

    if args.exact and args.shots is not None:
        raise ParameterError(
            f"Argument `--shots` must not be given with --exact (an exact run takes no shots), but is {args.shots}."
        )
    shots = None if args.exact else (DEFAULT_SHOTS if args.shots is None else args.shots)
    backend = backend_from(args)
    theta, collisions, ordering, ancilla = args.theta, args.collisions, args.ordering, args.ancilla
    layout = getattr(args, "layout", None)  # pinned (--layout, or by the ledger: the qubits the submitted jobs ran on)
    if args.plan is not None:
        given = [flag for flag, v in (("--theta", theta), ("--collisions", collisions), ("--ordering", ordering),
                                      ("--ancilla", ancilla)) if v is not None]
        if given:
            raise ParameterError(f"Argument `--plan` must not be given with {', '.join(given)} (the plan sets "
                                 "theta, collisions, ordering and ancilla), but was.")
        from .plan import best_protocol

        best = best_protocol(backend, args.atoms, args.temperature, initial_from(args), args.seed,
                             idle_noise_from(args))
        theta, collisions, ordering, ancilla = best.theta, best.collisions, best.ordering, best.ancilla
        layout = layout or (None if best.layout is None else list(best.layout))
        # The plan depends on the device's calibration of today: pin what it chose in the arguments,
        # so that the ledger stores it and a later fetch rebuilds these circuits, not a new plan's.
        args.plan, args.theta, args.collisions, args.ordering, args.ancilla = None, theta, collisions, ordering, ancilla
        args.layout = layout
    elif theta is None or collisions is None:
        raise ParameterError("Argument `--theta` and `--collisions` must be given (or --plan best), but "
                             f"--theta = {theta}, --collisions = {collisions}.")
    else:
        ordering, ancilla = ordering or "palindromic", ancilla or "purify"
    job_store = RecordStore(args.job_store, argument="--job-store") if args.job_store else None
    with error_suppression(suppression):  # the runtime sampler's DD / twirling (default off)
        res = experiment(
            Atoms(args.atoms, omega=args.omega),
            Bath(args.temperature, args.omega),
            initial_from(args),
            Collision(theta, ordering, ancilla),
            collisions,
            backend=backend,
            shots=shots,
            exact=args.exact,
            seed=args.seed,
            job_store=job_store,
            layout=layout,
            mitigate=args.mitigate,
            progress=progress(args),
            counts_source=getattr(args, "counts_source", None),  # set by qcharge.ledger (submit / fetch / --runs-dir)
            idle_noise=idle_noise_from(args),
        )
    emit(args, res.to_dict(), str(res))
    return 0


def run_harvest(args) -> int:
    from ..execute import error_suppression
    from ..experiments import run_harvest as experiment

    suppression = suppression_from(args)  # checked before a ledger run is recorded
    if wants_ledger(args):
        return ledger_run(args)

    from .harvest import cluster_state

    from ..experiments import HARVEST_CLUSTERS

    if not args.cluster.endswith(".npy") and args.cluster not in HARVEST_CLUSTERS:
        raise ParameterError(
            f"Argument `--cluster` must be {', '.join(HARVEST_CLUSTERS)} or a FILE.npy, but is {args.cluster!r}."
        )
    rho = cluster_state(args, 2)  # the file's pair state, validated before any circuit is built
    charging, layout = _pipeline_protocol(args)
    job_store = RecordStore(args.job_store, argument="--job-store") if args.job_store else None
    with error_suppression(suppression):  # the runtime sampler's DD / twirling (default off)
        res = experiment(
            Bath(args.temperature, args.omega),
            initial_from(args),
            args.cluster if rho is None else rho,
            Harvest(theta=args.theta, rate=args.rate,
                    coupling=None if args.coupling is None else load_matrix(args.coupling, "--coupling").tolist()),
            args.time,
            instances=args.instances,
            backend=backend_from(args),
            shots=args.shots,
            seed=args.seed,
            job_store=job_store,
            layout=layout,
            charging=charging,
            mitigate=args.mitigate,
            progress=progress(args),
            counts_source=getattr(args, "counts_source", None),  # set by qcharge.ledger (submit / fetch / --runs-dir)
            idle_noise=idle_noise_from(args),
        )
    emit(args, res.to_dict(), str(res))
    return 0


def _pipeline_protocol(args):
    """(``charging`` of the pipeline clusters or None, layout) from --plan / --pipeline-* / --layout.

    ``--plan best`` writes the plan's choice back into ``args`` (as run charge does), so that the
    ledger pins it and a later fetch rebuilds these circuits instead of planning anew.
    """
    from ..params import Collision

    layout = getattr(args, "layout", None)  # pinned (--layout, or by the ledger: the qubits the jobs ran on)
    plan, theta, n = getattr(args, "plan", None), getattr(args, "pipeline_theta", None), getattr(args, "pipeline_collisions", None)
    ordering = getattr(args, "pipeline_ordering", None)
    given = [flag for flag, v in (("--plan", plan), ("--pipeline-theta", theta), ("--pipeline-collisions", n),
                                  ("--pipeline-ordering", ordering)) if v is not None]
    if given and args.cluster not in ("pipeline", "pipeline-dephased"):
        raise ParameterError(f"Argument `{given[0]}` needs --cluster pipeline or pipeline-dephased (pairs charged in "
                             f"the circuit), but --cluster is {args.cluster!r}.")
    if plan is not None:
        if len(given) > 1:
            raise ParameterError(f"Argument `--plan` must not be given with {', '.join(given[1:])} (the plan sets "
                                 "the charging protocol), but was.")
        from ..planner import plan as plan_protocols

        best = plan_protocols(backend_from(args), 2, args.temperature, initial=initial_from(args), target="teff",
                              top=1, seed=args.seed, idle_noise=idle_noise_from(args))[0]
        args.plan, args.pipeline_theta, args.pipeline_collisions = None, best.theta, best.collisions
        args.pipeline_ordering = best.ordering
        layout = layout or (None if best.layout is None else list(best.layout))
        args.layout = layout
        return (Collision(best.theta, best.ordering, best.ancilla), best.collisions), layout
    if (theta is None) != (n is None) or (ordering is not None and theta is None):
        raise ParameterError("Arguments `--pipeline-theta` and `--pipeline-collisions` go together (and "
                             f"--pipeline-ordering needs them), but --pipeline-theta = {theta}, --pipeline-collisions = {n}.")
    if theta is None:
        return None, layout
    check_real("--pipeline-theta", theta, minimum=0.0, strict_min=True)
    check_int("--pipeline-collisions", n, minimum=1)
    return (Collision(theta, ordering or "palindromic"), n), layout
