"""Exact (noisy) reduced density matrices from Aer's density-matrix method."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit.library import RXXGate, RYYGate, StatePreparation, UnitaryGate
from qiskit_aer import AerSimulator
from qiskit_aer.library import SaveDensityMatrix

from .._checks import check_choice, check_int
from ..circuits.collisions import save_marker_label
from ..exceptions import BackendError, ParameterError
from ..states import from_qiskit_order
from ._common import _active_qubits, _flatten, _progress
from .backends import _device_for_noise
from .capabilities import check_supported
from .layout import _transpile_with_markers
from .noise import _cached_idle_noise, _cached_noise_model
from .scheduling import DD_SEQUENCES, schedule_idle
from .seeds import simulator_seed

# Shots for circuits whose saved states depend on mid-circuit measurements (ancilla='measure'):
# the averaged state then carries a statistical error ~ 1/sqrt(shots) (docs/physics.md §5.3: 2000 shots
# -> trace distance 4.6e-3).
DEFAULT_MEASURE_SHOTS = 2000

# Circuits per Aer call when a progress bar is requested (one update per chunk).
_AER_CHUNK = 32


def _householder_preparation(vec: np.ndarray) -> np.ndarray:
    r"""Unitary U with :math:`U|0\rangle = v` (a Householder reflection times a phase)."""
    vec = np.asarray(vec, dtype=complex)
    vec = vec / np.linalg.norm(vec)
    phase = np.exp(1j * np.angle(vec[0])) if abs(vec[0]) > 0 else 1.0
    w = vec.copy()
    w[0] -= phase  # H = 1 - 2ww^dag/|w|^2 maps v -> phase*e0 (v0*conj(phase) is real >= 0)
    nw = np.vdot(w, w).real
    dim = len(vec)
    if nw < 1e-30:
        return phase * np.eye(dim, dtype=complex)
    h = np.eye(dim, dtype=complex) - 2.0 * np.outer(w, w.conj()) / nw
    return phase * h  # H is Hermitian and H v = phase e0 => phase * H e0 = v


def prepare_for_aer(circuit: QuantumCircuit, simulator: AerSimulator | None = None, *, seed: int | None = None) -> QuantumCircuit:
    """Copy of ``circuit`` ready for Aer's density-matrix method.

    * save markers -> ``save_density_matrix`` (same qubits, same order, same label);
      without markers, the state of all qubits is saved at the end as ``'final'``;
    * ``XXPlusYYGate(phi, beta=0)`` -> ``RXX(phi/2) RYY(phi/2)`` (exact, both native in Aer);
    * ``StatePreparation(v)`` (acting on |0>) -> a ``UnitaryGate`` mapping |0> to v;
    * anything still not native is transpiled at optimization level 0 (exact decompositions).
    These rewrites avoid a generic transpile, whose first call costs ~2 s.
    """
    simulator = simulator or AerSimulator(method="density_matrix")
    out = circuit.copy_empty_like()
    has_marker = False
    for inst in circuit.data:
        op = inst.operation
        label = save_marker_label(op)
        if label is not None:
            has_marker = True
            out.append(SaveDensityMatrix(len(inst.qubits), label=label), inst.qubits)
        elif op.name == "xx_plus_yy" and float(op.params[1]) == 0.0:
            half = float(op.params[0]) / 2.0
            out.append(RXXGate(half), inst.qubits)
            out.append(RYYGate(half), inst.qubits)
        elif isinstance(op, StatePreparation) and len(op.params) == 2 ** op.num_qubits:
            out.append(UnitaryGate(_householder_preparation(np.asarray(op.params, dtype=complex)), check_input=False),
                       inst.qubits)
        else:
            out._append(inst)
    if not has_marker:
        out.append(SaveDensityMatrix(out.num_qubits, label="final"), out.qubits)
    native = set(simulator.configuration().basis_gates) | {"barrier", "measure"}
    if any(inst.operation.name not in native for inst in out.data):
        out = transpile(out, simulator, optimization_level=0, seed_transpiler=seed)
    return out


def _needs_shots(circuit: QuantumCircuit) -> bool:
    """True if a measurement precedes a save: the saved state then depends on the sampled outcome."""
    last_save = max((i for i, inst in enumerate(circuit.data) if inst.operation.name == "save_density_matrix"),
                    default=-1)
    return any(inst.operation.name == "measure" for inst in circuit.data[:last_save])



# A dense density matrix of n qubits holds 4^n complex128 entries; Aer needs about twice that
# while it applies a gate. Refused above this (checked before Aer allocates anything).
MAX_DENSITY_MATRIX_BYTES = 4 * 2**30


def density_matrix_bytes(n_qubits: int) -> int:
    """Peak bytes of an Aer density-matrix run on ``n_qubits``: 4^n complex128 entries, twice."""
    return 2 * 16 * 4**n_qubits


def _check_density_matrix_width(n_qubits: int) -> None:
    need = density_matrix_bytes(n_qubits)
    if need > MAX_DENSITY_MATRIX_BYTES:
        most = int(math.log(MAX_DENSITY_MATRIX_BYTES / 32, 4))
        raise ParameterError(
            f"Argument `circuits` must act on at most {most} qubits for an exact density-matrix run, but one acts on "
            f"{n_qubits} qubits: it would need {need / 2**30:.3g} GiB (limit {MAX_DENSITY_MATRIX_BYTES / 2**30:.0f} GiB)."
        )



def _check_idle(idle_noise, dynamical_decoupling, device, backend) -> None:
    """``idle_noise`` / ``dynamical_decoupling`` of :func:`run_density_matrix` (``device``: the noisy one, or None)."""
    if not isinstance(idle_noise, bool):
        raise ParameterError(f"Argument `idle_noise` must be True or False, but is {idle_noise!r}.")
    if idle_noise and device is None:
        raise ParameterError("Argument `idle_noise` needs a noisy backend (aer-noisy:<fake>, fake:<fake>, ibm:<name>, custom), "
                             f"whose T1 and T2 set the idle relaxation, but the backend is {backend!r}.")
    if dynamical_decoupling is not None:
        check_choice("dynamical_decoupling", dynamical_decoupling, DD_SEQUENCES)
        if not idle_noise:
            raise ParameterError("Argument `idle_noise` must be True with dynamical_decoupling (a DD run is "
                                 "scheduled, so its idle periods relax), but is False.")


def run_density_matrix(
    circuits,
    *,
    backend: str | Any = "aer",
    seed: int | None = 1234,
    shots: int | None = None,
    optimization_level: int = 1,
    initial_layout: Sequence[int] | None = None,
    idle_noise: bool = False,
    dynamical_decoupling: str | None = None,
    progress: bool = False,
) -> list[dict[str, np.ndarray]]:
    """Exact reduced density matrices at every save point, from Aer's density-matrix method.

    Resets, CX-purified ancillas and unitaries are applied as exact channels, so circuits
    without mid-circuit measurement run with one shot and give the exact state (round-off only).
    Circuits whose saves follow a mid-circuit measurement (``ancilla='measure'``) are run with
    ``shots`` (default :data:`DEFAULT_MEASURE_SHOTS`) and return the shot-averaged state.

    On a noisy backend (``'aer-noisy:<fake>'``, a fake or IBM device object) the result is the
    exact *noisy* state: the circuit transpiled to the device (preset pass manager,
    ``optimization_level``, ``seed_transpiler=seed``) and run on the device's noise model,
    restricted to the qubits the transpiled circuit uses (:func:`restricted_noise_model`). A noisy
    backend is never replaced by the ideal simulator. Readout errors do not act on saved states.

    ``idle_noise=True`` adds what hardware does while a qubit waits (e.g. for the ancilla's reset or
    measurement): the transpiled circuit is scheduled ALAP with the target's durations, every idle
    period of a used qubit becomes a delay (or, with ``dynamical_decoupling``, the runtime's DD
    sequence, :func:`~qcharge.execute.scheduling.schedule_idle`), and each delay of length
    :math:`t` relaxes its qubit, :math:`e^{-t/T_1}` populations, :math:`e^{-t/T_2}` coherences
    (:func:`~qcharge.execute.noise.restricted_idle_noise`, the delay noise of Aer's
    ``NoiseModel.from_backend``). This is the noise a runtime run with DD samples (it is
    scheduled; local mode samples it on Aer's from_backend model), and part of what hardware does
    always; unscheduled runs (Aer, local mode without DD) do not carry it. A save point in the
    middle of a circuit is a barrier: the qubits that finished earlier wait, and relax, up to it.

    Args:
        circuits: a circuit, or a list whose elements are circuits or lists of circuits
            (ensembles, averaged with equal weights).
        backend: ``'aer'`` (ideal, default), ``'aer-noisy:<fake>'``, or a device object.
        seed: Aer's ``seed_simulator`` is :func:`~qcharge.execute.seeds.simulator_seed` of it (only
            matters for mid-circuit measurements); ``seed_transpiler`` on noisy backends.
        shots: shots for measurement-dependent circuits (deterministic ones always use 1).
        optimization_level: preset pass-manager level 0-3 (noisy backends only).
        initial_layout: physical qubit of each logical qubit (noisy backends only; default: the
            preset's choice, see :func:`choose_layout`).
        idle_noise: schedule the circuits and add thermal relaxation on their idle periods (noisy
            backends only; default off: the unscheduled prediction).
        dynamical_decoupling: ``'XX'``, ``'XpXm'`` or ``'XY4'``: pad idle periods with this sequence
            as the runtime sampler does (needs ``idle_noise=True``; default none).
        progress: show a tqdm bar.

    Returns:
        One dict per element: save label -> density matrix in QuTiP order of the saved qubits
        (first listed qubit left-most; for a transpiled circuit, the physical qubits that carry
        the listed logical ones at that point).
    """
    flat, spans = _flatten(circuits)
    n_meas = DEFAULT_MEASURE_SHOTS if shots is None else check_int("shots", shots, minimum=1)
    optimization_level = check_int("optimization_level", optimization_level, minimum=0, maximum=3)
    device = _device_for_noise(backend)
    _check_idle(idle_noise, dynamical_decoupling, device, backend)
    for qc in flat:  # the transpiled circuits keep their width (ancillas stay idle)
        _check_density_matrix_width(qc.num_qubits)
    ideal = AerSimulator(method="density_matrix")
    if device is None:
        prepared = [prepare_for_aer(c, ideal, seed=seed) for c in flat]
        sims = [ideal] * len(flat)
    else:
        check_supported(flat, device)
        transpiled = _transpile_with_markers(flat, device, seed, optimization_level, initial_layout)
        if idle_noise:
            transpiled = schedule_idle(transpiled, device, dynamical_decoupling)
        prepared = [prepare_for_aer(c, ideal, seed=seed) for c in transpiled]
        models: dict[tuple[int, ...], AerSimulator] = {}
        sims = []
        for k, c in enumerate(prepared):
            used = tuple(_active_qubits(c))
            _check_density_matrix_width(len(used))
            if used not in models:
                models[used] = AerSimulator(method="density_matrix", noise_model=_cached_noise_model(device, used))
            sims.append(models[used])
            if idle_noise:  # after prepare_for_aer: the pass appends error instructions it would not pass through
                prepared[k] = _cached_idle_noise(device, used)(c)
    shot_list = [n_meas if _needs_shots(c) else 1 for c in prepared]
    results: list[dict[str, np.ndarray] | None] = [None] * len(flat)
    groups: dict[tuple[int, int], list[int]] = {}
    for i in range(len(flat)):
        groups.setdefault((id(sims[i]), shot_list[i]), []).append(i)
    chunks = []
    for idx in groups.values():
        size = _AER_CHUNK if progress else len(idx)
        chunks += [(sims[idx[0]], shot_list[idx[0]], idx[j:j + size]) for j in range(0, len(idx), size)]
    sim_seed = simulator_seed(seed)  # never the user seed itself (seeds.py)
    for sim, s, idx in _progress(chunks, progress, len(chunks), "aer density matrix"):
        res = sim.run([prepared[i] for i in idx], shots=s, seed_simulator=sim_seed).result()
        if not res.success:
            raise BackendError(f"Aer density-matrix run failed: {res.status}")
        for k, i in enumerate(idx):
            data = res.data(k)
            results[i] = {
                label: from_qiskit_order(np.asarray(data[label]))
                for label in (inst.operation.label for inst in prepared[i].data
                              if inst.operation.name == "save_density_matrix")
            }
    out = []
    for a, b in spans:
        if b - a == 1:
            out.append(results[a])
            continue
        labels = results[a].keys()
        out.append({lab: sum(results[i][lab] for i in range(a, b)) / (b - a) for lab in labels})
    return out
