"""Command line: ``qcharge charge | harvest | scale | run | sweep | export | report | demo | backends | plan | submit | status | fetch | runs``.

Tables for people by default, ``--json`` for scripts (strict JSON; non-finite numbers as
the strings "inf"/"-inf"/"nan"). Any error a user can cause ends in one line on stderr
and exit status 2, never a traceback. One module per verb; :mod:`._common` holds what
they share.
"""

from __future__ import annotations

import argparse
import os
import sys
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 1 unexpected error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except QchargeError as exc:
        print(f"qcharge: error: {exc}", file=sys.stderr)
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
