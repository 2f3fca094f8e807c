"""``qcharge charge``: exact collective charging, coherence, energy and heat versus time."""

from __future__ import annotations

import math

import numpy as np

from .._checks import check_real
from ..exceptions import ParameterError
from ..params import Atoms, Bath, InitialState
from ..reference.charging import METHODS, default_times
from ._common import NAN_NOTE, add_bath_args, add_initial_args, add_l1_budget_arg, add_l1_max_atoms_arg, emit, initial_from, load_matrix, output_file, progress

__all__ = ["add_parser", "run", "load_state", "MAX_DENSE_DICKE_ATOMS"]

# --save-state with the Dicke method builds the dense 2^N x 2^N state: 16 * 4^12 B = 256 MiB at N = 12.
MAX_DENSE_DICKE_ATOMS = 12
# --save-state with a full-space state: the same default cap as the full-space solver (GB = 1e9 B).
_SAVE_STATE_MAX_GB = 2.0


def add_parser(sub) -> None:
    p = sub.add_parser("charge", help="exact collective charging: coherence, energy, heat versus time")
    p.add_argument("--atoms", "-N", type=int, default=None,
                   help="number of atoms N (required, unless --positions or --distance gives them)")
    add_bath_args(p)
    add_initial_args(p)
    p.add_argument("--gamma12", type=float, default=None, help="cross decay rate of a pair (needs N = 2), |gamma12| <= 1 (default: gamma12 = gamma, Dicke limit)")
    p.add_argument("--dipolar", type=float, default=0.0, help="uniform dipole coupling Omega_ij (default 0)")
    p.add_argument("--gamma-matrix", default=None, metavar="FILE.json", help="JSON nested list: N x N decay matrix gamma_ij (default: all ones, Dicke limit)")
    p.add_argument("--dipolar-matrix", default=None, metavar="FILE.json", help="JSON nested list: N x N couplings Omega_ij (default: --dipolar off the diagonal)")
    geo = p.add_argument_group("free-space geometry (gamma_ij, Omega_ij from the dipole fields, docs/physics.md §1.1)")
    geo.add_argument("--distance", type=float, default=None, metavar="R",
                     help="a pair on the x axis, R in wavelengths (default: none)")
    geo.add_argument("--positions", default=None, metavar="FILE.json",
                     help="JSON list of [x, y, z] per atom, in wavelengths (default: none)")
    geo.add_argument("--dipole", default="z", metavar="x|y|z|DX,DY,DZ",
                     help="common dipole orientation with --distance/--positions (default z)")
    p.add_argument("--times", type=float, nargs="+", default=None,
                   help="ascending times in units of 1/gamma (default 0 0.2 1 5 20 times min(1, 2/(N gamma)), e.g. "
                        "0 0.0008 0.004 0.02 0.08 at N = 500, where the superradiant dynamics happen; outside the "
                        "Dicke limit N gamma is replaced by the largest eigenvalue of gamma_ij; at T = inf only 0, since the rates "
                        "gamma*nbar are infinite there)")
    p.add_argument("--long-time", action="store_true", help="also the t -> infinity state (after the --times rows)")
    p.add_argument("--method", choices=list(METHODS), default="auto",
                   help="dicke: J-multiplet solver, any N (certified C_l1 at finite t from thermal starts to "
                        "N = 1000, from ground / excited within --l1-budget; estimates beyond); permutation: uniform "
                        "off-diagonal gamma_ij, Omega_ij, O(N^3) space, N <= ~100; full: 4^N master equation, N <= ~12, any gamma_ij, Omega_ij, "
                        "initial state; auto (default): dicke, else permutation, else full, whichever applies first")
    p.add_argument("--max-memory-gb", type=float, default=2.0, metavar="GB",
                   help="memory cap of the full-space and permutation solvers, checked before allocating (default 2)")
    add_l1_max_atoms_arg(p)
    add_l1_budget_arg(p)
    p.add_argument("--plot", default=None, metavar="FILE.png",
                   help="draw C_l1, C_re and heat versus time into this file (default: no figure)")
    p.add_argument("--initial-state-file", default=None, metavar="FILE.npy",
                   help="initial density matrix, 2^N x 2^N in QuTiP order (e.g. from --save-state); "
                        "not with --initial-state / --initial-temperature (default: none)")
    p.add_argument("--save-state", default=None, metavar="FILE.npy",
                   help="write the state at the last row (last --times entry, or t -> inf with --long-time) "
                        f"as a QuTiP-order .npy density matrix; Dicke method: N <= {MAX_DENSE_DICKE_ATOMS} "
                        "(default: not saved)")
    p.set_defaults(func=run)


