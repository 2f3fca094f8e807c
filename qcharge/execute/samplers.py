"""The sampler object for a backend: Aer's SamplerV2, or the runtime's current sampler (local mode or a batch),
and the opt-in error suppression of the runtime sampler (dynamical decoupling, gate twirling)."""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass

from qiskit_aer.primitives import SamplerV2 as AerSamplerV2

from .._checks import check_choice
from ..exceptions import BackendError, ParameterError
from ._common import _is_aer
from .capabilities import _CONTROL_FLOW, circuit_features
from .scheduling import DD_SEQUENCES
from .seeds import simulator_seed


@dataclass(frozen=True)
class ErrorSuppression:
    r"""Opt-in error suppression of the runtime sampler (``fake:`` and ``ibm:`` backends; default: off).

    ``dynamical_decoupling``: fill idle periods with an ``XX``, ``XpXm`` or ``XY4`` sequence
    (the runtime schedules the transpiled circuit ALAP with the target's durations and pads it,
    :class:`~qiskit.transpiler.passes.PadDynamicalDecoupling`); not with control flow.
    ``twirl_gates``: Pauli twirling of the two-qubit gate layers, :math:`R` randomizations of
    :math:`s` shots with :math:`R s` = shots exactly (:func:`twirl_split`). Measurement twirling is
    not offered: it fails on circuits with mid-circuit measurements (``--ancilla measure``).

    Both are applied by the runtime's client-side sampler code (``executor_sampler.prepare``), so
    local testing mode (``fake:``) runs the very circuits hardware would. What local mode can *not*
    show is a gain from DD: the fake devices' Aer noise is Markovian T1/T2 (no ZZ crosstalk, no
    quasi-static detuning), which DD does not refocus, and only a DD run is scheduled, so only it
    carries idle relaxation during resets and measurements (5.5 µs on FakeManila), which unscheduled
    runs omit. The noisy prediction of a DD run is therefore scheduled and padded alike
    (:meth:`prediction`, ``run_density_matrix(idle_noise=True, dynamical_decoupling=...)``). Measured
    (N = 2, θ = 0.9 x 3, FakeManila, exact density matrices): pair coherence 0.0133 unscheduled,
    0.0078 scheduled with delays, 0.0070-0.0071 with XX, XpXm or XY4. Judge DD on hardware, against a
    run without it.

    Example:
        >>> ErrorSuppression(dynamical_decoupling="XY4").to_dict()
        {'dynamical_decoupling': 'XY4', 'twirl_gates': False}
        >>> ErrorSuppression().enabled
        False
    """

    dynamical_decoupling: str | None = None
    twirl_gates: bool = False

    def __post_init__(self) -> None:
        if self.dynamical_decoupling is not None:
            check_choice("dynamical_decoupling", self.dynamical_decoupling, DD_SEQUENCES)
        if not isinstance(self.twirl_gates, bool):
            raise ParameterError(f"Argument `twirl_gates` must be True or False, but is {self.twirl_gates!r}.")

    @property
    def enabled(self) -> bool:
        return self.dynamical_decoupling is not None or self.twirl_gates

    def to_dict(self) -> dict:
        return {"dynamical_decoupling": self.dynamical_decoupling, "twirl_gates": self.twirl_gates}

    def prediction(self, idle_noise: bool, backend, *, sampled: bool = False) -> dict:
        """The ``idle_noise`` / ``dynamical_decoupling`` arguments of
        :func:`~qcharge.execute.run_density_matrix` for the noisy prediction of a run on ``backend``
        sampled with these choices: with idle noise, this DD sequence too (the prediction is padded as
        the run is). Refuses, before anything runs, idle noise on the ideal simulator (it has no T1, T2)
        and on ``sampled`` runs whose circuits do not idle as the prediction does: Aer paths
        (``aer-noisy:``, ``custom``) sample unscheduled circuits, and local mode (``fake:``) schedules
        only with dynamical decoupling; hardware (``ibm:``) always idles."""
        from .backends import _device_for_noise
        from .density import _check_idle

        # The device is resolved only with idle noise (for ibm: that is a service call).
        _check_idle(idle_noise, None, _device_for_noise(backend) if idle_noise is True else None, backend)
        kind = backend.partition(":")[0] if isinstance(backend, str) else None
        if idle_noise and sampled and not (kind == "ibm" or (kind == "fake" and self.dynamical_decoupling)):
            raise ParameterError(
                "Argument `idle_noise` on a sampled run needs circuits that idle as the prediction does (ibm:<name>, "
                f"or fake:<fake> with dynamical decoupling), but {backend!r} samples unscheduled circuits, so the "
                "prediction would not be theirs: drop it, or run exactly (--exact / no --shots) for the prediction.")
        return {"idle_noise": idle_noise, "dynamical_decoupling": self.dynamical_decoupling if idle_noise else None}

    def record(self, idle_noise: bool) -> dict:
        """The run record's ``suppression`` entry (:class:`qcharge.results.Suppression`)."""
        return {**self.to_dict(), "idle_noise": idle_noise}

    def check(self, circuits, backend_name: str, *, runtime: bool) -> None:
        """Refuse, in one line and before anything is submitted, what the runtime would refuse or ignore.

        ``runtime``: the circuits go to the runtime sampler (fake device in local mode, or a real one);
        Aer paths (``aer``, ``aer-noisy:``, ``custom``) sample without these options.
        """
        if not self.enabled:
            return
        if not runtime:
            flag = "dynamical_decoupling" if self.dynamical_decoupling is not None else "twirl_gates"
            raise ParameterError(
                f"Argument `{flag}` needs the runtime sampler (backend 'fake:<fake>' or 'ibm:<name>'), but the "
                f"backend is {backend_name!r}, which Aer samples without it.")
        flow = sorted(circuit_features(circuits) & _CONTROL_FLOW)
        if self.dynamical_decoupling is not None and flow:
            raise ParameterError(f"Argument `dynamical_decoupling` must be off for circuits with control flow "
                                 f"(the runtime cannot pad dynamic circuits), but they use {', '.join(flow)}.")

    def apply(self, options, shots: int) -> None:
        """Set these choices on a runtime ``SamplerOptions`` (measurement twirling always off)."""
        options.dynamical_decoupling.enable = self.dynamical_decoupling is not None
        if self.dynamical_decoupling is not None:
            options.dynamical_decoupling.sequence_type = self.dynamical_decoupling
        options.twirling.enable_gates = self.twirl_gates
        options.twirling.enable_measure = False
        if self.twirl_gates:
            randomizations, per = twirl_split(shots)
            options.twirling.num_randomizations = randomizations
            options.twirling.shots_per_randomization = per


