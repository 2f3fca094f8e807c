r"""Readout mitigation from calibration counts: the full :math:`2^n` assignment matrix (n = 1-3).

Building and analysing are separate, as in :mod:`qcharge.tomography`:
:func:`calibration_circuits` prepares each computational basis state of the measured qubits and
measures it, tagging ``circuit.metadata`` with JSON-serialisable entries only (hardware jobs
reject anything else), so the calibration runs in the *same job on the same physical qubits* as
the experiment. Same ``initial_layout`` is not enough: routing (SWAPs) can move a measured logical
qubit to another physical qubit before its measurement, differently per circuit, while calibration
circuits (no two-qubit gates) are not routed. So :mod:`qcharge.experiments` tags each data circuit
with the physical qubits it is measured on (``measured_physical_qubits``, from
:func:`qcharge.execute.measured_physical_qubits`), builds one calibration per measured set on the
logical qubits the layout puts there (``physical_qubits=``), and every function here mitigates each
circuit with the calibration of its own set. Everything else reads counts dictionaries and metadata only.

Model
    The measured outcome distribution is :math:`f = A\,q`, with the assignment matrix

    .. math:: A_{o s} = P(\text{observed } o \mid \text{prepared } s),
              \qquad \textstyle\sum_o A_{o s} = 1,

    estimated column by column from the calibration counts. The full :math:`2^n\times 2^n`
    matrix keeps correlated errors (a product of single-qubit matrices would not).
    Index convention as in :mod:`qcharge.tomography`: bit ``i`` of an outcome index is the
    outcome of the ``i``-th listed qubit, i.e. ``index = int(key, 2)`` for an n-bit key whose
    *last* character is the first listed qubit.

Mitigation: constrained least squares on the simplex
    .. math:: \hat q = \arg\min_{q \ge 0,\ \sum_s q_s = 1} \lVert A q - f \rVert_2^2 .

    Where the raw inverse :math:`A^{-1}f` is non-negative it *is* the solution (zero residual;
    it sums to 1 because the columns of :math:`A` do), so the estimator is unbiased away from the
    boundary, which is what makes the :math:`(1-2p)^2` loss of a coherence recoverable. Otherwise
    the problem is solved exactly by enumerating the supports (at most :math:`2^8-1 = 255`
    equality-constrained least-squares problems, solved as one batched KKT system, the best
    feasible one kept): no iteration count or tolerance to choose. We prefer this to iterative
    Bayesian unfolding, whose result depends on the prior and the number of iterations and is
    biased at any finite number of them, and to ``scipy.optimize.nnls`` on a system augmented by
    a weighted normalisation row, which meets the constraint only up to :math:`O(1/w^2)`.
    A raw inverse with negative probabilities is never returned. A (near) singular :math:`A`
    (condition number above :data:`MAX_CONDITION`) raises :class:`~qcharge.exceptions.AnalysisError`
    naming the qubits.

Mitigated counts
    :func:`mitigate_counts` returns, per circuit, integer counts ``round(q * shots)`` (largest
    remainders, so the total stays ``shots``; each probability moves by less than 1/shots) in the
    format :func:`qcharge.tomography.fit_state` reads, with the circuits' metadata unchanged.
    Their intervals must come from :func:`bootstrap_mitigated_states`, **not** from
    :func:`qcharge.tomography.bootstrap_states`, which would treat them as raw multinomial
    counts and ignore both the calibration's own shot noise and the noise amplification of
    :math:`A^{-1}`.

Bootstrap
    Non-parametric, resampling **both** inputs: each calibration circuit is redrawn as
    :math:`\mathrm{Multinomial}(S_s, \hat A_{\cdot s})` and each data circuit as
    :math:`\mathrm{Multinomial}(S_k, \hat f_k)` from its observed frequencies; each resample is
    mitigated with its own resampled :math:`A` and refitted.

Why not mthree
    mthree 3.0 (qiskit-addon-mthree) works with Qiskit 2.x, but its calibration runner submits
    its own jobs through the deprecated runtime sampler on IBM backends, separately from the
    experiment. Our calibration has to sit in the experiment's job on its physical qubits, and
    for 1-3 qubits the full assignment matrix is at most 8x8, exact (no matrix-free or
    tensored approximation) and cheap, so this short module is simpler and correct.

Examples:
    >>> cal_counts = [{"0": 980, "1": 20}, {"0": 100, "1": 900}]     # prepared 0, prepared 1
    >>> cal_meta = [c.metadata for c in calibration_circuits([0])]
    >>> cal = ReadoutCalibration.from_counts(cal_counts, cal_meta)
    >>> cal.matrix
    array([[0.98, 0.1 ],
           [0.02, 0.9 ]])
    >>> data = [{"0": 584, "1": 416}]                               # A @ (0.55, 0.45), 1000 shots
    >>> mitigate_counts(cal, data, [{"tomography_qubits": [0], "tomography_basis": "Z"}])
    [{'0': 550, '1': 450}]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_int, check_real
from .exceptions import AnalysisError, ParameterError
from .tomography import (
    TOMO_REGISTER,
    _check_qubits,
    _count_value,
    _outcome_index,
    _real,
    bootstrap_interval,
    fit_state,
)

if TYPE_CHECKING:
    from qiskit import QuantumCircuit

__all__ = [
    "MAX_QUBITS",
    "MAX_CONDITION",
    "CALIBRATION_QUBITS",
    "CALIBRATION_PREPARED",
    "CALIBRATION_PHYSICAL",
    "MEASURED_PHYSICAL",
    "calibration_circuits",
    "is_calibration",
    "split_calibration",
    "ReadoutCalibration",
    "calibrations_from_counts",
    "calibration_summary",
    "mitigate_probabilities",
    "mitigate_counts",
    "bootstrap_mitigated_states",
    "mitigated_estimate_with_interval",
]

MAX_QUBITS = 3  # 2^n calibration circuits and a 2^n x 2^n matrix: n = 3 is 8 circuits, 8x8.
# The mitigated statistical error is up to cond(A) times the raw one: beyond 1e4, even 1e8 shots
# (raw error 1e-4) would leave an error of order 1, so the data say nothing.
MAX_CONDITION = 1e4
CALIBRATION_QUBITS = "mitigation_qubits"
CALIBRATION_PREPARED = "mitigation_prepared"
# The physical qubits a calibration circuit measures (listed order), and those a data circuit measures
# after routing (bit i of its counts register on qubit [i]): a data circuit is mitigated with the
# calibration of its own physical qubits (qcharge.experiments attaches both).
CALIBRATION_PHYSICAL = "mitigation_physical_qubits"
MEASURED_PHYSICAL = "measured_physical_qubits"
# Round-off of the batched solves is ~1e-15; a component above -1e-12 counts as non-negative.
_NEG_TOL = 1e-12


# ----------------------------------------------------------------------------------------
# Circuits
# ----------------------------------------------------------------------------------------


def _check_cal_qubits(qubits, num_qubits: int | None = None) -> list[int]:
    qubits = _check_qubits(qubits, num_qubits)
    if len(qubits) > MAX_QUBITS:
        raise ParameterError(
            f"Argument `qubits` must list 1 to {MAX_QUBITS} qubits for the full assignment matrix, "
            f"but lists {len(qubits)}."
        )
    return qubits


def calibration_circuits(qubits: Sequence[int], *, num_qubits: int | None = None,
                         physical_qubits: Sequence[int] | None = None) -> list[QuantumCircuit]:
    """The :math:`2^n` readout-calibration circuits of ``qubits``: prepare a basis state, measure.

    Circuit ``s`` applies X to ``qubits[i]`` for each set bit ``i`` of ``s`` and measures
    ``qubits[i]`` into bit ``i`` of a register ``'tomo'`` (the register name of the tomography
    circuits, so one ``result[i].data.tomo.get_counts()`` reads every circuit of the job).

    Metadata (JSON-serialisable): ``mitigation_qubits`` (list of ``qubits``),
    ``mitigation_prepared`` (the prepared state as a count key, e.g. ``'01'``: the last
    character is ``qubits[0]``) and ``counts_register`` (``'tomo'``).

    Args:
        qubits: 1 to :data:`MAX_QUBITS` distinct qubit indices, in the order of the experiment's
            ``tomography_qubits``.
        num_qubits: width of each circuit (default ``max(qubits) + 1``); give the experiment
            circuit's width so a shared ``initial_layout`` puts both on the same physical qubits.
        physical_qubits: the physical qubits ``qubits`` sit on (``layout[q]``: calibration circuits have
            no two-qubit gates, so they are not routed), recorded as ``mitigation_physical_qubits``;
            the calibration is then identified by them (:meth:`ReadoutCalibration.from_counts`) and
            mitigates the data circuits measured there (``metadata['measured_physical_qubits']``).

    Returns:
        ``2^n`` circuits, prepared state ``s = 0 .. 2^n - 1``.

    >>> [c.metadata["mitigation_prepared"] for c in calibration_circuits([2, 0])]
    ['00', '01', '10', '11']
    """
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

    if num_qubits is not None:
        num_qubits = check_int("num_qubits", num_qubits, minimum=1)
    qubits = _check_cal_qubits(qubits, num_qubits)
    width = max(qubits) + 1 if num_qubits is None else num_qubits
    n = len(qubits)
    if physical_qubits is not None:
        physical_qubits = _check_qubits(physical_qubits)
        if len(physical_qubits) != n:
            raise ParameterError(f"Argument `physical_qubits` must list one qubit per qubit of `qubits` ({n}), "
                                 f"but lists {len(physical_qubits)}.")
    out = []
    for s in range(2**n):
        key = format(s, f"0{n}b")
        creg = ClassicalRegister(n, TOMO_REGISTER)
        qc = QuantumCircuit(QuantumRegister(width, "q"), creg, name=f"readout_cal_{key}")
        for i, q in enumerate(qubits):
            if (s >> i) & 1:
                qc.x(q)
        qc.barrier(qubits)
        for i, q in enumerate(qubits):
            qc.measure(q, creg[i])
        qc.metadata = {CALIBRATION_QUBITS: list(qubits), CALIBRATION_PREPARED: key,
                       "counts_register": TOMO_REGISTER}
        if physical_qubits is not None:
            qc.metadata[CALIBRATION_PHYSICAL] = list(physical_qubits)
        out.append(qc)
    return out


def _calibrated_qubits(metadata: Mapping) -> tuple:
    """The qubits a calibration circuit identifies: its physical ones where recorded, else its logical ones."""
    return tuple(metadata.get(CALIBRATION_PHYSICAL, metadata[CALIBRATION_QUBITS]))


def is_calibration(metadata: Mapping | None) -> bool:
    """Whether ``metadata`` belongs to a circuit of :func:`calibration_circuits`."""
    return isinstance(metadata, Mapping) and CALIBRATION_QUBITS in metadata and CALIBRATION_PREPARED in metadata


def split_calibration(counts: Sequence[Mapping[str, int]], metadata: Sequence[Mapping]):
    """Split one job's results into ``(cal_counts, cal_metadata, counts, metadata)``."""
    counts, metadata = _pair(counts, metadata)
    cal = [is_calibration(m) for m in metadata]
    pick = lambda seq, want: [x for x, c in zip(seq, cal) if c == want]  # noqa: E731
    return pick(counts, True), pick(metadata, True), pick(counts, False), pick(metadata, False)


