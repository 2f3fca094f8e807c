"""``qcharge report``: one self-contained HTML page from a run record or a sweep folder.

Sources (:func:`load_source`):

- a **run record**: the JSON that ``qcharge run charge|harvest --json`` (or ``fetch``) prints, saved
  to a file. The page shows the parameters, the comparison table (master equation, twin, noisy
  prediction and mitigated values where present, circuit, intervals, verdicts), the error budget
  where present, resources, and a figure of the compared values with their intervals;
- a **sweep folder** (``qcharge sweep SPEC.toml --out DIR``; also the JSON that ``sweep --json``
  prints): the fixed parameters, the grid, one table row per point and figures of the main result
  versus the first grid variable (one line per value of the other grid variables).

The page has inline CSS and its figures embedded as base64 PNG: it opens offline, from any folder.
Nothing is recomputed: the report only reads the stored numbers.

Example:
    >>> kind, data = load_source_data({"cluster": "charged", "instances": 4, "reference": {}, "twin": {},
    ...                                "circuit": {}})
    >>> kind
    'run harvest'
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import __version__
from .exceptions import ParameterError
from .records import from_jsonable

__all__ = ["load_source", "load_source_data", "main_quantities", "report_html", "write_report"]

_CHARGE_KEYS = {"atoms", "collisions", "circuit", "twin", "reference"}
_HARVEST_KEYS = {"cluster", "instances", "circuit", "twin", "reference"}
# Circuit-side estimates a run may carry besides the ideal circuit, in table order (issue 7 keys).
_EXTRA_ESTIMATES = ("noisy_prediction", "mitigated")
_RUN_HEAD = {
    "run charge": ("atoms", "temperature", "theta", "ordering", "ancilla", "collisions", "dt", "time", "backend",
                   "layout", "mode", "shots", "seed", "coin_instances", "coin_shots_per_instance", "plan_id"),
    "run harvest": ("cluster", "temperature", "theta", "rate", "coupling", "time", "instances", "mean_collisions",
                    "backend", "layout", "mode", "shots", "seed", "instances_std_error"),
}
_LABELS = {"reference": "master eq.", "twin": "twin", "noisy_prediction": "noisy prediction", "circuit": "circuit",
           "mitigated": "mitigated"}
_COLORS = {"reference": "#222222", "twin": "#1f77b4", "noisy_prediction": "#ff7f0e", "circuit": "#2ca02c",
           "mitigated": "#9467bd"}

_LINE_STYLES = {"master eq.": {"color": "k", "ls": "--"}, "twin": {"marker": "s", "mfc": "none", "ms": 8},
                "noisy prediction": {"marker": "^", "ls": ":"}, "circuit": {"marker": "o"},
                "mitigated": {"marker": "D", "ls": "-."}}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#1b1b1b;line-height:1.4;padding:0 1em}
h1{font-size:1.6em;border-bottom:2px solid #2c5f8a;padding-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;color:#2c5f8a}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{border:1px solid #c8d0d8;padding:.25em .6em;text-align:right}
th{background:#eef3f8}td.l,th.l{text-align:left}tr:nth-child(even) td{background:#f8fafc}
.yes{color:#17692c;font-weight:600}.no{color:#b00020;font-weight:700}.meta{color:#555;font-size:.9em}
.verdict{font-size:1.1em;padding:.4em .8em;display:inline-block;border-radius:4px}
.verdict.yes{background:#e3f4e7}.verdict.no{background:#fde7ea}figure{margin:1em 0}img{max-width:100%}
figcaption{color:#555;font-size:.85em}
"""


# ---------------------------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------------------------
def _is_record(obj: Any) -> bool:
    return isinstance(obj, Mapping) and "inputs" in obj and "result" in obj


def load_source_data(data: Any, source: str = "record") -> tuple[str, Any]:
    """Classify parsed JSON: ``('run charge' | 'run harvest', dict)`` or ``('sweep', [records])``.

    Raises:
        ParameterError: any other shape (the keys found are named).
    """
    if isinstance(data, Mapping):
        keys = set(data)
        if _CHARGE_KEYS <= keys:
            return "run charge", dict(data)
        if _HARVEST_KEYS <= keys:
            return "run harvest", dict(data)
        if {"points", "records"} <= keys and isinstance(data["records"], list):  # `sweep --json`
            records = [r for r in data["records"] if _is_record(r) and r["result"] is not None]
            if records:
                return "sweep", records
    shape = f"an object with keys {sorted(data)[:12]}" if isinstance(data, Mapping) else f"a JSON {type(data).__name__}"
    raise ParameterError(
        f"Argument `path` must be a run record (the JSON of `qcharge run charge|harvest --json`) or a sweep "
        f"(folder or `qcharge sweep --json` output), but {source} is {shape}."
    )


