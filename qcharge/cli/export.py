"""``qcharge export``: the canonical circuits as OpenQASM 3 + JSON metadata."""

from __future__ import annotations

from ..results import table
from ._common import emit, output_dir

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write the canonical circuits as OpenQASM 3 + JSON metadata")
    p.add_argument("--out", default="circuits", help="output folder (default circuits/)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..export import export_circuits

    rows = export_circuits(output_dir("--out", args.out))
    keys = ["name", "qubits", "depth", "cx", "resets"]
    emit(args, rows, table(keys, [[r[k] for k in keys] for r in rows]) + f"\nwritten to {args.out}/")
    return 0