def _pair(counts, metadata) -> tuple[list, list]:
    if isinstance(counts, Mapping) or isinstance(metadata, Mapping):
        raise AnalysisError("`counts` and `metadata` must be sequences (one entry per circuit).")
    counts, metadata = list(counts), list(metadata)
    if len(counts) != len(metadata):
        raise AnalysisError(f"Got {len(counts)} counts dictionaries but {len(metadata)} metadata entries.")
    return counts, metadata


# ----------------------------------------------------------------------------------------
# Calibration record
# ----------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _permutation(n: int, order: tuple[int, ...]) -> np.ndarray:
    """Index map: new index (bit i = old listed qubit ``order[i]``) -> old index."""
    new = np.arange(2**n)
    return np.array([sum(((j >> i) & 1) << order[i] for i in range(n)) for j in new])


@dataclass(frozen=True, eq=False)
class ReadoutCalibration:
    r"""Calibration counts of ``qubits``: ``counts[s, o]`` = shots prepared in ``s``, observed ``o``.

    Attributes:
        qubits: the calibrated qubits, listed qubit ``i`` = bit ``i`` of an index.
        counts: integer array ``(2^n, 2^n)`` (read-only), row = prepared state.
    """

    qubits: tuple[int, ...]
    counts: np.ndarray

    def __post_init__(self):
        qubits = tuple(_check_cal_qubits(self.qubits))
        arr = np.asarray(self.counts)
        d = 2 ** len(qubits)
        if arr.shape != (d, d):
            raise ParameterError(
                f"Argument `counts` must have shape ({d}, {d}) for {len(qubits)} qubit(s), but has shape {arr.shape}."
            )
        if not np.issubdtype(arr.dtype, np.integer) or np.any(arr < 0):
            raise ParameterError("Argument `counts` must hold non-negative integer counts.")
        empty = [format(s, f"0{len(qubits)}b") for s in range(d) if arr[s].sum() == 0]
        if empty:
            raise AnalysisError(
                f"Readout calibration of qubits {list(qubits)} has no shots for prepared states {empty}."
            )
        arr = np.array(arr, dtype=np.int64)
        arr.setflags(write=False)
        object.__setattr__(self, "qubits", qubits)
        object.__setattr__(self, "counts", arr)

    @classmethod
    def from_counts(
        cls, counts: Sequence[Mapping[str, int]], metadata: Sequence[Mapping], *, qubits: Sequence[int] | None = None
    ) -> ReadoutCalibration:
        """Collect the calibration circuits' counts (other circuits are ignored).

        Args:
            counts: counts dictionaries, n-bit keys (``result[i].data.tomo.get_counts()``).
            metadata: the matching ``circuit.metadata``; entries not from
                :func:`calibration_circuits` are skipped.
            qubits: keep the calibration of these qubits (needed when a job calibrates several
                sets); default: the only set present. A calibration built with ``physical_qubits``
                is identified by them (and its :attr:`qubits` are they), else by its logical qubits.

        Raises:
            AnalysisError: no calibration, several sets without ``qubits``, missing prepared
                states, keys of the wrong width.
        """
        counts, metadata = _pair(counts, metadata)
        entries = [(c, m) for c, m in zip(counts, metadata) if is_calibration(m)]
        sets = sorted({_calibrated_qubits(m) for _, m in entries})
        if qubits is not None:
            want = tuple(_check_cal_qubits(qubits))
            entries = [(c, m) for c, m in entries if _calibrated_qubits(m) == want]
            if not entries:
                raise AnalysisError(
                    f"No readout calibration of qubits {list(want)}; calibrated sets: {[list(s) for s in sets]}."
                )
        elif not entries:
            raise AnalysisError(
                "No readout-calibration circuits among the results: build them with calibration_circuits()."
            )
        elif len(sets) > 1:
            raise AnalysisError(
                f"Several calibrated qubit sets {[list(s) for s in sets]}: pass `qubits` to choose one."
            )
        try:
            cal_qubits = _check_cal_qubits(_calibrated_qubits(entries[0][1]))
        except ParameterError as exc:
            raise AnalysisError(f"Calibration metadata lists invalid qubits: {exc}") from None
        n = len(cal_qubits)
        table = np.zeros((2**n, 2**n), dtype=np.int64)
        for k, (cnt, meta) in enumerate(entries):
            prep = meta[CALIBRATION_PREPARED]
            if not isinstance(prep, str) or len(prep) != n or set(prep) - {"0", "1"}:
                raise AnalysisError(f"Calibration metadata has prepared state {prep!r}; expected {n} bits of 0/1.")
            if not isinstance(cnt, Mapping):
                raise AnalysisError(
                    f"Calibration counts must be mappings bitstring -> count, but one is {type(cnt).__name__}."
                )
            row = table[int(prep, 2)]
            for key, value in cnt.items():
                row[_outcome_index(key, n, None, None, k)] += _count_value(value, key, k)
        missing = [format(s, f"0{n}b") for s in range(2**n) if table[s].sum() == 0]
        if missing:
            raise AnalysisError(
                f"Readout calibration of qubits {cal_qubits} lacks prepared states {missing} "
                f"(needs all {2**n} of calibration_circuits())."
            )
        return cls(tuple(cal_qubits), table)

    def __eq__(self, other) -> bool:
        if not isinstance(other, ReadoutCalibration):
            return NotImplemented
        return self.qubits == other.qubits and np.array_equal(self.counts, other.counts)

    __hash__ = None  # mutable-looking array field: equality by value, no hashing

    @property
    def shots(self) -> np.ndarray:
        """Shots per prepared state."""
        return self.counts.sum(axis=1)

    @property
    def matrix(self) -> np.ndarray:
        r"""Assignment matrix :math:`A_{os} = n_{so} / S_s` (columns sum to 1)."""
        return (self.counts / self.shots[:, None]).T

    @property
    def condition_number(self) -> float:
        """2-norm condition number of :attr:`matrix` (``inf`` when singular)."""
        return float(np.linalg.cond(self.matrix))

    @property
    def assignment_fidelity(self) -> float:
        r"""Mean probability of reading the prepared state, :math:`2^{-n}\sum_s A_{ss}`."""
        return float(np.mean(np.diag(self.matrix)))

    def reordered(self, qubits: Sequence[int]) -> ReadoutCalibration:
        """The same calibration with the qubits listed in the order ``qubits``."""
        qubits = list(qubits)
        if sorted(qubits) != sorted(self.qubits):
            raise AnalysisError(
                f"Counts measure qubits {qubits}, but the readout calibration is of qubits {list(self.qubits)}: "
                "calibrate the measured qubits (same set) in the same job."
            )
        order = tuple(self.qubits.index(q) for q in qubits)
        perm = _permutation(len(qubits), order)
        return ReadoutCalibration(tuple(qubits), self.counts[np.ix_(perm, perm)])

    def check_invertible(self, max_condition: float = MAX_CONDITION) -> None:
        """Raise :class:`AnalysisError` when :attr:`matrix` is (near) singular."""
        _check_matrix(self.matrix, self.qubits, max_condition)

    def to_dict(self) -> dict:
        """JSON-ready ``{'qubits': [...], 'counts': [[...], ...]}`` (row = prepared state)."""
        return {"qubits": list(self.qubits), "counts": self.counts.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping) -> ReadoutCalibration:
        """Inverse of :meth:`to_dict`."""
        return cls(tuple(data["qubits"]), np.asarray(data["counts"], dtype=np.int64))


