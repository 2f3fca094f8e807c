"""``qcharge demo``: the main job, charge a pair, harvest it, tell the story in numbers."""

from __future__ import annotations

from ._common import DEFAULT_SEED, output_file

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="the main job: charge a pair, harvest it, tell the story in numbers")
    p.add_argument("--plot", default="qcharge-demo.png", help="figure file (default qcharge-demo.png)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed of the circuit runs (default {DEFAULT_SEED})")
    p.add_argument("--no-circuits", action="store_true", help="exact reference only (skip the Aer circuits)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run_demo
    from ..plot import figure_path

    if args.plot:
        args.plot = output_file("--plot", figure_path("--plot", args.plot))
    return run_demo(args)
