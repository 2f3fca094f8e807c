"""``qcharge scale``: long-time coherence, entropy of coherence and heat versus N (Dicke limit)."""

from __future__ import annotations

import numpy as np

from ..params import Atoms, Bath
from ..records import RecordStore
from ..results import table
from ._common import DEFAULT_L1_MAX_ATOMS, NAN_NOTE, add_bath_args, add_initial_args, add_l1_max_atoms_arg, emit, initial_from, output_file, progress

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("scale", help="long-time coherence, entropy and heat versus N (Dicke limit)")
    p.add_argument("--atoms", "-N", type=int, nargs="+", required=True, help="one or more atom numbers N (required)")
    add_bath_args(p)
    add_initial_args(p, with_eg=False)
    add_l1_max_atoms_arg(p)
    p.add_argument("--plot", default=None, metavar="FILE.png", help="draw C_l1, C_re and heat versus N into this file (default: no figure)")
    p.add_argument("--run-dir", default=None, metavar="DIR", help="store each N's result in this folder; a rerun resumes (default: none)")
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from ..reference.dicke import solve_dicke

    if args.plot:
        from ..plot import figure_path

        args.plot = output_file("--plot", figure_path("--plot", args.plot))
    bath = Bath(args.temperature, args.omega)
    initial = initial_from(args)
    runs = RecordStore(args.run_dir, argument="--run-dir") if args.run_dir else None
    out = []
    for n in tqdm(args.atoms, desc="atoms", disable=not progress(args) or len(args.atoms) < 2):
        task = {"command": "scale", "atoms": n, "bath": bath.to_dict(), "initial_state": initial.to_dict()}
        if args.l1_max_atoms != DEFAULT_L1_MAX_ATOMS:  # records of default runs keep their key
            task["l1_max_atoms"] = args.l1_max_atoms
        if runs is not None and runs.done(task):
            out.append(runs.load(task))  # resumed: computed by an earlier (maybe interrupted) run
            continue
        r = solve_dicke(Atoms.dicke(n, omega=args.omega), bath, initial, (), long_time=True,
                        l1_max_atoms=args.l1_max_atoms)
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
    text = table(["N", "log10 C_l1", "rel. bound", "C_re", "energy", "heat"], [[o[k] for k in keys] for o in out])
    if any(np.isnan(o["log10_coherence_l1"]) for o in out):
        text += "\n" + NAN_NOTE
    if args.plot:
        from ..plot import curves_figure

        curves = {name: [o[key] for o in out] for name, key in
                  (("log10 $C_{l1}$", "log10_coherence_l1"), ("$C_{re}$ (nats)", "coherence_re"), ("heat ΔQ / ω", "heat"))}
        title = f"long-time state, T = {bath.temperature}"
        text += f"\nfigure: {curves_figure(args.atoms, curves, xlabel='N atoms', title=title, path=args.plot)}"
    emit(args, out, text)
    return 0
