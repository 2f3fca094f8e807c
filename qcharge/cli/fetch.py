"""``qcharge fetch RUN``: retrieve, analyse and compare a ledger run, as ``run ... --json`` would print it."""

from __future__ import annotations

from ..ledger import DEFAULT_RUNS_DIR
from ._common import emit
from .runs import add_runs_dir_arg, record_text

__all__ = ["add_parser", "fetch"]


def add_parser(sub) -> None:
    p = sub.add_parser("fetch", help="retrieve and analyse a submitted run (waits for its jobs)")
    p.add_argument("run", help="run id (see `qcharge runs`)")
    add_runs_dir_arg(p, default=DEFAULT_RUNS_DIR)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=fetch)


def fetch(args) -> int:
    from .. import ledger

    run = ledger.open_run(args.run, runs_dir=args.runs_dir)
    payload = ledger.fetch(args.run, runs_dir=args.runs_dir)
    emit(args, payload, record_text(run.info["experiment"], payload))
    return 0
