"""Parameter sweeps: a TOML grid of CLI experiments, resumable, on local processes or Dask.

A spec names a ``command`` (a qcharge experiment verb), a ``[fixed]`` table and a ``[grid]``
table of lists; keys are the verb's long option names with ``_`` for ``-``::

    command = "charge"
    [fixed]
    atoms = 2
    times = [0, 1, 5]
    [grid]
    temperature = [0.5, 1.0, 2.0]
    initial_temperature = [0.1, 0.3]

The points are the Cartesian product of the grid lists (3 x 2 = 6 here). Each point is
turned into the verb's own argument list and parsed by the verb's own parser, so a point runs
exactly the code path of ``qcharge charge ...`` and every option the verb has is a valid key.
A point is keyed by the hash of its *resolved* arguments (defaults filled in, types
converted: ``1`` and ``1.0`` give the same point; options left unset are left out), and its record is written to the output
folder as soon as it finishes, so an interrupted sweep resumes without recomputing finished
points. Points run in local worker processes (:class:`concurrent.futures.ProcessPoolExecutor`)
or on Dask (a :class:`distributed.LocalCluster`, or any scheduler by address): the same spec
goes from a laptop to a cluster unchanged. The records load back as one pandas table.

>>> spec = parse_spec({"command": "harvest", "fixed": {"cluster": "charged"},
...                    "grid": {"temperature": [0.5, 1.0], "theta": [0.3, 0.6]}})
>>> len(spec.points())
4
>>> spec.points()[0].argv
['harvest', '--cluster=charged', '--temperature=0.5', '--theta=0.3']
>>> parse_spec({"command": "charge", "grid": {"temprature": [1.0]}})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
qcharge.exceptions.ParameterError: Argument `grid` must have keys that are options of `charge` (..., temperature, ...), but has unknown key(s) temprature.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from .exceptions import ParameterError, QchargeError
from .records import RecordStore, input_hash, to_jsonable

__all__ = [
    "COMMANDS",
    "SweepSpec",
    "Point",
    "SweepResult",
    "load_spec",
    "parse_spec",
    "run_point",
    "run_sweep",
    "load_table",
    "plot_table",
]

#: The verbs a sweep can run (experiments that return one record per call).
COMMANDS = ("charge", "harvest", "scale", "run charge", "run harvest")
# Options a point may not set: output the sweep itself owns (one record per point, in --out),
# or files every point would overwrite at once.
_OWNED = {"json": "the sweep reads each point's record itself",
          "plot": "every point would draw into the same file; use plot_table on the loaded table",
          "run_dir": "the sweep's --out folder stores every point",
          "job_store": "every point would write the same file"}
_SCALAR = (str, int, float, bool)


def _verb_parser(command: str) -> argparse.ArgumentParser:
    """The verb's own argparse parser (``run charge`` -> the ``charge`` parser under ``run``)."""
    from .cli import build_parser  # lazy: qcharge.cli imports this module for its `sweep` verb

    parser = build_parser()
    for word in command.split():
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[word]
    return parser


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """dest -> action of every long option a spec may set."""
    out = {}
    for action in parser._actions:
        if action.dest in _OWNED or isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        out[action.dest] = action
    return out


def _tokens(name: str, action: argparse.Action, value: Any) -> list[str]:
    """The argv tokens that set option ``name`` (spec key) to ``value``."""
    flag = max(action.option_strings, key=len)  # the long name
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise ParameterError(f"Argument `{name}` must be true or false (a flag), but is {value!r}.")
        return [flag] if value else []
    many = action.nargs in ("+", "*")
    if isinstance(value, list):
        if not many:
            raise ParameterError(f"Argument `{name}` must be a single value (the option takes one), but is the list {value!r}.")
        if not all(isinstance(v, _SCALAR) for v in value):
            raise ParameterError(f"Argument `{name}` must be a list of numbers or strings, but is {value!r}.")
        return [flag, *map(_text, value)]
    if not isinstance(value, _SCALAR) or isinstance(value, bool):
        raise ParameterError(f"Argument `{name}` must be a number or a string, but is {value!r}.")
    return [f"{flag}={_text(value)}"]  # `=` so a negative number is never read as an option