def calibrations_from_counts(counts: Sequence[Mapping[str, int]], metadata: Sequence[Mapping]) -> list[ReadoutCalibration]:
    """Every calibration among one job's results, one per calibrated qubit set (first-seen order)."""
    counts, metadata = _pair(counts, metadata)
    sets = list(dict.fromkeys(_calibrated_qubits(m) for m in metadata if is_calibration(m)))
    if not sets:
        raise AnalysisError("No readout-calibration circuits among the results: build them with calibration_circuits().")
    return [ReadoutCalibration.from_counts(counts, metadata, qubits=q) for q in sets]


def calibration_summary(calibrations) -> dict:
    """JSON-ready summary: ``qubits``, ``condition_number``, ``assignment_fidelity``, ``calibration_shots``.

    Several calibrations (data measured on several physical qubit sets): ``qubits`` and
    ``calibration_shots`` list them all, ``condition_number`` is the largest, ``assignment_fidelity``
    the smallest, and ``calibrations`` holds each one's summary.
    """
    cals = _as_calibrations(calibrations)
    each = [{"qubits": list(c.qubits), "condition_number": c.condition_number,
             "assignment_fidelity": c.assignment_fidelity, "calibration_shots": c.shots.tolist()} for c in cals]
    if len(each) == 1:
        return each[0]
    return {"qubits": [e["qubits"] for e in each], "condition_number": max(e["condition_number"] for e in each),
            "assignment_fidelity": min(e["assignment_fidelity"] for e in each),
            "calibration_shots": [e["calibration_shots"] for e in each], "calibrations": each}