def _read_json(path: Path) -> Any:
    try:
        return from_jsonable(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ParameterError(f"Argument `path` must be a JSON file or a sweep folder, but {str(path)!r} is not JSON: "
                             f"{err}.") from None


def load_source(path: str | os.PathLike) -> tuple[str, Any]:
    """Read ``path`` (a run record file or a sweep folder) and classify it (see :func:`load_source_data`)."""
    p = Path(path)
    if p.is_dir():
        # Read the records directly: a RecordStore would test-write the folder, and a report only reads.
        files = sorted(p.glob("[0-9a-f]*.json"), key=lambda f: (f.stat().st_mtime, f.name))
        records = [r for r in (_read_json(f) for f in files) if _is_record(r)]
        if not records:
            raise ParameterError(
                f"Argument `path` must be a sweep folder holding point records (<key>.json with inputs and result), "
                f"but {str(path)!r} holds none."
            )
        return "sweep", records
    if not p.exists():
        raise ParameterError(f"Argument `path` must be a run record (JSON file) or a sweep folder, but {str(path)!r} "
                             f"does not exist.")
    return load_source_data(_read_json(p), repr(str(path)))


# ---------------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------------
def _num(x: Any) -> str:
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return str(x) if not math.isfinite(x) else f"{x:.6g}"
    if isinstance(x, (list, tuple)) and len(x) == 2 and all(isinstance(v, (int, float)) for v in x):
        return f"[{_num(float(x[0]))}, {_num(float(x[1]))}]"
    if isinstance(x, (list, tuple)):
        return ", ".join(_num(v) for v in x)
    return "" if x is None else str(x)


def _cell(x: Any, cls: str = "") -> str:
    text = html.escape(_num(x))
    if isinstance(x, bool):
        cls = (cls + " " + ("yes" if x else "no")).strip()
    elif not isinstance(x, (int, float)):
        cls = (cls + " l").strip()
    return f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    head = "".join(f'<th class="{"l" if i == 0 else ""}">{html.escape(str(h))}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _kv_table(items: Mapping) -> str:
    return _table(["parameter", "value"], [[k, v] for k, v in items.items()])


def _mapping_table(data: Mapping, first: str) -> str:
    """A flat mapping as two columns; a mapping of mappings as one row per outer key."""
    if all(isinstance(v, Mapping) for v in data.values()) and data:
        cols = list(dict.fromkeys(k for v in data.values() for k in v))
        return _table([first, *cols], [[k, *(v.get(c) for c in cols)] for k, v in data.items()])
    return _table([first, "value"], [[k, v] for k, v in data.items()])


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(b64: str, caption: str) -> str:
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# ---------------------------------------------------------------------------------------------
# run records
# ---------------------------------------------------------------------------------------------
def _estimates(kind: str, data: Mapping) -> list[tuple[str, Mapping]]:
    """(name, mapping quantity -> value) of every estimate present, in table order."""
    order = ["reference", "twin", *(["noisy_prediction"] if "noisy_prediction" in data else []), "circuit",
             *(["mitigated"] if "mitigated" in data else [])]
    return [(k, data[k]) for k in order if isinstance(data.get(k), Mapping)]


def _quantities(kind: str, data: Mapping) -> list[str]:
    if kind == "run harvest":
        return [q for q in ("teff", "probe_excited_population") if q in data["circuit"]]
    return [q for q, v in data["circuit"].items() if not isinstance(v, (Mapping, list))]


def _interval(est: Mapping | None, data: Mapping, name: str, q: str) -> Any:
    """The interval of quantity ``q`` of estimate ``name``: charge runs keep them under ``ci``, harvest
    runs (and mitigated estimates) as ``<q>_ci`` beside the value."""
    if isinstance(est, Mapping) and f"{q}_ci" in est:
        return est[f"{q}_ci"]
    if name == "circuit" and isinstance(data.get("ci"), Mapping):
        return data["ci"].get(q)
    if isinstance(est, Mapping) and isinstance(est.get("ci"), Mapping):
        return est["ci"].get(q)
    return None


def _acceptance(data: Mapping, q: str) -> Any:
    """Range of the estimate if the circuit were its twin: under ``acceptance`` (charge) or beside the value."""
    if isinstance(data.get("acceptance"), Mapping):
        return data["acceptance"].get(q)
    return data["circuit"].get(f"{q}_acceptance")


def _comparison_table(kind: str, data: Mapping) -> str:
    ests = _estimates(kind, data)
    qs = _quantities(kind, data)
    headers = ["quantity", *(_LABELS[n] for n, _ in ests), "circuit CI"]
    if "mitigated" in data:
        headers.append("mitigated CI")
    with_range = any(_acceptance(data, q) is not None for q in qs)
    if with_range:
        headers.append("range if = twin")
    if isinstance(data.get("verdicts"), Mapping):
        headers.append("agrees")
    rows = []
    for q in qs:
        row = [q, *(e.get(q) for _, e in ests), _interval(data["circuit"], data, "circuit", q)]
        if "mitigated" in data:
            row.append(_interval(data.get("mitigated"), data, "mitigated", q))
        if with_range:
            row.append(_acceptance(data, q))
        if isinstance(data.get("verdicts"), Mapping):
            row.append(data["verdicts"].get(q))
        rows.append(row)
    return _table(headers, rows)


def _run_figure(kind: str, data: Mapping) -> str | None:
    from .plot import _pyplot

    ests = _estimates(kind, data)
    qs = [q for q in _quantities(kind, data) if any(_finite(e.get(q)) for _, e in ests)]
    if not qs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(qs) + 2), 3.6))
    width = 0.8 / len(ests)
    for i, (name, est) in enumerate(ests):
        xs, ys, lo, hi = [], [], [], []
        for j, q in enumerate(qs):
            v = est.get(q)
            if not _finite(v):
                continue
            iv = _interval(est, data, name, q)
            xs.append(j - 0.4 + width * (i + 0.5))
            ys.append(v)
            ok = isinstance(iv, (list, tuple)) and len(iv) == 2 and all(_finite(b) for b in iv)
            lo.append(max(v - iv[0], 0.0) if ok else 0.0)
            hi.append(max(iv[1] - v, 0.0) if ok else 0.0)
        ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=_LABELS[name], color=_COLORS[name])
    ax.set_xticks(range(len(qs)), qs, rotation=15, fontsize=8)
    ax.axhline(0.0, color="#888", lw=0.6)
    ax.set_title("estimates beside exact theory (bars: intervals where sampled)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def _budget_figure(budget: Mapping) -> str | None:
    parts = {k: v for k, v in budget.items() if k != "total" and _finite(v)}
    if not parts:
        return None
    from .plot import _pyplot

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.barh(list(parts), list(parts.values()), color="#2c5f8a")
    if _finite(budget.get("total")):
        ax.axvline(budget["total"], color="#b00020", ls="--", lw=1, label=f"total {budget['total']:.3g}")
        ax.legend(fontsize=7)
    ax.set_title("error budget: parts of (measured - exact theory)", fontsize=9)
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def _run_body(kind: str, data: Mapping) -> str:
    head = {k: data[k] for k in _RUN_HEAD[kind] if k in data and data[k] is not None}
    parts = ["<h2>Parameters</h2>", _kv_table(head)]
    agree = data.get("agree")
    if isinstance(agree, bool):
        word = "the circuit agrees with its twin" if agree else "the circuit DISAGREES with its twin"
        parts.append(f'<p class="verdict {"yes" if agree else "no"}">Verdict: {word}</p>')
    parts += ["<h2>Comparison</h2>", _comparison_table(kind, data)]
    for key in ("level", "ci_method", "verdict_method"):
        if data.get(key) is not None:
            parts.append(f'<p class="meta">{key.replace("_", " ")}: {html.escape(_num(data[key]))}</p>')
    if kind == "run harvest" and data["circuit"].get("ci_method"):
        parts.append(f'<p class="meta">CI method: {html.escape(str(data["circuit"]["ci_method"]))}</p>')
    fig = _run_figure(kind, data)
    if fig:
        parts.append(_figure(fig, "Each quantity: exact theory (master eq.), ideal twin, and the circuit's "
                                  "estimates; error bars are the stated intervals."))
    states = {k: data[k] for k in ("fidelity", "fidelity_ci", "trace_distance", "trace_distance_ci", "twin_fidelity",
                                   "twin_fidelity_ci", "twin_trace_distance", "twin_trace_distance_ci") if k in data}
    if states:
        parts += ["<h2>States</h2>", _kv_table(states)]
    budget = data.get("error_budget")
    if isinstance(budget, Mapping) and budget:
        parts += ["<h2>Error budget</h2>", _mapping_table(budget, "part")]
        bfig = _budget_figure(budget) if all(not isinstance(v, Mapping) for v in budget.values()) else None
        if bfig:
            parts.append(_figure(bfig, "Error budget parts (bars) and their total (dashed)."))
    res = data.get("resources")
    if isinstance(res, Mapping) and res:
        flat = {k: v for k, v in res.items() if not isinstance(v, Mapping)}
        nested = {k: v for k, v in res.items() if isinstance(v, Mapping)}
        parts.append("<h2>Resources</h2>")
        if flat:
            parts.append(_kv_table(flat))
        if nested:
            parts.append(_mapping_table(nested, "scope"))
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# sweeps
# ---------------------------------------------------------------------------------------------
def _last(v: Any) -> Any:
    return v[-1] if isinstance(v, list) and v else v


def main_quantities(command: str, result: Any) -> list[dict]:
    """The main result of one sweep point as rows ``{label: value}`` (``scale``: one row per N).

    ``charge``: C_l1 and heat at the last time; ``harvest``: T_eff; ``scale``: log10 C_l1, heat;
    ``run charge``: heat-exchange coherence of each estimate; ``run harvest``: T_eff of each estimate.

    Example:
        >>> main_quantities("harvest", {"teff": 1.0, "coherence_l1": 0.24})
        [{'teff': 1.0}]
    """
    if command == "scale" and isinstance(result, list):
        return [{"atoms": r.get("atoms"), "log10_coherence_l1": r.get("log10_coherence_l1"), "heat": r.get("heat")}
                for r in result if isinstance(r, Mapping)]
    if not isinstance(result, Mapping):
        return [{}]
    if command == "charge":
        return [{"coherence_l1 (last t)": _last(result.get("coherence_l1")), "heat (last t)": _last(result.get("heat"))}]
    if command == "harvest":
        return [{"teff": result.get("teff")}]
    if command in ("run charge", "run harvest"):
        q = "heat_exchange_coherence" if command == "run charge" else "teff"
        row = {f"{q} {_LABELS[n]}": e.get(q) for n, e in _estimates(command, result)}
        if "agree" in result:
            row["agree"] = result["agree"]
        return [row]
    return [{}]


def _varying(records: Sequence[Mapping]) -> tuple[dict, dict]:
    """(fixed inputs, grid: input -> sorted distinct values) over the records."""
    keys = list(dict.fromkeys(k for r in records for k in r["inputs"]))
    fixed, grid = {}, {}
    for k in keys:
        values = [r["inputs"].get(k) for r in records]
        distinct = list(dict.fromkeys(json.dumps(v, sort_keys=True, default=str) for v in values))
        if len(distinct) == 1:
            fixed[k] = values[0]
        else:
            vals = [json.loads(d) for d in distinct]
            try:
                vals = sorted(vals)
            except TypeError:
                pass
            grid[k] = vals
    return fixed, grid


def _sweep_rows(records: Sequence[Mapping], grid: Mapping) -> tuple[list[str], list[list]]:
    rows, quantity_keys = [], []
    for rec in records:
        command = rec["inputs"].get("command", "")
        for q in main_quantities(command, rec["result"]):
            quantity_keys += [k for k in q if k not in quantity_keys]
            rows.append(({k: rec["inputs"].get(k) for k in grid}, q))
    headers = [*grid, *[k for k in quantity_keys if k not in grid]]
    table = [[{**g, **q}.get(h) for h in headers] for g, q in rows]
    try:
        table.sort(key=lambda r: [(v is None, v) for v in r[: len(grid)]])
    except TypeError:
        pass
    return headers, table


def _sweep_figures(command: str, headers: list[str], table: list[list], grid: Mapping) -> list[str]:
    from .plot import _pyplot

    x = "atoms" if command == "scale" else next((k for k in grid if all(_finite(r[headers.index(k)]) for r in table)),
                                                None)
    if x is None:
        return []
    xi = headers.index(x)
    by = [k for k in grid if k != x]
    quantities = [h for h in headers if h not in grid and h not in ("atoms", "agree")]
    if command in ("run charge", "run harvest"):
        groups = {"heat_exchange_coherence" if command == "run charge" else "teff": quantities}
    else:
        groups = {q: [q] for q in quantities}
    plt = _pyplot()
    out = []
    for title, cols in groups.items():
        series = {}
        for row in table:
            label_by = ", ".join(f"{k} = {_num(row[headers.index(k)])}" for k in by)
            for c in cols:
                v = row[headers.index(c)]
                if _finite(v) and _finite(row[xi]):
                    name = (c.replace(title, "").strip() or c) if len(cols) > 1 else ""
                    key = " | ".join(s for s in (name, label_by) if s)
                    series.setdefault(key, []).append((row[xi], v))
        if not series:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        for n, (key, pts) in enumerate(series.items()):
            pts.sort()
            # Distinct markers, open and shrinking: an exact circuit run lies on its twin, and lines of
            # equal values (T_eff = T for every theta) lie on each other; all must stay visible.
            plain = {"marker": "os^Dv"[n % 5], "ms": max(10 - 2 * n, 4), "mfc": "none" if n else None}
            style = next((st for name, st in _LINE_STYLES.items() if key.startswith(name)), plain)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=key or None, **{"ms": 5, **style})
        ax.set(xlabel=x, ylabel=title, title=f"{command}: {title} versus {x}")
        if any(series):
            ax.legend(fontsize=7)
        fig.tight_layout()
        out.append(_figure(_png(fig), f"{title} versus {'the grid variable ' if x in grid else ''}{x}"
                           + (f", one line per {', '.join(by)}" if by else "") + "."))
        plt.close(fig)
    return out


