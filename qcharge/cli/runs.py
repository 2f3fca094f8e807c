"""``qcharge runs``: the run ledger's runs; also the ``--runs-dir`` pieces the other verbs share."""

from __future__ import annotations

import argparse
import sys

from ..ledger import DEFAULT_RUNS_DIR
from ._common import emit

__all__ = ["add_parser", "add_run_verb", "add_runs_dir_arg", "wants_ledger", "ledger_run", "record_text", "list_runs"]


def add_runs_dir_arg(p: argparse.ArgumentParser, *, default: str | None = None) -> None:
    """``--runs-dir DIR``: where the run ledger keeps ``<id>/`` folders."""
    if default is None:
        help_ = ("also record the run in this run ledger folder (parameters, circuits, job ids before waiting), "
                 "so that an interrupted run can be finished by `qcharge fetch` (default: not recorded)")
    else:
        help_ = f"run ledger folder (default {default})"
    p.add_argument("--runs-dir", default=default, metavar="DIR", help=help_)


def add_run_verb(sub, name: str, help_: str, func) -> None:
    """A verb on one ledger run (``status``, ``fetch``): ``RUN``, ``--runs-dir`` and ``--json``."""
    p = sub.add_parser(name, help=help_)
    p.add_argument("run", help="run id (see `qcharge runs`)")
    add_runs_dir_arg(p, default=DEFAULT_RUNS_DIR)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=func)


def add_parser(sub) -> None:
    p = sub.add_parser("runs", help="list the runs of the run ledger")
    add_runs_dir_arg(p, default=DEFAULT_RUNS_DIR)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=list_runs)


def wants_ledger(args) -> bool:
    """True when ``run ... --runs-dir`` asks for a recorded run (and the ledger is not already running it)."""
    return getattr(args, "runs_dir", None) is not None and getattr(args, "counts_source", None) is None


def record_text(experiment: str, payload: dict) -> str:
    """The table ``run charge|harvest`` prints for ``payload``."""
    from ..results import ChargeRun, HarvestRun

    return str((ChargeRun if experiment == "charge" else HarvestRun).from_dict(payload))


def ledger_run(args) -> int:
    """``run ... --runs-dir DIR``: the run recorded in the ledger, run, waited for and printed as ``run`` prints it."""
    from .. import ledger

    run = ledger.create_run(args.experiment, ledger.run_parameters(args), runs_dir=args.runs_dir)
    print(f"qcharge: run {run.id} recorded in {args.runs_dir} (if interrupted: qcharge fetch {run.id} "
          f"--runs-dir {args.runs_dir})", file=sys.stderr)
    payload = ledger.execute_run(run, args, "record")
    emit(args, payload, record_text(args.experiment, payload))
    return 0


def list_runs(args) -> int:
    from .. import ledger

    runs = ledger.list_runs(runs_dir=args.runs_dir)
    lines = [f"{r['run']:<36} {r['experiment']:<8} {r['backend']:<28} jobs {r['jobs']:<3} "
             f"{'fetched' if r['fetched'] else 'not fetched'}" for r in runs]
    emit(args, runs, "\n".join(lines) if lines else f"no runs in {args.runs_dir}")
    return 0
