"""``qcharge fetch RUN``: retrieve, analyse and compare a ledger run, as ``run ... --json`` would print it."""

from __future__ import annotations

from ._common import emit
from .runs import add_run_verb, record_text

__all__ = ["add_parser", "fetch"]


def add_parser(sub) -> None:
    add_run_verb(sub, "fetch", "retrieve and analyse a submitted run (waits for its jobs)", fetch)


def fetch(args) -> int:
    from .. import ledger

    run = ledger.open_run(args.run, runs_dir=args.runs_dir)
    payload = ledger.fetch(args.run, runs_dir=args.runs_dir)
    emit(args, payload, record_text(run.info["experiment"], payload))
    return 0