def _text(value: Any) -> str:
    # repr round-trips every float exactly (and gives 'inf', 'nan' that float() reads back).
    return repr(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Point:
    """One grid point: the spec's values, the verb's argv, the resolved arguments and their hash."""

    values: dict
    argv: list
    inputs: dict
    key: str


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep: ``command``, ``fixed`` values and ``grid`` lists (see the module docstring)."""

    command: str
    fixed: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)

    def points(self) -> list[Point]:
        """The grid's Cartesian product (first key outermost), each parsed by the verb's parser.

        Every point is parsed here, before anything runs, so a bad value at the last point
        is reported before the first one is computed.
        """
        parser = _verb_parser(self.command)
        options = _options(parser)
        names = list(self.grid)
        out = []
        for combo in itertools.product(*(self.grid[n] for n in names)):
            values = {**self.fixed, **dict(zip(names, combo))}
            argv = self.command.split()
            for name, value in values.items():
                argv += _tokens(name, options[name], value)
            try:
                ns = parser.parse_args(argv[len(self.command.split()):])
            except ParameterError as exc:
                raise ParameterError(f"Sweep point {_label(values)} is not valid for `{self.command}`: {exc}") from None
            # Unset options (None, a switch left off) stay out of the key: a release that adds an
            # option keeps the stored records of older sweeps valid.
            inputs = {"command": self.command}
            for d, action in options.items():
                v = getattr(ns, d)
                if v is not None and not (v is False and isinstance(action, argparse._StoreTrueAction)):
                    inputs[d] = to_jsonable(v)
            out.append(Point(values, argv, inputs, input_hash(inputs)))
        return out


def _label(values: Mapping) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items())


def parse_spec(data: Mapping, source: str = "spec") -> SweepSpec:
    """Validate a spec mapping (as read from TOML); raise :class:`ParameterError` naming what is wrong."""
    unknown = sorted(set(data) - {"command", "fixed", "grid"})
    if unknown:
        raise ParameterError(f"Argument `{source}` must have only the keys command, fixed, grid, but has {', '.join(unknown)}.")
    command = data.get("command")
    if command not in COMMANDS:
        raise ParameterError(f"Argument `command` must be one of {', '.join(map(repr, COMMANDS))}, but is {command!r}.")
    fixed, grid = data.get("fixed", {}), data.get("grid", {})
    for name, table in (("fixed", fixed), ("grid", grid)):
        if not isinstance(table, Mapping):
            raise ParameterError(f"Argument `{name}` must be a table, but is {table!r}.")
    if not grid:
        raise ParameterError("Argument `grid` must have at least one key with a list of values, but is empty.")
    valid = _options(_verb_parser(command))
    for name, table in (("fixed", fixed), ("grid", grid)):
        bad = [k for k in table if k not in valid]
        if bad:
            owned = [f"{k} ({_OWNED[k]})" for k in bad if k in _OWNED]
            note = f"; not allowed in a sweep: {', '.join(owned)}" if owned else ""
            raise ParameterError(
                f"Argument `{name}` must have keys that are options of `{command}` ({', '.join(sorted(valid))}), "
                f"but has unknown key(s) {', '.join(bad)}{note}."
            )
    both = sorted(set(fixed) & set(grid))
    if both:
        raise ParameterError(f"Argument `grid` must not repeat keys of `fixed`, but both have {', '.join(both)}.")
    for k, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ParameterError(f"Argument `grid.{k}` must be a non-empty list of values, but is {values!r}.")
    return SweepSpec(command, dict(fixed), dict(grid))


def load_spec(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a TOML spec file."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ParameterError(f"Argument `spec` must be a readable TOML file, but {str(path)!r} is not: {exc.strerror or exc}.") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"Argument `spec` must be valid TOML, but {str(path)!r} is not: {exc}.") from None
    return parse_spec(data)


def run_point(argv: Sequence[str]) -> Any:
    """Run one point: the verb's own parser and function, its ``--json`` record returned (JSON-ready).

    Top level (picklable), so local worker processes and Dask workers can call it.
    """
    from .cli import build_parser

    args = build_parser().parse_args(list(argv))
    args.json = True  # the record, never a table or a progress bar
    got: list = []
    args.record_sink = got.append  # emit() hands the record here instead of printing it
    args.func(args)
    return to_jsonable(got[0])


@dataclass(frozen=True)
class SweepResult:
    """What a sweep did: ``points`` in the grid, ``computed`` now, ``reused`` from the folder, ``records``."""

    points: int
    computed: int
    reused: int
    records: list
    seconds: float

    def to_dict(self) -> dict:
        return {"points": self.points, "computed": self.computed, "reused": self.reused,
                "seconds": self.seconds, "records": self.records}


def _dask_client(dask: Any, workers: int | None):
    """(client, close) for ``dask``: 'local' (a LocalCluster), a scheduler address, or a Client."""
    try:
        import distributed
    except ImportError:
        raise ParameterError("Argument `dask` needs the dask extra (pip install 'qcharge[dask]'), but distributed is not installed.") from None
    if isinstance(dask, distributed.Client):
        return dask, False
    if dask == "local":
        # One thread per worker process: the points are NumPy-bound and hold the GIL in Python parts.
        cluster = distributed.LocalCluster(n_workers=workers or os.cpu_count(), threads_per_worker=1,
                                           processes=True, dashboard_address=None)
        return distributed.Client(cluster), True
    try:
        return distributed.Client(dask, timeout="10s"), True
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"Argument `dask` must be 'local' or the address of a running Dask scheduler, but connecting to {dask!r} failed: {exc}") from None


def _fail(point: Point, exc: BaseException) -> None:
    if isinstance(exc, QchargeError):
        raise type(exc)(f"sweep point {_label(point.values)}: {exc}") from None
    exc.add_note(f"qcharge sweep: while running point {_label(point.values)}")
    raise exc


def run_sweep(
    spec: SweepSpec,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    dask: Any = None,
    progress: bool = False,
    point_function: Callable[[Sequence[str]], Any] = run_point,
) -> SweepResult:
    """Run every point of ``spec`` not yet stored in ``out``; store each record as it finishes.

    Args:
        spec: from :func:`load_spec` / :func:`parse_spec`.
        out: the record folder (one JSON file per point, named by its key); a rerun resumes.
        workers: local worker processes (default: the CPU count, at most the points to run);
            with ``dask="local"``, the LocalCluster's workers.
        dask: None (local processes), ``"local"`` (a LocalCluster), a scheduler address, or a
            ``distributed.Client``. The workers need qcharge installed.
        progress: a tqdm bar of points done and time left.
        point_function: runs one point from its argv (tests substitute one that fails).

    A failing point stops the sweep with its error (the point named); finished points stay
    stored and a rerun computes only the rest.
    """
    from tqdm import tqdm

    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ParameterError(f"Argument `workers` must be a positive integer, but is {workers!r}.")
    if workers is not None and dask is not None and not (isinstance(dask, str) and dask == "local"):
        raise ParameterError(
            f"Argument `workers` must not be given with a Dask scheduler address or client (its cluster has its own "
            f"workers), but is {workers}."
        )
    start = time.perf_counter()
    store = RecordStore(out, argument="out")
    points = spec.points()
    todo = {p.key: p for p in points if not store.done(p.inputs)}  # a repeated point runs once
    reused = len(points) - sum(1 for p in points if p.key in todo)
    bar = tqdm(total=len(points), initial=reused, desc="points", unit="pt", disable=not progress)
    try:
        if todo and dask is None:
            _run_local(todo, store, workers, point_function, bar)
        elif todo:
            _run_dask(todo, store, dask, workers, point_function, bar)
    finally:
        bar.close()
    records = [{"key": p.key, "inputs": p.inputs, "result": store.load(p.inputs)} for p in points]
    return SweepResult(len(points), len(points) - reused, reused, records, time.perf_counter() - start)


def _run_local(todo: dict, store, workers, fn, bar) -> None:
    # spawn: a clean interpreter per worker (forking a parent that runs threads is unsafe).
    pool = ProcessPoolExecutor(max_workers=min(workers or os.cpu_count() or 1, len(todo)),
                               mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = {pool.submit(fn, p.argv): p for p in todo.values()}
        for fut in as_completed(futures):
            point = futures[fut]
            exc = fut.exception()
            if exc is not None:
                _fail(point, exc)
            store.save(point.inputs, fut.result())  # written as it finishes: the resume point
            bar.update()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(todo: dict, store, dask, workers, fn, bar) -> None:
    import distributed

    client, close = _dask_client(dask, workers)
    try:
        # The key names the point, so a scheduler shared by several sweeps never mixes them up.
        futures = {client.submit(fn, p.argv, key=f"qcharge-point-{p.key}", pure=False): p for p in todo.values()}
        by_key = {f.key: p for f, p in futures.items()}
        try:
            for fut in distributed.as_completed(list(futures)):
                point = by_key[fut.key]
                if fut.status == "error":
                    _fail(point, fut.exception())
                store.save(point.inputs, fut.result())
                bar.update()
        finally:
            client.cancel(list(futures))
    finally:
        if close:
            cluster = client.cluster
            client.close()
            if cluster is not None:
                cluster.close()


def _flat(prefix: str, obj: Any, row: dict) -> None:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, row)
    else:
        row[prefix] = obj


def load_table(out: str | os.PathLike):
    """Every record in ``out`` as one pandas DataFrame, one row per point (per N for ``scale``).

    Columns: ``key``, the inputs (``command`` and every resolved option), then the result
    fields, nested ones joined by ``.`` (``twin.coherence_l1``); a result field whose name is
    also an input gets the prefix ``result.``. Time series stay lists in one cell:
    ``df["coherence_l1"].str[-1]`` is the last time's value.
    """
    import pandas as pd

    if not os.path.isdir(out):
        raise ParameterError(f"Argument `out` must be a sweep's record folder, but {str(out)!r} is not a folder.")
    rows = []
    for rec in RecordStore(out, argument="out").records():
        inputs, result = rec["inputs"], rec["result"]
        parts = result if isinstance(result, list) and all(isinstance(r, Mapping) for r in result) else [result]
        for part in parts:
            row = {"key": input_hash(inputs), **inputs}
            res: dict = {}
            _flat("", part if isinstance(part, Mapping) else {"result": part}, res)
            for k, v in res.items():
                row[f"result.{k}" if k in row else k] = v
            rows.append(row)
    return pd.DataFrame(rows)


def plot_table(df, x: str, y: str, *, by: str | None = None, path: str, title: str | None = None) -> str:
    """Draw column ``y`` versus ``x`` from a :func:`load_table` frame, one line per value of ``by``."""
    from .plot import _pyplot, figure_path

    for name, col in (("x", x), ("y", y), ("by", by)):
        if col is not None and col not in df.columns:
            raise ParameterError(f"Argument `{name}` must be a column of the table ({', '.join(map(str, df.columns))}), but is {col!r}.")
    path = figure_path("path", path)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    groups = [(None, df)] if by is None else list(df.groupby(by, sort=True))
    for value, part in groups:
        part = part.sort_values(x)
        ax.plot(part[x], part[y], "o-", ms=3, label=None if by is None else f"{by} = {value}")
    ax.set(xlabel=x, ylabel=y, title=title or "")
    if by is not None:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