def _as_calibrations(calibration) -> list[ReadoutCalibration]:
    cals = [calibration] if isinstance(calibration, ReadoutCalibration) else calibration
    if isinstance(cals, (str, bytes, Mapping)) or not isinstance(cals, Sequence) or not cals or not all(
            isinstance(c, ReadoutCalibration) for c in cals):
        raise ParameterError(
            "Argument `calibration` must be a ReadoutCalibration or a non-empty sequence of them, "
            f"but is {type(calibration).__name__}."
        )
    sets = [frozenset(c.qubits) for c in cals]
    if len(set(sets)) != len(sets):
        raise ParameterError("Argument `calibration` must hold one calibration per qubit set, but repeats a set.")
    return list(cals)


def _check_matrix(matrix: np.ndarray, qubits, max_condition: float, what: str = "") -> None:
    cond = float(np.linalg.cond(matrix))
    if not math.isfinite(cond) or cond > max_condition:
        raise AnalysisError(
            f"The readout assignment matrix of qubits {list(qubits)}{what} is (near) singular "
            f"(condition number {cond:.3g} > {max_condition:g}): the readout cannot tell the basis states "
            "apart well enough to be inverted."
        )


# ----------------------------------------------------------------------------------------
# Constrained inversion
# ----------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _supports(d: int) -> np.ndarray:
    """All non-empty supports of a length-``d`` distribution, boolean ``(2^d - 1, d)``."""
    idx = np.arange(1, 2**d)
    return ((idx[:, None] >> np.arange(d)) & 1).astype(bool)


