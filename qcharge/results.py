r"""Typed results: frozen records of fixed schema for every public computation.

Each record has ``to_dict()`` (exactly the keys the CLI's ``--json`` prints, so scripts keep
working), ``from_dict()`` (its inverse; extra keys are refused, missing optional ones read as
``None``) and a readable ``__str__`` (the CLI's table). Parts that depend on the mode of a
run (intervals of sampled runs, the Dicke solver's error bound, the long-time point) are
typed ``X | None``: the field is always there; ``to_dict`` leaves out the ``None`` ones
where the dict never had that key.

* :class:`ChargeTrace`: :func:`qcharge.reference.charging.charge` (its ``long_time`` part: :class:`ChargePoint`).
* :class:`HarvestSummary`: :func:`qcharge.reference.harvest.harvest_summary`.
* :class:`ClusterTeff`: :func:`qcharge.reference.clusters.cluster_teff` (K-atom clusters in the Dicke basis).
* :class:`Comparison`: :func:`qcharge.compare.compare_exact` / :func:`~qcharge.compare.compare_sampled`
  (values, intervals and verdicts per quantity: :class:`Quantities`).
* :class:`ChargeRun`, :class:`HarvestRun`: :func:`qcharge.experiments.run_charge` / ``run_harvest``
  (on noisy backends with their error-suppression settings, :class:`Suppression`).

>>> s = HarvestSummary.from_dict({"teff": 1.0, "teff_second_order": 1.0, "probe_excited_population": 0.27,
...     "coherence_l1": 0.24, "jp_jm": 0.6, "jm_jp": 1.6, "heat_current": 0.0, "heat_current_second_order": 0.0})
>>> s.teff, s.heat_current_second_order
(1.0, 0.0)
>>> HarvestSummary.from_dict(s.to_dict()) == s
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from .exceptions import ParameterError

__all__ = [
    "table",
    "Quantities",
    "ChargePoint",
    "ChargeTrace",
    "HarvestSummary",
    "ClusterTeff",
    "Comparison",
    "ProbeEstimate",
    "Suppression",
    "ChargeRun",
    "HarvestRun",
]

V = TypeVar("V")
Interval = tuple[float, float]


# ---------------------------------------------------------------- formatting
def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def table(headers: Sequence[str], rows: Sequence[Sequence]) -> str:
    """Right-aligned plain-text table (floats to 6 significant digits).

    >>> print(table(["a", "b"], [[1, 0.5], [10, 1/3]]))
     a         b
    --  --------
     1       0.5
    10  0.333333
    """
    cells = [list(map(str, headers))] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _span(iv: Interval | None) -> str:
    return "exact" if iv is None else f"[{iv[0]:.5f}, {iv[1]:.5f}]"


# ---------------------------------------------------------------- conversion helpers
def _keys(cls, data: Mapping, allowed: Sequence[str], required: Sequence[str]) -> None:
    """Fixed schema: refuse keys the record does not have, and missing required ones."""
    if not isinstance(data, Mapping):
        raise ParameterError(f"Argument `data` must be a mapping for {cls.__name__}, but is {type(data).__name__}.")
    extra = sorted(set(data) - set(allowed))
    missing = [k for k in required if k not in data]
    if extra or missing:
        raise ParameterError(
            f"Argument `data` must have the keys of {cls.__name__}, but has unexpected {extra} and lacks {missing}."
        )


def _tuple(v) -> tuple | None:
    return None if v is None else tuple(v)


def _interval(v) -> Interval | None:
    return None if v is None else (v[0], v[1])


def _plain(v) -> Any:
    """Records -> dicts, tuples -> lists (what JSON makes of them anyway)."""
    if hasattr(v, "to_dict"):
        return v.to_dict()
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


class _Record:
    """Generic ``to_dict``/``from_dict`` in field order; ``_OMIT_NONE`` fields are left out while ``None``."""

    _OMIT_NONE: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name in self._OMIT_NONE:
                continue
            out[f.name] = _plain(value)
        return out

    @classmethod
    def _names(cls) -> tuple[list[str], list[str]]:
        fields = dataclasses.fields(cls)
        required = [f.name for f in fields if f.name not in cls._OMIT_NONE]
        return [f.name for f in fields], required

    @classmethod
    def from_dict(cls, data: Mapping):
        """The record of a :meth:`to_dict` mapping: every field kept as it is (records of nested types override this)."""
        names, required = cls._names()
        _keys(cls, data, names, required)
        return cls(**{k: data.get(k) for k in names})


# ---------------------------------------------------------------- per-quantity values
@dataclass(frozen=True)
class Quantities(_Record, Generic[V]):
    r"""One value per state quantity of :data:`qcharge.compare.QUANTITIES` (a float, an interval or a verdict)."""

    coherence_l1: V
    heat_exchange_coherence: V
    coherence_re: V
    energy: V
    rho_eg_ge: V

    @classmethod
    def from_dict(cls, data: Mapping, convert=lambda v: v) -> Quantities:
        names, required = cls._names()
        _keys(cls, data, names, required)
        return cls(**{k: convert(data[k]) for k in names})

    def items(self):
        return ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self))


# ---------------------------------------------------------------- charging
_OBSERVABLES = ("coherence_l1", "log10_coherence_l1", "coherence_re", "energy", "heat")


@dataclass(frozen=True)
class ChargePoint(_Record):
    r"""Observables of one state (the :math:`t \to \infty` part of a :class:`ChargeTrace`)."""

    coherence_l1: float
    log10_coherence_l1: float
    coherence_re: float
    energy: float
    heat: float
    # Dicke method only (absolute bound; on 'estimate' rows an error estimate, not a bound)
    coherence_l1_error_bound: float | None = None
    # Dicke method only: the same relative to the value (finite where the absolute one overflows, C_l1 > 1e308)
    coherence_l1_relative_error_bound: float | None = None
    coherence_l1_status: str | None = None  # Dicke method only: 'certified', 'estimate' or 'not computed'
    # Dicke method only: what an 'estimate' is and its relative error estimate, or why C_l1 is 'not computed'
    # (nan); '' for a certified value.
    coherence_l1_note: str | None = None

    _OMIT_NONE: ClassVar[frozenset[str]] = frozenset(
        {"coherence_l1_error_bound", "coherence_l1_relative_error_bound", "coherence_l1_status", "coherence_l1_note"})


@dataclass(frozen=True)
class ChargeTrace(_Record):
    r"""Collective charging (docs/physics.md §1.1) at ``times``: heat :math:`\Delta Q = E(t) - E(0)`."""

    method: str
    times: tuple[float, ...]
    coherence_l1: tuple[float, ...]
    log10_coherence_l1: tuple[float, ...]
    coherence_re: tuple[float, ...]
    energy: tuple[float, ...]
    heat: tuple[float, ...]
    coherence_l1_error_bound: tuple[float, ...] | None = None  # Dicke method only
    coherence_l1_relative_error_bound: tuple[float, ...] | None = None  # Dicke method only (see ChargePoint)
    coherence_l1_status: tuple[str, ...] | None = None  # Dicke method only, per time (see ChargePoint)
    coherence_l1_note: tuple[str, ...] | None = None  # Dicke method only, per time (see ChargePoint)
    long_time: ChargePoint | None = None  # with long_time=True
    coherence_lifetime: float | None = None  # 1/(slowest excited decay rate), inf when protected; None (JSON null): not computed
    gamma_matrix: tuple[tuple[float, ...], ...] | None = None  # the atoms' matrices, where they are not uniform
    dipolar_matrix: tuple[tuple[float, ...], ...] | None = None

    _OMIT_NONE: ClassVar[frozenset[str]] = frozenset(
        {"coherence_l1_error_bound", "coherence_l1_relative_error_bound", "coherence_l1_status", "coherence_l1_note",
         "long_time", "gamma_matrix",
         "dipolar_matrix"}
    )

    @classmethod
    def from_dict(cls, data: Mapping) -> ChargeTrace:
        names, required = cls._names()
        _keys(cls, data, names, required)
        lt = data.get("long_time")
        matrices = {k: None if data.get(k) is None else tuple(tuple(row) for row in data[k])
                    for k in ("gamma_matrix", "dipolar_matrix")}
        scalars = ("method", "long_time", "coherence_lifetime") + tuple(matrices)
        values = {k: _tuple(data.get(k)) for k in names if k not in scalars}
        return cls(method=data["method"], long_time=None if lt is None else ChargePoint.from_dict(lt),
                   coherence_lifetime=data.get("coherence_lifetime"), **matrices, **values)

    def rows(self) -> list[list]:
        """``[t, C_l1, log10 C_l1, C_re, energy, heat]`` per time, then ``['inf', ...]`` for the long-time point."""
        rows = [[t] + [getattr(self, k)[i] for k in _OBSERVABLES] for i, t in enumerate(self.times)]
        if self.long_time is not None:
            rows.append(["inf"] + [getattr(self.long_time, k) for k in _OBSERVABLES])
        return rows

    def statuses(self) -> list[str | None]:
        """The C_l1 status of every row of :meth:`rows` (``None`` where the method states none)."""
        per_time = list(self.coherence_l1_status or [None] * len(self.times))
        return per_time + ([self.long_time.coherence_l1_status] if self.long_time is not None else [])

    def notes(self) -> list[str]:
        """The C_l1 note of every row of :meth:`rows` (``''`` where there is none)."""
        per_time = list(self.coherence_l1_note or [""] * len(self.times))
        return per_time + ([self.long_time.coherence_l1_note or ""] if self.long_time is not None else [])

    def __str__(self) -> str:
        # A value whose bound does not certify it is never printed as a value: it says so in its row (an
        # estimate with its relative error estimate; an estimate whose error exceeds it is nan, 'not computed').
        rows = [r + [s or ""] for r, s in zip(self.rows(), self.statuses())]
        rels = list(self.coherence_l1_relative_error_bound or [None] * len(self.times))
        bounds = list(self.coherence_l1_error_bound or [None] * len(self.times))
        if self.long_time is not None:
            rels.append(self.long_time.coherence_l1_relative_error_bound)
            bounds.append(self.long_time.coherence_l1_error_bound)
        for r, rel, b in zip(rows, rels, bounds):
            if r[-1] == "estimate" and (rel is not None or b is not None):
                if rel is None:  # a record written before the relative bound was kept
                    rel = b / r[1] if 0 < r[1] < float("inf") else _rel_from_log(b, r[2])
                r[-1] = f"estimate, rel. error ~{rel:.1g}"
        for r in rows:  # C_l1 beyond float64 (N in the thousands): its log10 is the number
            if r[1] == float("inf") and abs(r[2]) != float("inf") and r[2] == r[2]:
                r[1] = f"10^{r[2]:.4f}"
        headers = ["t", "C_l1", "log10 C_l1", "C_re", "energy", "heat"]
        if any(self.statuses()):
            text = f"method: {self.method}\n" + table(headers + ["C_l1 is"], rows)
        else:
            text = f"method: {self.method}\n" + table(headers, [r[:-1] for r in rows])
        if self.coherence_lifetime is not None:
            tau = self.coherence_lifetime
            text += "\ncoherence lifetime: " + ("inf (protected)" if tau == float("inf") else f"{tau:.6g} / gamma")
        said = [f"  t = {r[0]}: {note}" for r, note in zip(self.rows(), self.notes()) if note]
        if said:
            text += "\nC_l1 notes:\n" + "\n".join(said)
        return text


def _rel_from_log(bound: float, log10_value: float) -> float:
    """bound / value for a value beyond float64, given by its log10 (the bound, if finite, is far below it)."""
    import math

    if not (bound > 0 and math.isfinite(bound)) or log10_value != log10_value:
        return float("inf") if bound == float("inf") else 0.0
    return 10.0 ** (math.log10(bound) - log10_value)


# ---------------------------------------------------------------- harvesting
@dataclass(frozen=True)
class HarvestSummary(_Record):
    r"""Probe steady state with the exact map and second order (docs/physics.md §4.3, 4.5); cluster moments."""

    teff: float
    teff_second_order: float
    probe_excited_population: float
    coherence_l1: float
    jp_jm: float
    jm_jp: float
    heat_current: float  # exact heat flow into the probe, omega r [M(rho_p) - rho_p]_ee
    heat_current_second_order: float  # (4.6) at the same steady state

    def __str__(self) -> str:
        return table(["quantity", "value"], [[k, v] for k, v in self.to_dict().items()])


@dataclass(frozen=True)
class ClusterTeff(_Record):
    r"""Probe T_eff fed by Dicke-diagonal K-atom clusters (docs/physics.md §4.2): exact map and second order."""

    kind: str
    cluster_size: int
    bath_temperature: float  # the bath that charged the reference cluster
    excitations: float  # <N> of the cluster
    coherence: float  # C = sum_{i != j} <s+^i s-^j> (3.1)
    jp_jm: float
    jm_jp: float
    teff: float  # exact collision map at theta
    teff_second_order: float  # (4.5)
    probe_excited_population: float  # exact map
    relaxation_rate: float  # of the probe populations, exact map (units of gamma)
    relaxation_rate_second_order: float
    theta: float

    def __str__(self) -> str:
        return table(["quantity", "value"], [[k, v] for k, v in self.to_dict().items()])


# ---------------------------------------------------------------- comparisons
_DISTANCES = ("fidelity", "trace_distance", "twin_fidelity", "twin_trace_distance")


@dataclass(frozen=True)
class Comparison(_Record):
    r"""A circuit state beside its twin (verdicts) and the master equation (reported).

    Exact runs: ``ci``, ``acceptance``, ``twin_fidelity`` and every ``*_ci`` are ``None``.
    """

    circuit: Quantities[float]
    twin: Quantities[float]
    reference: Quantities[float]
    verdicts: Quantities[bool]
    fidelity: float
    trace_distance: float
    twin_trace_distance: float
    agree: bool
    ci: Quantities[Interval] | None = None
    acceptance: Quantities[Interval] | None = None
    twin_fidelity: float | None = None
    fidelity_ci: Interval | None = None
    trace_distance_ci: Interval | None = None
    twin_fidelity_ci: Interval | None = None
    twin_trace_distance_ci: Interval | None = None
    level: float | None = None  # confidence level, interval and verdict methods (where the producer states them)
    ci_method: str | None = None
    verdict_method: str | None = None

    _OMIT_NONE: ClassVar[frozenset[str]] = frozenset(
        {"ci", "acceptance", "twin_fidelity", "fidelity_ci", "trace_distance_ci", "twin_fidelity_ci",
         "twin_trace_distance_ci", "level", "ci_method", "verdict_method"}
    )
    # Key order of today's dicts (compare_exact, compare_sampled), so --json prints them unchanged.
    _EXACT_ORDER: ClassVar[tuple[str, ...]] = (
        "circuit", "twin", "reference", "verdicts", "level", "ci_method", "verdict_method",
        "twin_trace_distance", "fidelity", "trace_distance", "agree",
    )
    _SAMPLED_ORDER: ClassVar[tuple[str, ...]] = (
        "circuit", "twin", "reference", "ci", "acceptance", "verdicts", "level", "ci_method", "verdict_method",
        "fidelity", "fidelity_ci", "trace_distance", "trace_distance_ci",
        "twin_fidelity", "twin_fidelity_ci", "twin_trace_distance", "twin_trace_distance_ci", "agree",
    )

    @property
    def sampled(self) -> bool:
        """True for tomography (intervals present), False for exact density-matrix runs."""
        return self.ci is not None

    def to_dict(self) -> dict:
        order = self._SAMPLED_ORDER if self.sampled else self._EXACT_ORDER
        out = {}
        for k in order:
            value = getattr(self, k)
            if value is None and k in self._OMIT_NONE:
                continue
            out[k] = _plain(value)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Comparison:
        names, required = cls._names()
        _keys(cls, data, names, required)
        q = {k: Quantities.from_dict(data[k]) for k in ("circuit", "twin", "reference", "verdicts")}
        iv = {k: None if data.get(k) is None else Quantities.from_dict(data[k], _interval) for k in ("ci", "acceptance")}
        cis = {k: _interval(data.get(k)) for k in names if k.endswith("_ci")}
        rest = {k: data.get(k) for k in names if k not in q and k not in iv and k not in cis}
        return cls(**q, **iv, **cis, **rest)

    def rows(self) -> list[list]:
        """``[quantity, ME, twin, circuit, CI, acceptance range, verdict]`` per quantity."""
        return [
            [k, getattr(self.reference, k), getattr(self.twin, k), c,
             _span(None if self.ci is None else getattr(self.ci, k)),
             _span(None if self.acceptance is None else getattr(self.acceptance, k)),
             "yes" if getattr(self.verdicts, k) else "NO"]
            for k, c in self.circuit.items()
        ]

    def __str__(self) -> str:
        ci = f"{round(100 * self.level)}% CI" if self.level is not None else "95% CI"
        return (
            table(["quantity", "master eq.", "twin", "circuit", ci, "range if = twin", "agrees"], self.rows())
            + (f"\nCI: {self.ci_method}; range if = twin: {self.verdict_method}" if self.ci_method is not None else "")
            + f"\nfidelity to ME {self.fidelity:.6f}, trace distance {self.trace_distance:.3e}; verdict: "
            + ("agree" if self.agree else "DISAGREE")
        )


# ---------------------------------------------------------------- circuit runs
@dataclass(frozen=True)
class Suppression(_Record):
    """A noisy-backend run's error-suppression settings (``suppression`` in ``run ... --json``).

    ``dynamical_decoupling`` (``'XX'``, ``'XpXm'``, ``'XY4'`` or ``None``) and ``twirl_gates``: what the
    runtime sampler was asked to do (``--dynamical-decoupling``, ``--twirl-gates``; off on Aer paths).
    ``idle_noise``: the noisy prediction was scheduled and carries idle relaxation (``--idle-noise``,
    on with DD), with the same DD sequence. Recorded on noisy backends only, beside
    ``noisy_prediction`` whose meaning it fixes; ideal Aer runs have none of them.

    >>> Suppression.from_dict({"dynamical_decoupling": "XY4", "twirl_gates": False, "idle_noise": True}).text()
    'dynamical decoupling XY4, gate twirling off; noisy prediction with idle relaxation (scheduled, XY4)'
    """

    dynamical_decoupling: str | None
    twirl_gates: bool
    idle_noise: bool

    def text(self) -> str:
        dd = self.dynamical_decoupling
        pred = ("with idle relaxation (scheduled" + (f", {dd})" if dd is not None and self.idle_noise else ")")
                if self.idle_noise else "unscheduled (no idle relaxation)")
        return (f"dynamical decoupling {dd or 'off'}, gate twirling {'on' if self.twirl_gates else 'off'}; "
                f"noisy prediction {pred}")


_CHARGE_ROWS = ("coherence_l1", "heat_exchange_coherence", "coherence_re", "energy", "rho_eg_ge")


@dataclass(frozen=True)
class ChargeRun(_Record):
    r"""N atoms charged by n collisions on a backend, beside the exact references (:class:`Comparison`)."""

    atoms: int
    temperature: float
    theta: float
    ordering: str
    ancilla: str
    collisions: int
    dt: float
    time: float
    backend: str
    seed: int | None
    mode: str
    shots: int | None
    coherence_l1_ci: Interval | None
    comparison: Comparison
    resources: Mapping[str, Any]
    plan_id: str | None = None  # protocol.ChargingPlan.strong_id() of the circuit and its twin
    # coin ancilla: coin draws, each run with coin_shots_per_instance shots; enumerate: the coin patterns
    # sampled (shots in proportion to their probabilities, coin_shots_per_instance None).
    coin_instances: int | None = None
    coin_shots_per_instance: int | None = None
    # On noisy backends: the state quantities of the exact noisy density matrix (the device model's
    # prediction) and the physical qubits of the logical ones.
    noisy_prediction: Quantities[float] | None = None
    layout: tuple[int, ...] | None = None
    # --mitigate: the circuit's keys from readout-mitigated counts, each with `<q>_ci`, and the calibration.
    mitigated: Mapping[str, Any] | None = None
    # Noisy backends: quantity -> signed parts of measured - exact theory (qcharge.budget.error_budget).
    error_budget: Mapping[str, Mapping[str, float | None]] | None = None
    # Noisy backends: DD, gate twirling and idle noise of the prediction (None in records made before it).
    suppression: Suppression | None = None

    _HEAD: ClassVar[tuple[str, ...]] = (
        "atoms", "temperature", "theta", "ordering", "ancilla", "collisions", "dt", "time", "backend", "seed",
        "mode", "shots", "coherence_l1_ci",
    )
    _OPTIONAL: ClassVar[tuple[str, ...]] = ("plan_id", "coin_instances", "coin_shots_per_instance")

    def to_dict(self) -> dict:
        out = {k: _plain(getattr(self, k)) for k in self._HEAD}
        out.update({k: getattr(self, k) for k in self._OPTIONAL if getattr(self, k) is not None})
        out.update(self.comparison.to_dict())  # flat, as run_charge always returned it
        out["resources"] = _plain(self.resources)
        for k in ("noisy_prediction", "layout", "mitigated", "error_budget", "suppression"):
            if getattr(self, k) is not None:
                out[k] = _plain(getattr(self, k))
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> ChargeRun:
        if not isinstance(data, Mapping):
            raise ParameterError(f"Argument `data` must be a mapping for ChargeRun, but is {type(data).__name__}.")
        head = {k: data[k] for k in cls._HEAD if k in data}
        missing = [k for k in cls._HEAD + ("resources",) if k not in data]
        if missing:
            raise ParameterError(f"Argument `data` must have the keys of ChargeRun, but lacks {missing}.")
        head["coherence_l1_ci"] = _interval(head["coherence_l1_ci"])
        head.update({k: data[k] for k in cls._OPTIONAL if k in data})
        extra = ("resources", "noisy_prediction", "layout", "mitigated", "error_budget", "suppression")
        rest = {k: v for k, v in data.items() if k not in cls._HEAD + cls._OPTIONAL and k not in extra}
        noisy = data.get("noisy_prediction")
        return cls(**head, comparison=Comparison.from_dict(rest), resources=data["resources"],
                   noisy_prediction=None if noisy is None else Quantities.from_dict(noisy),
                   layout=_tuple(data.get("layout")), mitigated=data.get("mitigated"),
                   error_budget=data.get("error_budget"), suppression=_suppression(data.get("suppression")))

    @property
    def agree(self) -> bool:
        """The run's verdict: the circuit agrees with its twin (:attr:`Comparison.agree`)."""
        return self.comparison.agree

    @property
    def circuit(self) -> Quantities[float]:
        """The circuit's state quantities (:attr:`Comparison.circuit`)."""
        return self.comparison.circuit

    @property
    def twin(self) -> Quantities[float]:
        """The twin's state quantities (:attr:`Comparison.twin`)."""
        return self.comparison.twin

    @property
    def reference(self) -> Quantities[float]:
        """The master equation's state quantities (:attr:`Comparison.reference`)."""
        return self.comparison.reference

    def _coins_text(self) -> str:
        if self.ancilla == "enumerate":
            total = 2 ** self.collisions
            if self.shots is None:
                return f", all {total} coin patterns weighted by their probabilities"
            return (f", {self.coin_instances} of {total} coin patterns (those given shots), shots in proportion to "
                    "their probabilities")
        if self.coin_shots_per_instance is not None:
            return f", {self.coin_instances} coin draws x {self.coin_shots_per_instance} shots"
        return ""

    def __str__(self) -> str:
        res = self.resources
        return (
            f"{self.mode} on {self.backend}: N = {self.atoms}, T = {self.temperature}, theta = {self.theta}, "
            f"{self.ordering}, {self.ancilla} ancilla, {self.collisions} collisions, t = n dt = {self.time:.4f}"
            + self._coins_text()
            + "\n" + str(self.comparison)
            + f"\nresources per collision {res['per_collision']}, total {res['total']}"
            + _extras(self.noisy_prediction, self.mitigated, self.error_budget, self.layout, self.suppression)
        )