def twirl_split(shots: int) -> tuple[int, int]:
    """Randomizations R and shots per randomization s with R s = shots exactly.

    The runtime's ``'auto'`` takes s = max(64, ceil(shots/32)) and R = ceil(shots/s), which
    overshoots (1000 shots -> 16 x 64 = 1024) where qcharge's analysis expects the requested
    shots. Here R is the largest divisor of shots up to min(32, shots // 64) (at least 1).

    Example:
        >>> twirl_split(4000), twirl_split(1000), twirl_split(101)
        ((32, 125), (10, 100), (1, 101))
    """
    most = max(1, min(32, shots // 64))
    randomizations = max(r for r in range(1, most + 1) if shots % r == 0)
    return randomizations, shots // randomizations


_SUPPRESSION: contextvars.ContextVar[ErrorSuppression] = contextvars.ContextVar(
    "qcharge_error_suppression", default=ErrorSuppression())


@contextlib.contextmanager
def error_suppression(suppression: ErrorSuppression | None = None, **choices):
    """Within the block, runtime samplers (:func:`~qcharge.execute.run_counts`, submitted jobs) use
    ``suppression`` (or ``ErrorSuppression(**choices)``).

    The experiments and the run ledger call :func:`~qcharge.execute.run_counts` with a fixed
    signature; the CLI's ``--dynamical-decoupling`` / ``--twirl-gates`` set this around the run.

    Example:
        >>> with error_suppression(twirl_gates=True):
        ...     current_suppression().twirl_gates
        True
        >>> current_suppression().enabled
        False
    """
    token = _SUPPRESSION.set(suppression if suppression is not None else ErrorSuppression(**choices))
    try:
        yield _SUPPRESSION.get()
    finally:
        _SUPPRESSION.reset(token)


def current_suppression() -> ErrorSuppression:
    """The :class:`ErrorSuppression` in force (the innermost :func:`error_suppression`; default off)."""
    return _SUPPRESSION.get()


def _make_sampler(backend, shots: int, seed: int | None, suppression: ErrorSuppression | None = None):
    """A sampler for ``backend``: Aer's SamplerV2 for Aer simulators, else the runtime's current one.

    ``qiskit_ibm_runtime.executor_sampler.Sampler`` (imported explicitly: the top-level
    ``SamplerV2``/``Sampler`` of qiskit-ibm-runtime 0.51 is the deprecated class). ``backend`` is
    its mode: a fake device (local testing mode) or a :class:`qiskit_ibm_runtime.Batch` on a real
    one (the open plan has no sessions). ``suppression`` (runtime only) sets its DD and twirling options.
    """
    if _is_aer(backend):
        return AerSamplerV2.from_backend(backend, default_shots=shots, seed=simulator_seed(seed))
    try:
        from qiskit_ibm_runtime.executor_sampler import Sampler
    except ImportError as err:
        raise BackendError("Non-Aer backends need qiskit-ibm-runtime >= 0.50: pip install 'qcharge[ibm]'.") from err
    sampler = Sampler(mode=backend)
    sampler.options.default_shots = shots
    if getattr(backend, "service", None) is None:
        # A device without a service (a fake one) runs in local testing mode, which samples on Aer
        # with this seed; a Batch on a real device has a service and no simulator seed.
        sampler.options.simulator.seed_simulator = simulator_seed(seed)
    if suppression is not None and suppression.enabled:
        suppression.apply(sampler.options, shots)
    return sampler


def _open_batch(backend):
    """A runtime Batch for a real device (``None`` for fake devices, which run in local mode)."""
    if getattr(backend, "service", None) is None:
        return None
    from qiskit_ibm_runtime import Batch

    return Batch(backend=backend)


def _retrieve_job(backend, job_id: str):
    """A previously submitted job by id, or ``None`` when the backend cannot retrieve jobs (Aer)."""
    service = getattr(backend, "service", None)
    if service is None or _is_aer(backend):
        return None
    try:
        return service.job(job_id)
    except Exception as err:
        raise BackendError(f"Could not retrieve stored job {job_id!r}: {type(err).__name__}: {err}") from err
