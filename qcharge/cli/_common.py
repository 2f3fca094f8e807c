"""Shared pieces of the verbs: argument groups, parameter objects, tables and ``--json`` output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np

from ..exceptions import ParameterError
from ..params import InitialState
from ..records import dumps

__all__ = [
    "OneLineParser",
    "add_bath_args",
    "add_initial_args",
    "add_circuit_args",
    "initial_from",
    "load_matrix",
    "progress",
    "emit",
    "table",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line (no usage dump)."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse API
        raise ParameterError(f"{message} (see `{self.prog} --help`)")


def add_bath_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--temperature", "-T", type=float, required=True, help="bath temperature T (units of omega)")
    p.add_argument("--omega", type=float, default=1.0, help="atomic frequency (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_initial_args(p: argparse.ArgumentParser, *, with_eg: bool = True) -> None:
    g = p.add_mutually_exclusive_group()
    choices = ["ground", "excited", "eg"] if with_eg else ["ground", "excited"]
    g.add_argument("--initial-state", choices=choices, default=None, help="initial state (default ground)")
    g.add_argument("--initial-temperature", type=float, default=None, help="product thermal initial state at T0")


def add_circuit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="aer", help="aer | aer-noisy:<fake backend> | ibm:<backend name>")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--job-store", default=None, help="JSON file: hardware job ids are written here before waiting")


def initial_from(args) -> InitialState:
    if args.initial_temperature is not None:
        return InitialState.thermal(args.initial_temperature)
    return InitialState(args.initial_state or "ground")


def load_matrix(path: str, name: str) -> np.ndarray:
    try:
        with open(path) as fh:
            return np.asarray(json.load(fh), dtype=float)
    except (OSError, ValueError) as exc:
        raise ParameterError(f"Argument `{name}` must be a JSON file with a nested list, but reading {path!r} failed: {exc}") from None


def progress(args) -> bool:
    """Progress bars only for people watching a terminal (never in --json output or pipes)."""
    return not args.json and sys.stderr.isatty()


def emit(args, payload, text: str) -> None:
    print(dumps(payload, indent=2) if args.json else text)


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    cells = [list(map(str, headers))] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