def _enumerated(a: np.ndarray, f: np.ndarray) -> np.ndarray:
    r"""Exact simplex-constrained least squares for rows ``f`` ``(m, d)`` by support enumeration.

    For each support :math:`S`: :math:`\min \lVert A_S q_S - f\rVert^2` s.t. :math:`1^T q_S = 1`
    from the KKT system :math:`[[A_S^TA_S, 1], [1^T, 0]]\,[q_S; \mu] = [A_S^T f; 1]` (padded to
    full size with identity rows off :math:`S`). The problem is convex and :math:`A` is
    non-singular, so the optimum is the equality-constrained solution on its own support: the
    best feasible candidate is the global minimum.
    """
    d = a.shape[0]
    s = _supports(d)
    k = len(s)
    kkt = np.zeros((k, d + 1, d + 1))
    kkt[:, :d, :d] = (a.T @ a)[None] * (s[:, :, None] & s[:, None, :])
    kkt[:, np.arange(d), np.arange(d)] += ~s
    kkt[:, :d, d] = s
    kkt[:, d, :d] = s
    rhs = np.empty((k, len(f), d + 1))
    rhs[:, :, :d] = (f @ a)[None] * s[:, None, :]
    rhs[:, :, d] = 1.0
    q = np.linalg.solve(kkt[:, None], rhs[..., None])[..., :d, 0]  # (k, m, d)
    resid = np.einsum("kmj,ij->kmi", q, a) - f[None]
    obj = np.where((q >= -_NEG_TOL).all(axis=-1), np.einsum("kmi,kmi->km", resid, resid), np.inf)
    return q[np.argmin(obj, axis=0), np.arange(len(f))]


