"""``qcharge sweep SPEC.toml --out DIR``: a grid of experiments, resumable, on local processes or Dask."""

from __future__ import annotations

from ..results import table
from ._common import emit, output_dir, progress

__all__ = ["add_parser", "run"]


def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="run a TOML grid of charge | harvest | scale | run points; an interrupted sweep resumes")
    p.add_argument("spec", metavar="SPEC.toml",
                   help="command = a verb; [fixed] values and [grid] lists keyed by its long options, _ for -")
    p.add_argument("--out", required=True, metavar="DIR", help="record folder, one JSON file per point; a rerun reuses them (required)")
    p.add_argument("--workers", type=int, default=None, metavar="K",
                   help="worker processes, local or of --dask local (default: the CPU count)")
    p.add_argument("--dask", default=None, metavar="local|ADDRESS",
                   help="run the points on Dask: local = a LocalCluster, else a scheduler address (default: local processes)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts: points, computed, reused, records")
    p.set_defaults(func=run)


def _summary(res, spec) -> str:
    """One row per point: the grid values, then each scalar result (last value of a time series)."""
    names = list(spec.grid)
    cols: list[str] = []
    for rec in res.records:
        parts = rec["result"] if isinstance(rec["result"], dict) else {}
        for k, v in parts.items():
            label = f"{k}[-1]" if isinstance(v, list) and v and isinstance(v[-1], (int, float)) else k
            if (isinstance(v, (int, float)) or label != k) and label not in cols:
                cols.append(label)
    rows = []
    for point, rec in zip(spec.points(), res.records):
        r = rec["result"] if isinstance(rec["result"], dict) else {}
        cells = [point.values[n] for n in names]
        for c in cols:
            v = r.get(c.removesuffix("[-1]"))
            cells.append(v[-1] if c.endswith("[-1]") and isinstance(v, list) else v)
        rows.append(cells)
    head = f"{res.points} points: {res.computed} computed, {res.reused} reused ({res.seconds:.1f} s)"
    return head + "\n" + table(names + cols, rows)


def run(args) -> int:
    from ..sweep import load_spec, run_sweep

    spec = load_spec(args.spec)
    out = output_dir("--out", args.out)
    res = run_sweep(spec, out, workers=args.workers, dask=args.dask, progress=progress(args))
    emit(args, res.to_dict(), _summary(res, spec) + f"\nrecords: {out}")
    return 0