def load_state(name: str, path: str, n_atoms: int | None = None) -> np.ndarray:
    """A validated density matrix from a ``.npy`` file (QuTiP order), 2^n_atoms square when given.

    ``name`` is the CLI argument the errors name (``--initial-state-file``, ``--cluster``).
    """
    from .._checks import check_density_matrix

    try:
        rho = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"Argument `{name}` must be a readable .npy file, but reading {path!r} failed: {exc}") from None
    if rho.ndim != 2 or rho.shape[0] != rho.shape[1]:
        raise ParameterError(f"Argument `{name}` must hold a square density matrix, but {path!r} has shape {rho.shape}.")
    if n_atoms is not None and rho.shape[0] != 2**n_atoms:
        raise ParameterError(
            f"Argument `{name}` must be {2**n_atoms} x {2**n_atoms} for {n_atoms} atoms, "
            f"but {path!r} is {rho.shape[0]} x {rho.shape[1]}."
        )
    return check_density_matrix(name, rho)


def _check_save_state(args, atoms: Atoms, method: str) -> str:
    """Refuse --save-state before any computation: a writable .npy path and a dense state that fits."""
    path = args.save_state
    if not path.endswith(".npy"):
        raise ParameterError(f"Argument `--save-state` must be a .npy file name, but is {path!r}.")
    n = atoms.n
    if method == "dicke" and n > MAX_DENSE_DICKE_ATOMS:
        raise ParameterError(
            f"Argument `--save-state` needs N <= {MAX_DENSE_DICKE_ATOMS} with the Dicke method (it writes the dense "
            f"2^N x 2^N state), but N = {n}: that state alone would need {16 * 4.0**n / 2**30:.3g} GiB."
        )
    if method != "dicke":
        from ..reference.lindblad import memory_estimate_gb

        need = memory_estimate_gb(n, n_times=1)
        if need > _SAVE_STATE_MAX_GB:
            raise ParameterError(
                f"Argument `--save-state` needs the full-space state, but N = {n} would need about {need:.3g} GB "
                f"(limit {_SAVE_STATE_MAX_GB:g} GB)."
            )
    return output_file("--save-state", path)


def _final_state(atoms: Atoms, bath: Bath, initial: InitialState, t: float, method: str) -> np.ndarray:
    """The state at time ``t`` (inf: the long-time state), QuTiP order, from the engine ``method`` names."""
    if method == "dicke":
        from ..reference.dicke import dicke_density_matrix

        return dicke_density_matrix(atoms, bath, initial, t)
    # Every other engine's atoms are valid full-space atoms: one more evolution to the last time only.
    from ..reference.lindblad import evolve, long_time_state

    rho0 = initial.density_matrix(atoms.n, atoms.omega)
    return long_time_state(atoms, bath, rho0) if math.isinf(t) else evolve(atoms, bath, rho0, [t])[0]


def _times(args, atoms: Atoms) -> list[float]:
    """--times, else the defaults (also with --long-time: its help says "also")."""
    if args.times is None:
        # At T = inf the rates gamma*nbar are infinite: only t = 0 (and t -> inf) have a state.
        return [0.0] if math.isinf(args.temperature) else default_times(atoms)
    if math.isinf(args.temperature) and any(0 < t < math.inf for t in args.times):
        raise ParameterError(
            "Argument `--times` must be 0 at T = inf (the rates gamma*nbar are infinite), "
            f"but is {args.times}; add --long-time for the t -> infinity state."
        )
    return args.times


def _initial(args, n_atoms: int) -> InitialState:
    if args.initial_state_file is None:
        return initial_from(args)
    other = "--initial-state" if args.initial_state is not None else "--initial-temperature" if args.initial_temperature is not None else None
    if other:
        raise ParameterError(f"Arguments `--initial-state-file` and `{other}` are exclusive, but both were given.")
    return InitialState.from_matrix(load_state("--initial-state-file", args.initial_state_file, n_atoms))


def _dipole(text: str):
    if text in ("x", "y", "z"):
        return text
    try:
        vec = [float(c) for c in text.split(",")]
    except ValueError:
        vec = []
    if len(vec) != 3:
        raise ParameterError(f"Argument `--dipole` must be x, y, z or three numbers DX,DY,DZ, but is {text!r}.")
    return vec


