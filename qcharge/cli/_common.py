"""Shared pieces of the verbs: argument groups, parameter objects, output-path checks and ``--json`` output."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import numpy as np

from ..exceptions import ParameterError
from ..params import InitialState
from ..records import dumps

__all__ = [
    "OneLineParser",
    "add_bath_args",
    "add_initial_args",
    "add_circuit_args",
    "add_backend_args",
    "backend_from",
    "initial_from",
    "load_matrix",
    "progress",
    "emit",
    "output_file",
    "output_dir",
    "NAN_NOTE",
    "DEFAULT_L1_MAX_ATOMS",
    "add_l1_max_atoms_arg",
    "add_l1_budget_arg",
    "DEFAULT_SEED",
    "add_suppression_args",
    "suppression_from",
    "idle_noise_from",
]

DEFAULT_SEED = 7
# Where solve_dicke computes C_l1 (its defaults): nan beyond, by design, and the output says why.
DEFAULT_L1_MAX_ATOMS = 2000
NAN_NOTE = ("(C_l1 'not computed' = nan, see its note: from a product thermal state the long-time C_l1 is certified up "
            "to --l1-max-atoms (default 2000; ~N^2.6 big-integer work) and the finite-time one up to N = 1000 where an "
            "enclosure of the chains fits --l1-budget (default 60 s per time; N = 1000 at γt = 0.01 plans ~780 s); "
            "elsewhere it is an uncertified estimate with its error estimate, and nan where that error would exceed "
            "the value; from ground or excited states at any N it is certified where the relaxation bound or a "
            "uniformisation within --l1-budget reaches it, e.g. N = 10^4 at γt = 0.001 needs ~60 s)")


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line (no usage dump)."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse API
        raise ParameterError(f"{message} (see `{self.prog} --help`)")


def add_bath_args(p: argparse.ArgumentParser, *, inf_allowed: bool = True) -> None:
    what = "inf allowed" if inf_allowed else "finite (a collision step is 0 at T = inf)"
    p.add_argument("--temperature", "-T", type=float, required=True, help=f"bath temperature T, units of omega; {what} (required)")
    p.add_argument("--omega", type=float, default=1.0, help="atomic frequency (default 1)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")


def add_initial_args(p: argparse.ArgumentParser, *, with_eg: bool = True) -> None:
    g = p.add_mutually_exclusive_group()
    choices = ["ground", "excited", "eg"] if with_eg else ["ground", "excited"]
    g.add_argument("--initial-state", choices=choices, default=None, help="initial state (default ground)")
    g.add_argument("--initial-temperature", type=float, default=None, help="product thermal initial state at T0 (default: none, see --initial-state)")


def add_l1_max_atoms_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--l1-max-atoms", type=int, default=DEFAULT_L1_MAX_ATOMS, metavar="N",
                   help="Dicke solver: certify the long-time C_l1 (--long-time) of product thermal states up to this N; "
                        "above it that C_l1 is nan with a note (cost ~N^2.6: N = 2000 ~5 s, N = 4000 ~40-50 s CPU; "
                        "the finite-time rows are certified up to min(N, 1000) within --l1-budget, estimates "
                        f"above; default {DEFAULT_L1_MAX_ATOMS})")


def add_l1_budget_arg(p: argparse.ArgumentParser) -> None:
    from ..reference.dicke.thermal_l1 import DEFAULT_BUDGET_S

    p.add_argument("--l1-budget", type=float, default=DEFAULT_BUDGET_S, metavar="SECONDS",
                   help="Dicke solver: CPU seconds the certified finite-time C_l1 may cost per time (product thermal "
                        "states up to N = 1000; ground / excited states at any N), planned before any work; over it the "
                        "estimate is printed with the planned cost, the budget it needs. Planned / measured, thermal "
                        "N = 1000 from T0 = 0.5, T = 1: ~240 / 144 s at gamma t = 0.001, ~780 / 594 s at 0.01, "
                        "~100 / 105 s at 0.1, 22 / 22 s at 1; ground N = 10^4: ~6 s at gamma t = 1e-4, ~63 / 40-60 s "
                        f"at 1e-3 (default {DEFAULT_BUDGET_S:g}; inf: no limit)")


def add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="aer",
                   help="aer | aer-noisy:<fake> | fake:<fake> (runtime local mode) | ibm:<backend name> | custom "
                        "(with the error flags below); see `qcharge backends` (default aer)")
    g = p.add_argument_group("custom noise (--backend custom; all-to-all device)")
    for flag, what in (("--two-qubit-error", "cz error probability"), ("--one-qubit-error", "sx/x error probability"),
                       ("--readout-error", "symmetric readout flip probability")):
        g.add_argument(flag, type=float, default=None, help=f"{what} (default 0)")
    g.add_argument("--t1", type=float, default=None, help="T1 in microseconds (default: none)")
    g.add_argument("--t2", type=float, default=None, help="T2 in microseconds (default: none)")


_CUSTOM_FLAGS = ("two_qubit_error", "one_qubit_error", "readout_error", "t1", "t2")


def backend_from(args) -> str:
    """The backend string: ``--backend``, or for ``custom`` the spec its error flags give."""
    from ..execute import CustomNoise

    given = {k: getattr(args, k) for k in _CUSTOM_FLAGS if getattr(args, k, None) is not None}
    if args.backend == "custom":
        return CustomNoise(**given).spec()
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise ParameterError(f"Argument `--backend` must be 'custom' with {flags}, but is {args.backend!r}.")
    return args.backend


def add_suppression_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("error suppression (runtime sampler only: --backend fake:<fake> or ibm:<name>; "
                             "applied by the runtime's client-side sampler, so local testing mode runs it too; "
                             "recorded in the run ledger and in the record's `suppression`)")
    g.add_argument("--dynamical-decoupling", default=None, metavar="XX|XpXm|XY4",
                   help="pad idle periods of the scheduled circuits with this sequence (not with control flow). "
                        "Turns --idle-noise on: the noisy prediction is scheduled and padded with the same "
                        "sequence, as the runtime pads the run. Local testing mode cannot show a gain: its noise "
                        "is Markovian T1/T2 (default: off)")
    g.add_argument("--twirl-gates", action="store_true",
                   help="Pauli-twirl the two-qubit gate layers (randomizations x shots each = --shots). "
                        "Measurement twirling is not offered: it fails with mid-circuit measurements (default off)")
    p.add_argument("--idle-noise", action="store_true",
                   help="noisy backends: the noisy prediction is scheduled (ALAP, the device's durations) and each "
                        "idle qubit relaxes with the device's T1, T2 while others work (e.g. during the ancilla's "
                        "reset). Hardware always idles so; sampled aer-noisy and custom runs are never scheduled, local-mode "
                        "(fake:) runs only with --dynamical-decoupling, which turns this on; so a sampled run takes it on "
                        "ibm: and on fake: with --dynamical-decoupling only, an exact run on any noisy backend (default: "
                        "off, the unscheduled prediction)")


def suppression_from(args):
    """The :class:`~qcharge.execute.ErrorSuppression` of ``--dynamical-decoupling`` / ``--twirl-gates``,
    checked against ``--backend`` and the run's shots (and ``--idle-noise`` against ``--backend``)
    before anything runs or is recorded."""
    from ..execute import ErrorSuppression

    sup = ErrorSuppression(getattr(args, "dynamical_decoupling", None), bool(getattr(args, "twirl_gates", False)))
    exact = getattr(args, "exact", False) if args.experiment == "charge" else args.shots is None
    if sup.enabled:
        flag = "--dynamical-decoupling" if sup.dynamical_decoupling is not None else "--twirl-gates"
        if args.backend.partition(":")[0] not in ("fake", "ibm"):
            raise ParameterError(f"Argument `{flag}` needs the runtime sampler (--backend fake:<fake> or ibm:<name>), "
                                 f"but --backend is {args.backend!r}.")
        if exact:
            raise ParameterError(f"Argument `{flag}` needs a sampled run (--shots), but this run is exact.")
    sup.prediction(idle_noise_from(args), backend_from(args), sampled=not exact)  # the experiment's own check, early
    return sup


def idle_noise_from(args) -> bool:
    """``--idle-noise``, or on with ``--dynamical-decoupling`` (the prediction is then scheduled as the run is)."""
    return bool(getattr(args, "idle_noise", False)) or getattr(args, "dynamical_decoupling", None) is not None


def add_circuit_args(p: argparse.ArgumentParser) -> None:
    add_backend_args(p)
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"seed of the simulator, the random draws and the bootstrap (default {DEFAULT_SEED})")
    p.add_argument("--job-store", default=None, metavar="DIR",
                   help="folder of job records: each job id is written there before waiting, and a rerun "
                        "with the same inputs resumes from it (default: none)")


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
    sink = getattr(args, "record_sink", None)
    if sink is not None:  # an in-process caller (qcharge.sweep.run_point) takes the record itself
        sink(payload)
        return
    print(dumps(payload, indent=2) if args.json else text)


def _probe_write(name: str, folder: str, path: str) -> None:
    """Write and delete a scratch file in ``folder``: the only test that also holds for root and odd mounts."""
    try:
        with tempfile.NamedTemporaryFile(dir=folder or "."):
            pass
    except OSError as exc:
        raise ParameterError(f"Argument `{name}` must be a writable path, but {path!r} is not: {exc.strerror or exc}.") from None


def output_file(name: str, path: str, *, make_folder: bool = False) -> str:
    """Check, before any computation, that a file can be written at ``path``; return ``path``.

    ``make_folder``: create a missing parent folder (else it must exist, as matplotlib needs).
    """
    if os.path.isdir(path):
        raise ParameterError(f"Argument `{name}` must be a file path, but {path!r} is a directory.")
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        if not make_folder or os.path.exists(folder):
            raise ParameterError(f"Argument `{name}` must be in an existing folder, but {folder!r} is not one.")
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as exc:
            raise ParameterError(f"Argument `{name}` must be a writable path, but {path!r} is not: {exc.strerror or exc}.") from None
    _probe_write(name, folder, path)
    return path


def output_dir(name: str, path: str) -> str:
    """Check, before any computation, that ``path`` is (or is now created as) a writable folder; return it."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise ParameterError(f"Argument `{name}` must be a folder, but {path!r} is an existing file.")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"Argument `{name}` must be a writable folder, but {path!r} is not: {exc.strerror or exc}.") from None
    _probe_write(name, path, path)
    return path
