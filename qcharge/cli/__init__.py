"""Command line: ``qcharge charge | harvest | scale | run | sweep | export | report | demo | backends | plan | submit | status | fetch | runs``.

Tables for people by default, ``--json`` for scripts (strict JSON; non-finite numbers as
the strings "inf"/"-inf"/"nan"). Any error a user can cause ends in one line on stderr
and exit status 2, never a traceback. One module per verb; :mod:`._common` holds what
they share.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from collections.abc import Sequence

from .. import __version__
from ..exceptions import QchargeError
from . import backends, charge, demo, export, fetch, harvest, plan, report, run, runs, scale, status, submit, sweep
from ._common import OneLineParser

__all__ = ["build_parser", "main", "DESCRIPTION"]

# Plain text for --help (the module docstring is reStructuredText).
DESCRIPTION = ("qcharge charge | harvest | scale | run | sweep | export | report | demo | backends | plan | "
               "submit | status | fetch | runs: thermal charging and harvesting of coherences")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="qcharge", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"qcharge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for verb in (charge, harvest, scale, run, sweep, export, report, demo, backends, plan, submit, status, fetch, runs):
        verb.add_parser(sub)
    return parser


def _option_names(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Every option's destination -> its long flag, over all verbs (``probe_gamma`` -> ``--probe-gamma``)."""
    names: dict[str, str] = {}
    for action in parser._actions:  # argparse has no public walk over its actions
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                for dest, flag in _option_names(sub).items():
                    names.setdefault(dest, flag)
        longs = [o for o in action.option_strings if o.startswith("--")]
        if longs and action.dest not in ("help", "version"):
            names.setdefault(action.dest, longs[0])
    return names


def cli_names(message: str, parser: argparse.ArgumentParser) -> str:
    """A library message in the CLI's words: ``Argument `probe_gamma```, ``method='dicke'`` and bare
    ``max_memory_gb`` become ``--probe-gamma``, ``--method dicke`` and ``--max-memory-gb``.

    The library names its Python arguments (right for Python callers); the CLI user typed flags.

    >>> cli_names("Argument `probe_gamma` must be >= 0; use method='full' or raise max_memory_gb.", build_parser())
    'Argument `--probe-gamma` must be >= 0; use --method full or raise --max-memory-gb.'
    """
    names = _option_names(parser)
    message = re.sub(r"`(\w+)`", lambda m: f"`{names.get(m.group(1), m.group(1))}`", message)
    message = re.sub(r"\b(\w+) ?= ?'([\w-]+)'",
                     lambda m: f"{names[m.group(1)]} {m.group(2)}" if m.group(1) in names else m.group(0), message)
    # bare snake_case names (an underscore makes them unmistakably identifiers), not inside a flag
    return re.sub(r"(?<![\w-])([a-z0-9]+(?:_[a-z0-9]+)+)\b", lambda m: names.get(m.group(1), m.group(1)), message)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 1 unexpected error)."""
    parser = build_parser()
    try:
        with warnings.catch_warnings():
            # a library warning (e.g. a stored job that cannot be retrieved) is one line for a person
            warnings.showwarning = lambda message, *_, **__: print(f"qcharge: note: {message}", file=sys.stderr)
            args = parser.parse_args(argv)
            return int(args.func(args) or 0)
    except QchargeError as exc:
        print(f"qcharge: error: {cli_names(str(exc), parser)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `qcharge ... | head`: the reader left; say nothing (Python docs' recipe)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except MemoryError as exc:  # a size no library check caught: still one line, never a traceback
        print(f"qcharge: error: not enough memory: {exc}".rstrip(": "), file=sys.stderr)
        return 2
    except OSError as exc:  # unwritable --plot/--out/--job-store paths and the like
        print(f"qcharge: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("qcharge: interrupted", file=sys.stderr)
        return 130