def _simplex_lstsq(a: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Rows of ``f`` (m, d), each a distribution, mitigated through ``a``; rows of the result sum to 1."""
    q = np.linalg.solve(a, f.T).T
    bad = (q < -_NEG_TOL).any(axis=1)
    if bad.any():
        q[bad] = _enumerated(a, f[bad])
    q = np.clip(q, 0.0, None)
    return q / q.sum(axis=1, keepdims=True)


def mitigate_probabilities(
    calibration: ReadoutCalibration, probabilities: ArrayLike, *, max_condition: float = MAX_CONDITION
) -> np.ndarray:
    r"""Mitigated distributions :math:`\arg\min_{q\in\Delta}\lVert Aq - f\rVert_2` (see the module docstring).

    Args:
        calibration: the readout calibration of the measured qubits (same order).
        probabilities: ``(..., 2^n)`` measured distributions (each normalised to 1 here).
        max_condition: refuse matrices with a larger condition number.

    Returns:
        Array of the same shape: non-negative, each distribution summing to 1.

    >>> cal = ReadoutCalibration((0,), np.array([[90, 10], [20, 80]]))
    >>> mitigate_probabilities(cal, [0.95, 0.05])      # the raw inverse would be (1.071, -0.071)
    array([1., 0.])
    """
    if not isinstance(calibration, ReadoutCalibration):
        raise ParameterError(
            f"Argument `calibration` must be a ReadoutCalibration, but is {type(calibration).__name__}."
        )
    max_condition = check_real("max_condition", max_condition, minimum=1.0)
    f = np.asarray(probabilities, dtype=float)
    d = 2 ** len(calibration.qubits)
    if f.ndim == 0 or f.shape[-1] != d:
        raise ParameterError(
            f"Argument `probabilities` must have last axis {d} (qubits {list(calibration.qubits)}), "
            f"but has shape {f.shape}."
        )
    if not np.all(np.isfinite(f)) or np.any(f < 0) or np.any(f.sum(axis=-1) <= 0):
        raise ParameterError(
            "Argument `probabilities` must be finite, non-negative, with a positive sum per distribution."
        )
    a = calibration.matrix
    _check_matrix(a, calibration.qubits, max_condition)
    flat = f.reshape(-1, d)
    flat = flat / flat.sum(axis=1, keepdims=True)
    return _simplex_lstsq(a, flat).reshape(f.shape)


# ----------------------------------------------------------------------------------------
# Counts in, counts out
# ----------------------------------------------------------------------------------------


UNCALIBRATED = ("raise", "raw")


def _data_table(calibration, counts, metadata, uncalibrated: str = "raise"):
    """(integer table (m, 2^n) of the circuits' outcomes, groups ``(rows, base, cal)``).

    A row's qubits are ``metadata['measured_physical_qubits']`` where present (the physical qubit of each
    outcome bit), else its ``tomography_qubits``; each group of rows measured on the same qubits gets the
    calibration of that set (``base``: its index in the calibrations) reordered to their order, or
    ``(None, None)`` with ``uncalibrated='raw'`` when no calibration has that set (the rows stay raw).
    """
    cals = _as_calibrations(calibration)
    if uncalibrated not in UNCALIBRATED:
        raise ParameterError(f"Argument `uncalibrated` must be one of {list(UNCALIBRATED)}, but is {uncalibrated!r}.")
    counts, metadata = _pair(counts, metadata)
    if not counts:
        raise AnalysisError("No counts given.")
    qubits = None
    rows, where = [], {}
    for k, (cnt, meta) in enumerate(zip(counts, metadata)):
        if not isinstance(meta, Mapping) or "tomography_qubits" not in meta:
            raise AnalysisError(
                f"metadata[{k}] lacks 'tomography_qubits': mitigate the circuits of tomography_circuits() "
                "(split off the calibration circuits with split_calibration())."
            )
        mq = list(meta["tomography_qubits"])
        if qubits is None:
            qubits = mq
        elif mq != qubits:
            raise AnalysisError(f"metadata[{k}] has tomography_qubits {mq}, but metadata[0] has {qubits}.")
        measured = tuple(meta.get(MEASURED_PHYSICAL, mq))
        if len(measured) != len(qubits):
            raise AnalysisError(f"metadata[{k}] lists {len(measured)} measured physical qubits for "
                                f"{len(qubits)} tomography qubits.")
        where.setdefault(measured, []).append(k)
        if not isinstance(cnt, Mapping):
            raise AnalysisError(f"counts[{k}] must be a mapping bitstring -> count, but is {type(cnt).__name__}.")
        n = len(qubits)
        row = np.zeros(2**n, dtype=np.int64)
        clbits, width = meta.get("tomography_clbits"), meta.get("tomography_num_clbits")
        for key, value in cnt.items():
            row[_outcome_index(key, n, clbits, width, k)] += _count_value(value, key, k)
        if row.sum() == 0:
            raise AnalysisError(f"counts[{k}] has zero shots: cannot mitigate it.")
        rows.append(row)
    groups = []
    for measured, idx in where.items():
        base = next((i for i, c in enumerate(cals) if sorted(c.qubits) == sorted(measured)), None)
        if base is None and uncalibrated == "raise":
            raise AnalysisError(
                f"Counts measure qubits {list(measured)}, but the readout calibration is of qubits "
                f"{[list(c.qubits) for c in cals] if len(cals) > 1 else list(cals[0].qubits)}: "
                "calibrate the measured qubits (same set) in the same job."
            )
        groups.append((np.array(idx), base, None if base is None else cals[base].reordered(measured)))
    return np.array(rows), groups


def _mitigate_table(table: np.ndarray, groups, matrices=None) -> np.ndarray:
    """Mitigated distributions of the rows of ``table``, each group through its own matrix
    (``matrices[g]``, default the group's calibration); uncalibrated groups keep their frequencies."""
    q = table / table.sum(axis=1, keepdims=True)
    for g, (rows, base, cal) in enumerate(groups):
        if base is not None:
            q[rows] = _simplex_lstsq(cal.matrix if matrices is None else matrices[g], q[rows])
    return q


def _to_counts(q: np.ndarray, shots: np.ndarray) -> list[dict[str, int]]:
    """Integer counts of distributions ``q`` (m, d) with totals ``shots`` (largest remainders)."""
    m, d = q.shape
    n = d.bit_length() - 1
    x = q * shots[:, None]
    base = np.floor(x).astype(np.int64)
    short = shots - base.sum(axis=1)
    order = np.argsort(-(x - base), axis=1, kind="stable")
    for i in range(m):
        base[i, order[i, : short[i]]] += 1
    return [{format(o, f"0{n}b"): int(c) for o, c in enumerate(row) if c} for row in base]


def mitigate_counts(
    calibration: ReadoutCalibration | Sequence[ReadoutCalibration],
    counts: Sequence[Mapping[str, int]],
    metadata: Sequence[Mapping],
    *,
    max_condition: float = MAX_CONDITION,
    uncalibrated: str = "raise",
) -> list[dict[str, int]]:
    """Readout-mitigated counts of tomography circuits, for :func:`qcharge.tomography.fit_state`.

    Each circuit's outcomes (full-width keys are marginalised as in :mod:`qcharge.tomography`)
    are mitigated with :func:`mitigate_probabilities` and returned as integer n-bit counts with
    the circuit's shot number; pass them with the *same* ``metadata`` to ``fit_state``.

    ``calibration``: one calibration, or one per measured qubit set: a circuit whose metadata carries
    ``measured_physical_qubits`` (where routing left its measured qubits) is mitigated with the
    calibration of those physical qubits, else with the one of its ``tomography_qubits``.
    ``uncalibrated='raw'`` leaves circuits measured on an uncalibrated set raw instead of raising.

    Raises:
        AnalysisError: the counts measure other qubits than the calibration, zero shots,
            bad keys, a (near) singular assignment matrix.
    """
    table, groups = _data_table(calibration, counts, metadata, uncalibrated)
    max_condition = check_real("max_condition", max_condition, minimum=1.0)
    for _, base, cal in groups:
        if base is not None:
            _check_matrix(cal.matrix, cal.qubits, max_condition)
    return _to_counts(_mitigate_table(table, groups), table.sum(axis=1))


def bootstrap_mitigated_states(
    calibration: ReadoutCalibration | Sequence[ReadoutCalibration],
    counts: Sequence[Mapping[str, int]],
    metadata: Sequence[Mapping],
    *,
    n_resamples: int = 200,
    seed: int | np.random.Generator,
    method: str = "lininv_projected",
    max_condition: float = MAX_CONDITION,
    uncalibrated: str = "raise",
) -> np.ndarray:
    """Fitted states of resampled, mitigated data, shape ``(n_resamples, d, d)``.

    Each resample redraws the calibration counts (per calibration and prepared state) **and** the data
    counts (per circuit) multinomially from their observed frequencies with their shot numbers,
    mitigates each circuit with its resampled calibration (``calibration`` and ``uncalibrated`` as in
    :func:`mitigate_counts`; circuits sharing a calibration share its resample) and fits with
    :func:`qcharge.tomography.fit_state` (``method``).
    """
    n_resamples = check_int("n_resamples", n_resamples, minimum=2)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(check_int("seed", seed, minimum=0))
    cals = _as_calibrations(calibration)
    table, groups = _data_table(cals, counts, metadata, uncalibrated)
    for _, base, cal in groups:
        if base is not None:
            _check_matrix(cal.matrix, cal.qubits, max_condition)
    used = sorted({base for _, base, _ in groups if base is not None})
    n = len(cals[used[0]].qubits) if used else 0
    # Index maps from each calibration's order to its group's (as ReadoutCalibration.reordered).
    perms = [None if base is None else _permutation(n, tuple(cals[base].qubits.index(q) for q in cal.qubits))
             for _, base, cal in groups]
    metadata = list(metadata)
    shots = table.sum(axis=1)
    data = rng.multinomial(shots, table / shots[:, None], size=(n_resamples, len(shots)))
    resampled = {b: rng.multinomial(cals[b].shots, cals[b].counts / cals[b].shots[:, None],
                                    size=(n_resamples, len(cals[b].shots))) for b in used}
    states = []
    for r in range(n_resamples):
        matrices = []
        for (_, base, cal), perm in zip(groups, perms):
            if base is None:
                matrices.append(None)
                continue
            cnt = resampled[base][r][np.ix_(perm, perm)]
            a = (cnt / cnt.sum(axis=1, keepdims=True)).T
            _check_matrix(a, cal.qubits, max_condition, " (a bootstrap resample of the calibration)")
            matrices.append(a)
        q = _mitigate_table(data[r], groups, matrices)
        states.append(fit_state(_to_counts(q, shots), metadata, method=method))
    return np.array(states)


def mitigated_estimate_with_interval(
    calibration: ReadoutCalibration | Sequence[ReadoutCalibration],
    counts: Sequence[Mapping[str, int]],
    metadata: Sequence[Mapping],
    quantity: Callable[[np.ndarray], float],
    *,
    n_resamples: int = 200,
    seed: int | np.random.Generator,
    level: float = 0.95,
    method: str = "lininv_projected",
    max_condition: float = MAX_CONDITION,
) -> dict:
    """``quantity`` of the mitigated fitted state with a bootstrap percentile interval.

    Returns:
        JSON-ready, the keys of :func:`qcharge.tomography.estimate_with_interval` (``value``,
        ``ci``, ``std``, ``level``, ``n_resamples``, ``method``) plus ``mitigation``:
        ``{'qubits', 'condition_number', 'assignment_fidelity', 'calibration_shots'}``.
    """
    if not callable(quantity):
        raise ParameterError(f"Argument `quantity` must be callable, but is {quantity!r}.")
    level = check_real("level", level, minimum=0.0, maximum=1.0, strict_min=True)
    mitigated = mitigate_counts(calibration, counts, metadata, max_condition=max_condition)
    rho = fit_state(mitigated, metadata, method=method)
    value = _real(quantity(rho), "the mitigated state")
    states = bootstrap_mitigated_states(
        calibration, counts, metadata, n_resamples=n_resamples, seed=seed, method=method, max_condition=max_condition
    )
    values = np.array([_real(quantity(s), "a bootstrap state") for s in states])
    lo, hi = bootstrap_interval(values, level=level)
    return {
        "value": value,
        "ci": [lo, hi],
        "std": float(np.std(values, ddof=1)),
        "level": level,
        "n_resamples": int(len(values)),
        "method": method,
        "mitigation": calibration_summary(calibration),
    }