def _suppression(v) -> Suppression | None:
    return None if v is None else Suppression.from_dict(v)


@dataclass(frozen=True)
class ProbeEstimate(_Record):
    r"""The probe's :math:`T_{eff}` and excited population; intervals for sampled circuit runs only."""

    teff: float
    probe_excited_population: float
    teff_ci: Interval | None = None
    probe_excited_population_ci: Interval | None = None
    probe_excited_population_acceptance: Interval | None = None
    ci_method: str | None = None

    _OMIT_NONE: ClassVar[frozenset[str]] = frozenset(
        {"teff_ci", "probe_excited_population_ci", "probe_excited_population_acceptance", "ci_method"}
    )

    @classmethod
    def from_dict(cls, data: Mapping) -> ProbeEstimate:
        names, required = cls._names()
        _keys(cls, data, names, required)
        return cls(**{k: _interval(data.get(k)) if k.endswith(("_ci", "_acceptance")) else data.get(k) for k in names})


@dataclass(frozen=True)
class HarvestRun(_Record):
    r"""Probe harvesting circuits (Poisson instances) beside the exact Poisson-averaged dynamics (4.3)."""

    cluster: str
    temperature: float
    theta: float
    rate: float
    time: float
    instances: int
    mean_collisions: float
    mode: str
    backend: str
    shots: int | None
    seed: int | None
    reference: ProbeEstimate
    twin: ProbeEstimate
    instances_std_error: float
    circuit: ProbeEstimate
    agree: bool
    noisy_prediction: ProbeEstimate | None = None  # noisy backends: from the exact noisy density matrices
    layout: tuple[int, ...] | None = None
    mitigated: Mapping[str, Any] | None = None  # --mitigate: the circuit's keys from mitigated counts, as ChargeRun
    error_budget: Mapping[str, Mapping[str, float | None]] | None = None  # noisy backends, as ChargeRun
    coupling: tuple[float, ...] | None = None  # the probe's g_i (Harvest.coupling); None in records made before it
    # noisy backends: transpiled two-qubit gates, `mean_per_instance`, `max_per_instance`, `per_collision`
    two_qubit_gates: Mapping[str, float] | None = None
    # pipeline clusters: the in-circuit charging protocol (`theta`, `ordering`, `ancilla`, `collisions`)
    pipeline_protocol: Mapping[str, Any] | None = None
    suppression: Suppression | None = None  # noisy backends, as ChargeRun

    _OMIT_NONE: ClassVar[frozenset[str]] = frozenset(
        {"noisy_prediction", "layout", "mitigated", "error_budget", "coupling", "two_qubit_gates", "pipeline_protocol",
         "suppression"})

    @classmethod
    def from_dict(cls, data: Mapping) -> HarvestRun:
        names, required = cls._names()
        _keys(cls, data, names, required)
        est = {k: ProbeEstimate.from_dict(data[k]) for k in ("reference", "twin", "circuit")}
        noisy = data.get("noisy_prediction")
        return cls(**{k: data[k] for k in names if k not in est and k not in cls._OMIT_NONE}, **est,
                   noisy_prediction=None if noisy is None else ProbeEstimate.from_dict(noisy),
                   layout=_tuple(data.get("layout")), mitigated=data.get("mitigated"),
                   error_budget=data.get("error_budget"), coupling=_tuple(data.get("coupling")),
                   two_qubit_gates=data.get("two_qubit_gates"), pipeline_protocol=data.get("pipeline_protocol"),
                   suppression=_suppression(data.get("suppression")))

    def rows(self) -> list[list]:
        return [
            [k, getattr(self.reference, k), getattr(self.twin, k), getattr(self.circuit, k),
             _span(getattr(self.circuit, k + "_ci"))]
            for k in ("teff", "probe_excited_population")
        ]

    def __str__(self) -> str:
        return (
            f"{self.mode} on {self.backend}: {self.cluster} pairs, T = {self.temperature}, theta = {self.theta}, "
            f"r = {self.rate}, "
            + ("" if self.coupling is None or all(g == 1.0 for g in self.coupling) else f"g = {list(self.coupling)}, ")
            + f"t = {self.time}, {self.instances} instances ({self.mean_collisions:.1f} collisions each)\n"
            + table(["quantity", "Poisson ME", "twin", "circuit", "95% CI"], self.rows())
            + (f"\nCI: {self.circuit.ci_method}" if self.circuit.ci_method is not None else "")
            + "\nverdict: " + ("agree" if self.agree else "DISAGREE")
            + _extras(self.noisy_prediction, self.mitigated, self.error_budget, self.layout, self.suppression)
        )


def _extras(noisy, mitigated, budget, layout, suppression) -> str:
    """The noisy-backend lines of a run's table: prediction, mitigated estimate, error budget, layout, suppression."""
    lines = []
    if noisy is not None:
        lines.append("noisy prediction: " + ", ".join(f"{k} {_fmt(v)}" for k, v in noisy.to_dict().items() if v is not None))
    if mitigated is not None:
        lines.append("readout-mitigated: " + ", ".join(
            f"{k} {_fmt(v)} {_span(mitigated.get(k + '_ci'))}" for k, v in mitigated.items()
            if isinstance(v, float) and not k.endswith("_ci")))
    if budget:
        from .budget import budget_table

        lines.append("error budget of measured - exact theory (signed parts, their sum telescopes exactly to the "
                     "total; without --mitigate readout and shot noise are one part):\n" + budget_table(budget))
    if layout is not None:
        lines.append(f"layout (physical qubits): {list(layout)}")
    if suppression is not None:
        lines.append("error suppression: " + suppression.text())
    return "".join("\n" + line for line in lines)