def _atoms(args) -> Atoms:
    """The atoms from --atoms and the matrix, pair or geometry options (mutually exclusive families)."""
    geometry = [name for name, v in (("--distance", args.distance), ("--positions", args.positions)) if v is not None]
    matrices = [name for name, v in (("--gamma12", args.gamma12), ("--gamma-matrix", args.gamma_matrix),
                                     ("--dipolar-matrix", args.dipolar_matrix)) if v is not None]
    if args.dipolar != 0.0:
        matrices.append("--dipolar")
    if len(geometry) > 1 or (geometry and matrices):
        raise ParameterError(f"Arguments {' and '.join(f'`{g}`' for g in geometry + matrices)} are exclusive "
                             "(the geometry gives gamma_ij and Omega_ij), but were given together.")
    if geometry:
        if args.distance is not None:
            check_real("--distance", args.distance, minimum=0.0, strict_min=True)
            positions = [[0.0, 0.0, 0.0], [args.distance, 0.0, 0.0]]
        else:
            positions = load_matrix(args.positions, "--positions")
        atoms = Atoms.from_positions(positions, dipole=_dipole(args.dipole), omega=args.omega)
        if args.atoms is not None and args.atoms != atoms.n:
            raise ParameterError(f"Argument `--atoms` must match {geometry[0]} ({atoms.n} atoms), but is {args.atoms}.")
        return atoms
    if args.atoms is None:
        raise ParameterError("Argument `--atoms` is required (unless --positions or --distance gives the atoms).")
    if args.gamma_matrix and args.gamma12 is not None:
        raise ParameterError("Arguments `--gamma12` and `--gamma-matrix` are exclusive, but both were given.")
    gm = load_matrix(args.gamma_matrix, "gamma_matrix") if args.gamma_matrix else None
    om = load_matrix(args.dipolar_matrix, "dipolar_matrix") if args.dipolar_matrix else None
    if args.gamma12 is not None:
        if args.atoms != 2:
            raise ParameterError(f"Argument `--gamma12` needs --atoms 2, but atoms = {args.atoms}.")
        if om is not None:
            raise ParameterError("Arguments `--gamma12` and `--dipolar-matrix` are exclusive (use --dipolar), but both were given.")
        return Atoms.pair(args.gamma12, args.dipolar, omega=args.omega)
    if gm is None and om is None:
        return Atoms.dicke(args.atoms, omega=args.omega, dipolar=args.dipolar)
    return Atoms(args.atoms, omega=args.omega, gamma_matrix=gm, dipolar_matrix=om)


def run(args) -> int:
    from ..reference.charging import charge, choose_method

    if args.plot:
        from ..plot import figure_path

        args.plot = output_file("--plot", figure_path("--plot", args.plot))
    check_real("--max-memory-gb", args.max_memory_gb, minimum=0.0, strict_min=True)
    check_real("--l1-budget", args.l1_budget, minimum=0.0, allow_inf=True)  # inf: no limit
    atoms = _atoms(args)
    bath = Bath(args.temperature, args.omega)
    times = _times(args, atoms)
    initial = _initial(args, atoms.n)
    if args.save_state:
        method = choose_method(atoms, initial, args.method)
        args.save_state = _check_save_state(args, atoms, method)
    trace = charge(atoms, bath, initial, times, long_time=args.long_time, method=args.method,
                   l1_max_atoms=args.l1_max_atoms, l1_budget_s=args.l1_budget, max_memory_gb=args.max_memory_gb, lifetime=True,
                   progress=progress(args))
    text = str(trace)
    if trace.coherence_lifetime is None:  # say why the line is missing
        why = ("the rates gamma*nbar are infinite at T = inf" if math.isinf(bath.temperature) else
               "outside the Dicke limit it needs the dense spectrum of the Delta n = 0 sector: N <= 6 within "
               "--max-memory-gb")
        text += f"\ncoherence lifetime: not computed ({why})"
    if args.save_state:
        t_last = math.inf if args.long_time else times[-1]
        np.save(args.save_state, _final_state(atoms, bath, initial, t_last, trace.method))
        text += f"\nstate at t = {t_last:g} saved to {args.save_state}"
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
    payload = trace.to_dict()
    if args.save_state:
        payload["state_file"] = args.save_state
    emit(args, payload, text)
    return 0
