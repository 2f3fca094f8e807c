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
    notes: list[str] = []  # each distinct note once, below the jobs (a run can have dozens of local jobs)
    for j in st["jobs"]:
        if "note" in j and j["note"] not in notes:
            notes.append(j["note"])
        mark = f"  [{notes.index(j['note']) + 1}]" if "note" in j else ""
        lines.append(f"  job {j['job']}: {j['state']:<8} {j['kind']:<6} {j['job_id'] or '-'}  "
                     f"{j['circuits']} circuit{'s' * (j['circuits'] != 1)} x {j['shots']} shots{mark}")
    lines += [f"  [{k}] {note}" for k, note in enumerate(notes, 1)]
    emit(args, st, "\n".join(lines))
    return 0
