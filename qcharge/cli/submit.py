"""``qcharge submit run charge|harvest ARGS...``: record a run in the ledger, submit its jobs, return at once."""

from __future__ import annotations

import argparse

from ..ledger import DEFAULT_RUNS_DIR
from . import run
from ._common import emit, suppression_from

__all__ = ["add_parser", "submit"]


def add_parser(sub) -> None:
    p = sub.add_parser("submit", help="submit `run charge|harvest ARGS` without waiting; prints the run id")
    verbs = p.add_subparsers(dest="submit_command", required=True, parser_class=type(p))
    run.add_parser(verbs)
    # The `run charge|harvest` parsers, with this verb's function and the ledger folder defaulting to runs/.
    run_parser = verbs.choices["run"]
    experiments = next(a for a in run_parser._actions if isinstance(a, argparse._SubParsersAction))
    for parser in experiments.choices.values():
        parser.set_defaults(func=submit, runs_dir=DEFAULT_RUNS_DIR)
        for action in parser._actions:
            if action.dest == "runs_dir":
                action.help = f"run ledger folder where the run is recorded (default {DEFAULT_RUNS_DIR})"


def submit(args) -> int:
    from .. import ledger

    suppression_from(args)  # bad --dynamical-decoupling / --twirl-gates: refused before the run is recorded
    handle = ledger.submit(args, runs_dir=args.runs_dir)
    emit(args, {"run": handle.id}, handle.id)
    return 0
