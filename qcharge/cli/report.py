"""``qcharge report PATH``: a self-contained HTML report of a run record or a sweep folder."""

from __future__ import annotations

from ._common import emit, output_file

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report (tables, figures) of a run record "
                                      "(`run ... --json` saved to a file) or a sweep folder")
    p.add_argument("path", metavar="RUN_OR_SWEEP",
                   help="run record (JSON of `qcharge run charge|harvest --json`) or sweep folder (`sweep --out DIR`)")
    p.add_argument("--out", default="report.html", metavar="FILE.html", help="output file (default report.html)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts: report, kind, figures")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..report import write_report

    summary = write_report(args.path, output_file("--out", args.out))  # nothing is written for bad input
    emit(args, summary, f"{summary['kind']} report written to {summary['report']} ({summary['figures']} figure(s))")
    return 0
