"""``qcharge backends``: the fake devices (and real ones when an IBM Quantum account exists)."""

from __future__ import annotations

from ..results import table
from ._common import emit

__all__ = ["add_parser", "run"]

_COLUMNS = ("name", "qubits", "processor", "two_qubit_gate", "median_two_qubit_error", "median_readout_error", "reset")


def add_parser(sub) -> None:
    p = sub.add_parser("backends", help="list backends: qubits, processor, native 2q gate, median errors, reset")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.add_argument("--no-real", action="store_true", help="fake devices only (no IBM Quantum service call)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..execute import list_backends

    rows = list_backends(real=not args.no_real)
    emit(args, rows, table(list(_COLUMNS), [[r[k] for k in _COLUMNS] for r in rows]))
    return 0
