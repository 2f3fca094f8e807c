"""``qcharge status RUN``: the state of a ledger run and of each of its jobs."""

from __future__ import annotations

from ._common import emit
from .runs import add_run_verb

__all__ = ["add_parser", "status"]


def add_parser(sub) -> None:
    add_run_verb(sub, "status", "state of a submitted run and of its jobs", status)


def status(args) -> int:
    from .. import ledger

    st = ledger.status(args.run, runs_dir=args.runs_dir)
    lines = [f"run {st['run']} ({st['experiment']} on {st['backend']}): {st['state']}"]
    for j in st["jobs"]:
        lines.append(f"  job {j['job']}: {j['state']:<8} {j['kind']:<6} {j['job_id'] or '-'}  "
                     f"{j['circuits']} circuits x {j['shots']} shots" + (f"  ({j['note']})" if "note" in j else ""))
    emit(args, st, "\n".join(lines))
    return 0