def _sweep_body(records: Sequence[Mapping]) -> str:
    fixed, grid = _varying(records)
    command = str(fixed.get("command", "mixed"))
    headers, table = _sweep_rows(records, grid)
    parts = ["<h2>Parameters</h2>", f"<p>{len(records)} points of <code>{html.escape(command)}</code></p>",
             "<h3>Fixed</h3>", _kv_table(fixed)]
    if grid:
        # Joined here: a two-value list would otherwise read as an interval.
        parts += ["<h3>Grid</h3>", _table(["variable", "values"], [[k, ", ".join(_num(x) for x in v)]
                                                                   for k, v in grid.items()])]
    parts += ["<h2>Results</h2>", _table(headers, table)]
    agree = [r[headers.index("agree")] for r in table] if "agree" in headers else []
    if agree:
        n_ok = sum(1 for a in agree if a is True)
        parts.append(f'<p class="verdict {"yes" if n_ok == len(agree) else "no"}">{n_ok} of {len(agree)} points: '
                     f"circuit agrees with its twin</p>")
    figures = _sweep_figures(command, headers, table, grid)
    if figures:
        parts += ["<h2>Figures</h2>", *figures]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------
# the page
# ---------------------------------------------------------------------------------------------
def report_html(kind: str, data: Any, *, source: str = "") -> str:
    """The HTML page of a classified source (:func:`load_source`); self-contained (no network)."""
    title = {"run charge": "charging run", "run harvest": "harvesting run", "sweep": "sweep"}[kind]
    body = _sweep_body(data) if kind == "sweep" else _run_body(kind, data)
    src = f" from <code>{html.escape(source)}</code>" if source else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>qcharge report: {title}</title><style>{_CSS}</style></head><body>\n"
        f"<h1>qcharge report: {title}</h1>\n<p class=\"meta\">qcharge {html.escape(__version__)}{src}; "
        "numbers as stored in the record (nothing recomputed).</p>\n"
        f"{body}\n</body></html>\n"
    )


def write_report(path: str | os.PathLike, out: str | os.PathLike = "report.html") -> dict:
    """Read ``path``, write the HTML page to ``out``; return ``{'report', 'kind', 'figures'}``."""
    kind, data = load_source(path)
    text = report_html(kind, data, source=os.path.basename(os.path.normpath(str(path))))
    Path(out).write_text(text, encoding="utf-8")
    return {"report": str(out), "kind": kind, "figures": text.count("data:image/png;base64,")}
