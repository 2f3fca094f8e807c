"""``qcharge export``: the canonical circuits as OpenQASM 3 and QPY + JSON metadata, and their resource table."""

from __future__ import annotations

from ..results import table
from ._common import emit, output_dir

__all__ = ["add_parser", "run"]

_KEYS = ["name", "protocol", "qubits", "depth", "two_qubit_gates", "cx", "resets", "device_qubits", "device_depth",
         "device_two_qubit_gates"]


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write the canonical circuits as OpenQASM 3 and QPY + JSON metadata, "
                                      "with a resource table (circuits/README.md)")
    p.add_argument("--out", default="circuits", help="output folder (default circuits/)")
    p.add_argument("--device", default=None, metavar="FAKE",
                   help="fake device of the 'after transpiling' columns (default fake_fez, a Heron r2; needs qcharge[ibm])")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..export import HERON_DEVICE, export_circuits

    rows = export_circuits(output_dir("--out", args.out), device=args.device or HERON_DEVICE)
    text = table(_KEYS, [[r[k] for k in _KEYS] for r in rows])
    emit(args, rows, text + f"\nwritten to {args.out}/ (resource table in {args.out}/README.md)")
    return 0
