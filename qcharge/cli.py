"""Command line: ``qcharge charge | harvest | scale | run | export | demo``.

Tables for people by default, ``--json`` for scripts (strict JSON; non-finite numbers as
the strings "inf"/"-inf"/"nan"). Any error a user can cause ends in one line on stderr
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np

from . import __version__
from .exceptions import ParameterError, QchargeError
from .params import ANCILLA_METHODS, ORDERINGS, Atoms, Bath, Harvest, InitialState
from .records import RunDirectory, dumps

__all__ = ["main"]


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line (no usage dump)."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse API
        raise ParameterError(f"{message} (see `{self.prog} --help`)")


# ---------------------------------------------------------------- shared arguments
def _add_bath_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--temperature", "-T", type=float, required=True, help="bath temperature T (units of omega)")
    p.add_argument("--omega", type=float, default=1.0, help="atomic frequency (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def _add_initial_args(p: argparse.ArgumentParser, *, with_eg: bool = True) -> None:
    g = p.add_mutually_exclusive_group()
    choices = ["ground", "excited", "eg"] if with_eg else ["ground", "excited"]
    g.add_argument("--initial-state", choices=choices, default=None, help="initial state (default ground)")
    g.add_argument("--initial-temperature", type=float, default=None, help="product thermal initial state at T0")


def _initial_from(args) -> InitialState:
    if args.initial_temperature is not None:
        return InitialState.thermal(args.initial_temperature)
    return InitialState(args.initial_state or "ground")


def _load_matrix(path: str, name: str) -> np.ndarray:
    try:
        with open(path) as fh:
            return np.asarray(json.load(fh), dtype=float)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"Argument `{name}` must be a JSON file with a nested list, but reading {path!r} failed: {exc}") from None


def _progress(args) -> bool:
    """Progress bars only for people watching a terminal (never in --json output or pipes)."""
    return not args.json and sys.stderr.isatty()


def _emit(args, payload, table: str) -> None:
    print(dumps(payload, indent=2) if args.json else table)


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    cells = [list(map(str, headers))] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# ---------------------------------------------------------------- charge
def _cmd_charge(args) -> int:
    from .reference.charging import charge

    if args.gamma_matrix and args.gamma12 is not None:
        raise ParameterError("Arguments `--gamma12` and `--gamma-matrix` are exclusive, but both were given.")
    gm = _load_matrix(args.gamma_matrix, "gamma_matrix") if args.gamma_matrix else None
    om = _load_matrix(args.dipolar_matrix, "dipolar_matrix") if args.dipolar_matrix else None
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
    times = args.times if args.times is not None else ([] if args.long_time else [0.0, 1.0, 5.0, 20.0])
    res = charge(atoms, bath, _initial_from(args), times, long_time=args.long_time, method=args.method, progress=_progress(args))
    keys = ["coherence_l1", "log10_coherence_l1", "coherence_re", "energy", "heat"]
    rows = [[t] + [res[k][i] for k in keys] for i, t in enumerate(res["times"])]
    if args.long_time:
        rows.append(["inf"] + [res["long_time"][k] for k in keys])
    table = f"method: {res['method']}\n" + _table(["t", "C_l1", "log10 C_l1", "C_re", "energy", "heat"], rows)
    if args.plot:
        from .plot import curves_figure

        l1 = res["coherence_l1"]
        # Plain C_l1 while it fits a float (all of t = 0 shows), log10 for the huge values of large N.
        first = ("$C_{l1}$", l1) if np.all(np.isfinite(l1)) else ("log10 $C_{l1}$", res["log10_coherence_l1"])
        curves = dict([first, ("$C_{re}$ (nats)", res["coherence_re"]), ("heat ΔQ / ω", res["heat"])])
        title = f"N = {atoms.n}, T = {bath.temperature}, {res['method']} solver"
        table += f"\nfigure: {curves_figure(res['times'], curves, xlabel='γt', title=title, path=args.plot)}"
    _emit(args, res, table)
    return 0


# ---------------------------------------------------------------- harvest
def _cmd_harvest(args) -> int:
    from ._checks import check_density_matrix
    from .reference.harvest import harvest_summary, make_cluster

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
        rho = make_cluster(args.cluster, bath, _initial_from(args), args.cluster_size)
    res = harvest_summary(rho, harvest, args.omega)
    rows = [[k, v] for k, v in res.items()]
    _emit(args, res, _table(["quantity", "value"], rows))
    return 0


# ---------------------------------------------------------------- scale
def _cmd_scale(args) -> int:
    from tqdm import tqdm

    from .reference.dicke import solve_dicke

    bath = Bath(args.temperature, args.omega)
    initial = _initial_from(args)
    runs = RunDirectory(args.run_dir) if args.run_dir else None
    out = []
    for n in tqdm(args.atoms, desc="atoms", disable=not _progress(args) or len(args.atoms) < 2):
        task = {"command": "scale", "atoms": n, "bath": bath.to_dict(), "initial_state": initial.to_dict()}
        if runs is not None and runs.done(task):
            out.append(runs.load(task))  # resumed: computed by an earlier (maybe interrupted) run
            continue
        r = solve_dicke(Atoms.dicke(n, omega=args.omega), bath, initial, (), long_time=True)
        out.append(
            {
                "atoms": n,
                "log10_coherence_l1": float(r.log10_coherence_l1[-1]),
                "coherence_l1_error_bound": float(r.coherence_l1_error_bound[-1]),
                "coherence_l1_relative_error_bound": float(r.coherence_l1_relative_error_bound[-1]),
                "coherence_re": float(r.coherence_re[-1]),
                "energy": float(r.energy[-1]),
                "heat": float(r.heat[-1]),
            }
        )
        if runs is not None:
            runs.save(task, out[-1])
    keys = ["atoms", "log10_coherence_l1", "coherence_l1_relative_error_bound", "coherence_re", "energy", "heat"]
    table = _table(["N", "log10 C_l1", "rel. bound", "C_re", "energy", "heat"], [[o[k] for k in keys] for o in out])
    if any(np.isnan(o["log10_coherence_l1"]) for o in out):
        table += "\n(C_l1 is certified up to N = 2000 atoms, O(N^2) big-integer work; nan above)"
    if args.plot:
        from .plot import curves_figure

        curves = {name: [o[key] for o in out] for name, key in
                  (("log10 $C_{l1}$", "log10_coherence_l1"), ("$C_{re}$ (nats)", "coherence_re"), ("heat ΔQ / ω", "heat"))}
        title = f"long-time state, T = {bath.temperature}"
        table += f"\nfigure: {curves_figure(args.atoms, curves, xlabel='N atoms', title=title, path=args.plot)}"
    _emit(args, out, table)
    return 0


# ---------------------------------------------------------------- run (circuits)
def _cmd_run_charge(args) -> int:
    from .experiments import run_charge
    from .params import Collision

    res = run_charge(
        Atoms(args.atoms, omega=args.omega),
        Bath(args.temperature, args.omega),
        _initial_from(args),
        Collision(args.theta, args.ordering, args.ancilla),
        args.collisions,
        backend=args.backend,
        shots=None if args.exact else args.shots,
        exact=args.exact,
        seed=args.seed,
        job_store=args.job_store,
        progress=_progress(args),
    )
    keys = ["coherence_l1", "heat_exchange_coherence", "coherence_re", "energy", "rho_eg_ge"]
    ci, acc = res.get("ci", {}), res.get("acceptance", {})

    def span(d, k):
        return f"[{d[k][0]:.5f}, {d[k][1]:.5f}]" if k in d else "exact"

    rows = [
        [k, res["reference"][k], res["twin"][k], res["circuit"][k], span(ci, k), span(acc, k),
         "yes" if res["verdicts"][k] else "NO"]
        for k in keys
    ]
    table = (
        f"{res['mode']} on {res['backend']}: N = {res['atoms']}, T = {res['temperature']}, theta = {res['theta']}, "
        f"{res['ordering']}, {res['collisions']} collisions, t = n dt = {res['time']:.4f}\n"
        + _table(["quantity", "master eq.", "twin", "circuit", "95% CI (basic+est.)", "range if = twin", "agrees"], rows)
        + (f"\nCI: {res['ci_method']}; range if = twin: {res['verdict_method']}" if "ci_method" in res else "")
        + f"\nfidelity to ME {res['fidelity']:.6f}, trace distance {res['trace_distance']:.3e}; verdict: "
        + ("agree" if res["agree"] else "DISAGREE")
        + f"\nresources per collision {res['resources']['per_collision']}, total {res['resources']['total']}"
    )
    _emit(args, res, table)
    return 0


def _cmd_run_harvest(args) -> int:
    from .experiments import run_harvest

    res = run_harvest(
        Bath(args.temperature, args.omega),
        _initial_from(args),
        args.cluster,
        Harvest(theta=args.theta, rate=args.rate),
        args.time,
        instances=args.instances,
        backend=args.backend,
        shots=args.shots,
        seed=args.seed,
        job_store=args.job_store,
        progress=_progress(args),
    )
    c = res["circuit"]
    rows = [
        [k, res["reference"][k], res["twin"][k], c[k],
         "[{:.5f}, {:.5f}]".format(*c[k + "_ci"]) if k + "_ci" in c else "exact"]
        for k in ("teff", "probe_excited_population")
    ]
    table = (
        f"{res['mode']} on {res['backend']}: {res['cluster']} pairs, T = {res['temperature']}, theta = {res['theta']}, "
        f"r = {res['rate']}, t = {res['time']}, {res['instances']} instances ({res['mean_collisions']:.1f} collisions each)\n"
        + _table(["quantity", "Poisson ME", "twin", "circuit", "95% CI (basic+est.)"], rows)
        + (f"\nCI: {c['ci_method']}" if "ci_method" in c else "")
        + "\nverdict: " + ("agree" if res["agree"] else "DISAGREE")
    )
    _emit(args, res, table)
    return 0


def _add_circuit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="aer", help="aer | aer-noisy:<fake backend> | ibm:<backend name>")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--job-store", default=None, help="JSON file: hardware job ids are written here before waiting")


# ---------------------------------------------------------------- export
def _cmd_export(args) -> int:
    from .export import export_circuits

    rows = export_circuits(args.out)
    keys = ["name", "qubits", "depth", "cx", "resets"]
    _emit(args, rows, _table(keys, [[r[k] for k in keys] for r in rows]) + f"\nwritten to {args.out}/")
    return 0


# ---------------------------------------------------------------- demo
def _cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="qcharge", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"qcharge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    p = sub.add_parser("charge", help="exact collective charging: coherence, energy, heat versus time")
    p.add_argument("--atoms", "-N", type=int, required=True)
    _add_bath_args(p)
    _add_initial_args(p)
    p.add_argument("--gamma12", type=float, default=None, help="cross decay rate (N = 2), |gamma12| <= 1")
    p.add_argument("--dipolar", type=float, default=0.0, help="uniform dipole coupling Omega_ij")
    p.add_argument("--gamma-matrix", default=None, metavar="FILE.json", help="JSON nested list: N x N decay matrix gamma_ij")
    p.add_argument("--dipolar-matrix", default=None, metavar="FILE.json", help="JSON nested list: N x N couplings Omega_ij")
    p.add_argument("--times", type=float, nargs="+", default=None, help="times in units of 1/gamma")
    p.add_argument("--long-time", action="store_true", help="also the t -> infinity state")
    p.add_argument("--method", choices=["auto", "full", "dicke"], default="auto")
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw C_l1, C_re and heat versus time")
    p.set_defaults(func=_cmd_charge)

    p = sub.add_parser("harvest", help="probe atom colliding with coherent clusters: T_eff")
    p.add_argument("--cluster", required=True, help="charged | dephased | FILE.npy (QuTiP-order density matrix)")
    _add_bath_args(p)
    _add_initial_args(p, with_eg=False)
    p.add_argument("--cluster-size", type=int, default=2)
    p.add_argument("--theta", type=float, default=0.5, help="probe-cluster exchange angle")
    p.add_argument("--rate", type=float, default=1.0, help="Poisson collision rate r")
    p.add_argument("--probe-gamma", type=float, default=0.0, help="probe damping rate to its own bath")
    p.add_argument("--probe-temperature", type=float, default=None, help="temperature of the probe's own bath")
    p.set_defaults(func=_cmd_harvest)

    p = sub.add_parser("scale", help="long-time coherence, entropy and heat versus N (Dicke limit)")
    p.add_argument("--atoms", "-N", type=int, nargs="+", required=True)
    _add_bath_args(p)
    _add_initial_args(p, with_eg=False)
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw C_l1, C_re and heat versus N")
    p.add_argument("--run-dir", default=None, metavar="DIR", help="store each N's result here; a rerun resumes")
    p.set_defaults(func=_cmd_scale)

    run = sub.add_parser("run", help="run an experiment as Qiskit circuits and compare with exact theory")
    run_sub = run.add_subparsers(dest="experiment", required=True, parser_class=_OneLineParser)
    p = run_sub.add_parser("charge", help="charging circuit vs master equation and NumPy twin")
    p.add_argument("--atoms", "-N", type=int, required=True)
    _add_bath_args(p)
    _add_initial_args(p, with_eg=False)
    p.add_argument("--theta", type=float, required=True, help="atom-ancilla exchange angle")
    p.add_argument("--collisions", type=int, required=True, help="number of collisions n (t = n dt)")
    p.add_argument("--ordering", choices=list(ORDERINGS), default="palindromic")
    p.add_argument("--ancilla", choices=list(ANCILLA_METHODS), default="purify")
    p.add_argument("--shots", type=int, default=4000, help="shots per tomography setting")
    p.add_argument("--exact", action="store_true", help="exact density-matrix run (no shots)")
    _add_circuit_args(p)
    p.set_defaults(func=_cmd_run_charge)

    p = run_sub.add_parser("harvest", help="probe-pair random collisions vs exact Poisson-averaged dynamics")
    _add_bath_args(p)
    _add_initial_args(p, with_eg=False)
    p.add_argument("--cluster", choices=["charged", "dephased", "pipeline"], required=True)
    p.add_argument("--theta", type=float, default=0.5)
    p.add_argument("--rate", type=float, default=1.0)
    p.add_argument("--time", type=float, default=10.0)
    p.add_argument("--instances", type=int, default=40, help="Poisson realisations (circuits)")
    p.add_argument("--shots", type=int, default=None, help="shots per setting and instance (default: exact)")
    _add_circuit_args(p)
    p.set_defaults(func=_cmd_run_harvest)

    p = sub.add_parser("export", help="write the canonical circuits as OpenQASM 3 + JSON metadata")
    p.add_argument("--out", default="circuits", help="output folder (default circuits/)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("demo", help="the main job: charge a pair, harvest it, tell the story in numbers")
    p.add_argument("--plot", default="qcharge-demo.png", help="figure file (default qcharge-demo.png)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--no-circuits", action="store_true", help="exact reference only (skip the Aer circuits)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 1 unexpected error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except QchargeError as exc:
        print(f"qcharge: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable --plot/--out/--job-store paths and the like
        print(f"qcharge: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qcharge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
