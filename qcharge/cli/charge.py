"""``qcharge charge``: exact collective charging, coherence, energy and heat versus time."""

from __future__ import annotations

import math

import numpy as np

from ..exceptions import ParameterError
from ..params import Atoms, Bath
from ..reference.charging import METHODS
from ._common import NAN_NOTE, add_bath_args, add_initial_args, add_l1_max_atoms_arg, emit, initial_from, load_matrix, output_file, progress

__all__ = ["add_parser", "run", "DEFAULT_TIMES"]

DEFAULT_TIMES = (0.0, 1.0, 5.0, 20.0)


def add_parser(sub) -> None:
    p = sub.add_parser("charge", help="exact collective charging: coherence, energy, heat versus time")
    p.add_argument("--atoms", "-N", type=int, required=True, help="number of atoms N (required)")
    add_bath_args(p)
    add_initial_args(p)
    p.add_argument("--gamma12", type=float, default=None, help="cross decay rate of a pair (needs N = 2), |gamma12| <= 1 (default: gamma12 = gamma, Dicke limit)")
    p.add_argument("--dipolar", type=float, default=0.0, help="uniform dipole coupling Omega_ij (default 0)")
    p.add_argument("--gamma-matrix", default=None, metavar="FILE.json", help="JSON nested list: N x N decay matrix gamma_ij (default: all ones, Dicke limit)")
    p.add_argument("--dipolar-matrix", default=None, metavar="FILE.json", help="JSON nested list: N x N couplings Omega_ij (default: --dipolar off the diagonal)")
    p.add_argument("--times", type=float, nargs="+", default=None,
                   help="ascending times in units of 1/gamma (default 0 1 5 20; only 0 at T = inf)")
    p.add_argument("--long-time", action="store_true", help="also the t -> infinity state (after the --times rows)")
    p.add_argument("--method", choices=list(METHODS), default="auto",
                   help="dicke: J-multiplet solver, any N; permutation: uniform off-diagonal gamma_ij, Omega_ij, "
                        "O(N^3) space, N <= ~100; full: 4^N master equation, N <= ~12, any gamma_ij, Omega_ij, "
                        "initial state; auto (default): dicke, else permutation, else full, whichever applies first")
    p.add_argument("--max-memory-gb", type=float, default=2.0, metavar="GB",
                   help="memory cap of the full-space and permutation solvers, checked before allocating (default 2)")
    add_l1_max_atoms_arg(p)
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="draw C_l1, C_re and heat versus time into this file (default: no figure)")
    p.set_defaults(func=run)


def _times(args) -> list[float]:
    """--times, else the defaults (also with --long-time: its help says "also")."""
    if args.times is None:
        # At T = inf the rates gamma*nbar are infinite: only t = 0 (and t -> inf) have a state.
        return [0.0] if math.isinf(args.temperature) else list(DEFAULT_TIMES)
    if math.isinf(args.temperature) and any(0 < t < math.inf for t in args.times):
        raise ParameterError(
            "Argument `--times` must be 0 at T = inf (the rates gamma*nbar are infinite), "
            f"but is {args.times}; add --long-time for the t -> infinity state."
        )
    return args.times


def run(args) -> int:
    from ..reference.charging import charge

    if args.plot:
        from ..plot import figure_path

        args.plot = output_file("--plot", figure_path("--plot", args.plot))
    if args.gamma_matrix and args.gamma12 is not None:
        raise ParameterError("Arguments `--gamma12` and `--gamma-matrix` are exclusive, but both were given.")
    gm = load_matrix(args.gamma_matrix, "gamma_matrix") if args.gamma_matrix else None
    om = load_matrix(args.dipolar_matrix, "dipolar_matrix") if args.dipolar_matrix else None
    if args.gamma12 is not None:
        if args.atoms != 2:
            raise ParameterError(f"Argument `--gamma12` needs --atoms 2, but atoms = {args.atoms}.")
        if om is not None:
            raise ParameterError("Arguments `--gamma12` and `--dipolar-matrix` are exclusive (use --dipolar), but both were given.")
        atoms = Atoms.pair(args.gamma12, args.dipolar, omega=args.omega)
    elif gm is None and om is None:
        atoms = Atoms.dicke(args.atoms, omega=args.omega, dipolar=args.dipolar)
    else:
        atoms = Atoms(args.atoms, omega=args.omega, gamma_matrix=gm, dipolar_matrix=om)
    bath = Bath(args.temperature, args.omega)
    times = _times(args)
    trace = charge(atoms, bath, initial_from(args), times, long_time=args.long_time, method=args.method,
                   l1_max_atoms=args.l1_max_atoms, max_memory_gb=args.max_memory_gb, progress=progress(args))
    text = str(trace)
    if any(math.isnan(row[2]) for row in trace.rows()):
        text += "\n" + NAN_NOTE
    if args.plot:
        from ..plot import curves_figure

        l1 = trace.coherence_l1
        # Plain C_l1 while it fits a float (all of t = 0 shows), log10 for the huge values of large N.
        first = ("$C_{l1}$", l1) if np.all(np.isfinite(l1)) else ("log10 $C_{l1}$", trace.log10_coherence_l1)
        curves = dict([first, ("$C_{re}$ (nats)", trace.coherence_re), ("heat ΔQ / ω", trace.heat)])
        title = f"N = {atoms.n}, T = {bath.temperature}, {trace.method} solver"
        text += f"\nfigure: {curves_figure(trace.times, curves, xlabel='γt', title=title, path=args.plot)}"
    emit(args, trace.to_dict(), text)
    return 0
