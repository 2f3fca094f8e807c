"""``qcharge plan``: the charging protocols that keep most of the physics on a backend (exact-noisy prediction)."""

from __future__ import annotations

from ..records import dumps
from ..results import table
from ._common import add_backend_args, add_initial_args, backend_from, initial_from

__all__ = ["add_parser", "run", "best_protocol"]

_COLUMNS = ("theta", "collisions", "ordering", "ancilla", "two_qubit_gates", "predicted", "exact", "kept", "layout")


def add_parser(sub) -> None:
    p = sub.add_parser("plan", help="search theta, collisions, ordering, ancilla, layout by the exact-noisy prediction")
    p.add_argument("--atoms", "-N", type=int, required=True, help="number of atoms N (required)")
    p.add_argument("--temperature", "-T", type=float, required=True, help="bath temperature T, units of omega (required)")
    add_initial_args(p, with_eg=False)
    p.add_argument("--target", choices=["coherence", "teff"], default="coherence",
                   help="signal to keep: heat-exchange coherence of the atoms, or the probe's charged-minus-dephased "
                        "T_eff gap with pairs charged in the circuit (N = 2) (default coherence)")
    p.add_argument("--top", type=int, default=5, help="number of protocols printed (default 5)")
    p.add_argument("--seed", type=int, default=7, help="seed of the transpiler and the circuits (default 7)")
    p.add_argument("--idle-noise", action="store_true",
                   help="rank by the prediction with idle relaxation: the circuits scheduled, idle qubits relaxing "
                        "with the device's T1, T2 during resets and measurements, as on hardware (noisy backends; "
                        "default: the unscheduled prediction)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    add_backend_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..planner import plan

    backend = backend_from(args)
    protocols = plan(backend, args.atoms, args.temperature, initial=initial_from(args), target=args.target,
                     top=args.top, seed=args.seed, idle_noise=args.idle_noise)
    rows = [p.to_dict() for p in protocols]
    payload = {"backend": backend, "atoms": args.atoms, "temperature": args.temperature, "target": args.target,
               "idle_noise": args.idle_noise, "protocols": rows}
    if args.json:
        print(dumps(payload, indent=2))
    else:
        print(f"charging protocols on {backend}, N = {args.atoms}, T = {args.temperature}, target "
              f"{args.target} (predicted: exact noisy density matrix{', with idle relaxation' if args.idle_noise else ''}; "
              "exact: master equation at t = n dt)")
        cols = list(_COLUMNS) + (["std_error"] if args.target == "teff" else [])
        print(table(cols, [[r[k] for k in cols] for r in rows]))
    return 0


def best_protocol(backend: str, atoms: int, temperature: float, initial, seed: int, idle_noise: bool = False):
    """The top plan (``run charge --plan best``; ranked with idle relaxation when the run predicts with it)."""
    from ..planner import plan

    return plan(backend, atoms, temperature, initial=initial, top=1, seed=seed, idle_noise=idle_noise)[0]
