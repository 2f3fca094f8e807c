r"""The two experiments end to end: build -> execute -> (tomography) -> compare with exact theory.

This is the only module that wires builders, :mod:`qcharge.execute` and the analysis
together; each piece stays testable alone. Every result is a JSON-able dict whose keys
the CLI prints unchanged.

* :func:`run_charge`: N atoms charged by n collisions; the circuit state beside the
  master equation at :math:`t = n\Delta t` (``reference``) and the NumPy twin of the same
  circuit (``twin``). Exact runs (Aer density matrix, no shots) must equal the twin to
  round-off; sampled runs are judged by bootstrap intervals of state tomography.
* :func:`run_harvest`: a probe colliding at Poisson times with fresh pairs; the
  instance-averaged probe beside the Poisson-averaged exact dynamics (4.3).
  Intervals resample instances (the Poisson randomness) and, for sampled runs, shots.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_density_matrix, check_int, check_real
from .compare import NULL_RESAMPLES, acceptance_ranges, compare_exact, compare_sampled, state_quantities
from .compare import QUANTITIES, quantity_range, quantity_table
from .exceptions import ParameterError
from .params import Atoms, Bath, Collision, Harvest, InitialState
from .records import RecordStore
from .results import ChargeRun, HarvestRun
from .thermo import effective_temperature

__all__ = ["run_charge", "run_harvest", "charge_reference_state", "HARVEST_CLUSTERS"]

HARVEST_CLUSTERS = ("charged", "dephased", "pipeline", "pipeline-dephased")
# Pipeline pairs are charged inside the circuit to gamma t ~ 5 (collision model, palindromic).
PIPELINE_COLLISION = Collision(0.3, "palindromic")
PIPELINE_TIME = 5.0


def charge_reference_state(atoms: Atoms, bath: Bath, initial: InitialState, t: float) -> np.ndarray:
    """Exact master-equation state at time ``t`` (Dicke solver when it applies, else full space)."""
    from .reference.charging import choose_method

    if choose_method(atoms, initial) == "dicke":
        from .reference.dicke import dicke_density_matrix

        return dicke_density_matrix(atoms, bath, initial, t)
    from .reference.lindblad import evolve

    return evolve(atoms, bath, initial.density_matrix(atoms.n, atoms.omega), [t])[0]


def _collision_resources(atoms, bath, initial, collision, n_collisions, backend) -> dict:
    """Width, depth, two-qubit gates: per collision (one-collision circuit) and total, before/after transpiling."""
    from .circuits.charging import charging_circuit
    from .execute import resources
    from .protocol import charging_plan

    target = None if backend == "aer" else backend

    def first(c):
        return c[0] if isinstance(c, list) else c

    one = first(charging_circuit(charging_plan(atoms, bath, InitialState("ground"), collision, 1, seed=0, n_instances=1)))
    full = first(charging_circuit(charging_plan(atoms, bath, initial, collision, n_collisions, seed=0, n_instances=1)))
    keys = ("qubits", "depth", "two_qubit_gates", "transpiled_depth", "transpiled_two_qubit_gates")
    per, tot = resources(one, target), resources(full, target)
    return {"backend": tot["backend"], "per_collision": {k: per[k] for k in keys}, "total": {k: tot[k] for k in keys}}


def _store(job_store: str | RecordStore | None) -> RecordStore | None:
    """The job store, created and test-written before any computation (paid job ids must not be lost)."""
    if job_store is None:
        return None
    from .execute import job_store_for

    return job_store_for(job_store)


def _check_charge_size(atoms: Atoms, initial: InitialState, bath: Bath, exact: bool) -> None:
    """Which N a charging run supports, checked before anything is built or allocated."""
    from .circuits.charging import charging_layout
    from .execute import MAX_DENSITY_MATRIX_BYTES, density_matrix_bytes
    from .tomography import MAX_QUBITS

    # The compared quantities include pair ones (rho_eg_ge, the heat-exchange coherence of atoms 0
    # and 1): a single atom has none, although its circuit would build.
    if atoms.n < 2:
        raise ParameterError(f"Argument `atoms` must be >= 2 for a charging run (rho_eg_ge and the heat-exchange "
                             f"coherence are pair quantities), but is {atoms.n}.")
    if not exact:
        if atoms.n > MAX_QUBITS:
            raise ParameterError(f"Argument `atoms` must be <= {MAX_QUBITS} for state tomography, but is {atoms.n}.")
        return
    width = charging_layout(atoms.n, initial, bath.omega)["width"]
    need = density_matrix_bytes(width)
    if need > MAX_DENSITY_MATRIX_BYTES:
        raise ParameterError(
            f"Argument `atoms` must be small enough for an exact density-matrix run of the {width}-qubit circuit, but "
            f"N = {atoms.n} would need {need / 2**30:.3g} GiB (limit {MAX_DENSITY_MATRIX_BYTES / 2**30:.0f} GiB)."
        )


def _coin_split(shots: int) -> tuple[int, int]:
    """(instances, shots per instance) for a coin run of ``shots`` per setting: the most instances
    <= DEFAULT_COIN_INSTANCES that divide ``shots`` (so every setting gets exactly ``shots``), unless
    that leaves fewer than 16: then DEFAULT_COIN_INSTANCES instances of ceil(shots / 64) shots."""
    from .protocol import DEFAULT_COIN_INSTANCES

    k = max(d for d in range(1, min(shots, DEFAULT_COIN_INSTANCES) + 1) if shots % d == 0)
    if k < min(16, shots):
        k = min(DEFAULT_COIN_INSTANCES, shots)
    return k, -(-shots // k)


def _shot_allocation(weights, shots: int) -> np.ndarray:
    r"""Integer shots :math:`s_k` per ensemble member with :math:`\sum_k s_k` = ``shots``, proportional to
    ``weights`` (largest remainder: :math:`|s_k/S - w_k| < 1/S`), for stratified sampling of a weighted ensemble.

    Example:
        >>> _shot_allocation([0.5625, 0.1875, 0.1875, 0.0625], 10).tolist()
        [6, 2, 2, 0]
    """
    w = np.asarray(weights, dtype=float)
    shots = check_int("shots", shots, minimum=1)
    exact = w / w.sum() * shots
    alloc = np.floor(exact).astype(int)
    alloc[np.argsort(-(exact - alloc), kind="stable")[: shots - alloc.sum()]] += 1
    return alloc


def _per_circuit_shots(jobs: list, shots: int) -> list[int]:
    """Shots per flattened circuit of ``jobs``: a data circuit's own ``metadata['shots']`` (a weighted ensemble),
    else (readout calibrations) ``shots`` split over the copies of its ensemble."""
    out = []
    for job in jobs:
        members = job if isinstance(job, list) else [job]
        out += [int(c.metadata.get("shots") or -(-shots // len(members))) for c in members]
    return out


def _check_layout(layout, n_qubits: int, backend) -> None:
    """A pinned layout names one distinct physical qubit of the noisy ``backend`` per circuit qubit."""
    if layout is None:
        return
    if backend == "aer":
        raise ParameterError(f"Argument `layout` needs a noisy backend (ideal Aer has no physical qubits), but is "
                             f"{list(layout)} with backend 'aer'.")
    from .execute import _device_for_noise

    # The device itself (cached per fake name), not get_backend's AerSimulator.from_backend: that builds
    # the whole device's noise model (seconds on a 156-qubit device) only to read a qubit count.
    size = getattr(_device_for_noise(backend), "num_qubits", None)
    ok = (len(layout) == n_qubits and len(set(layout)) == len(layout)
          and all(isinstance(q, (int, np.integer)) and not isinstance(q, bool) and 0 <= q < (size or q + 1)
                  for q in layout))
    if not ok:
        within = f" of {backend} (0 ... {size - 1})" if size else ""
        raise ParameterError(f"Argument `layout` must be {n_qubits} distinct physical qubits{within}, one per "
                             f"circuit qubit, but is {list(layout)}.")


def _with_calibration(jobs: list, width: int, mitigate: bool, *, backend, seed: int, layout) -> tuple[list, str | None]:
    """``(jobs, note)``: ``jobs`` plus readout calibrations of the physical qubits the data circuits are
    measured on, in the same job with the same ``initial_layout``, when ``mitigate``.

    Routing (SWAPs) can move a logical qubit off ``layout[q]`` before its measurement, and different
    circuits (settings, Poisson or coin instances) route differently. So each data circuit is transpiled as
    :func:`~qcharge.execute.run_counts` will (:func:`~qcharge.execute.measured_physical_qubits`), tagged with
    its measured physical qubits P (``metadata['measured_physical_qubits']``; run_counts checks it against
    its own transpile), and every ensemble is split into sub-ensembles of equal P (their counts pool back
    in the tomography fit). Each distinct set P gets calibration circuits on the logical qubits that the
    layout puts on P (calibration circuits have no two-qubit gates, so they are not routed: logical q
    stays on ``layout[q]``, which is checked by transpiling them too), with ``copies`` = the most instances
    pooled on P in one setting, so a calibration has as many shots as the data it corrects. A set that
    routing reaches outside the layout cannot be calibrated by these circuits: its circuits stay raw and
    ``note`` says so (a ``ParameterError`` when no set can be calibrated).
    """
    if not mitigate:
        return list(jobs), None
    from .execute import MEASURED_PHYSICAL, measured_physical_qubits
    from .mitigation import calibration_circuits

    elements = [j if isinstance(j, list) else [j] for j in jobs]
    where = iter(measured_physical_qubits([c for e in elements for c in e], backend=backend, seed=seed,
                                          initial_layout=layout))
    data, copies = [], {}  # copies: measured set (first-seen order) -> most instances pooled on it in one setting
    for job, members in zip(jobs, elements):
        groups: dict[tuple, list] = {}
        for c in members:
            p = next(where)
            c.metadata = {**c.metadata, MEASURED_PHYSICAL: list(p)}
            groups.setdefault(p, []).append(c)
        for p, group in groups.items():
            data.append(group if isinstance(job, list) else group[0])
            key = next((k for k in copies if sorted(k) == sorted(p)), p)
            copies[key] = max(copies.get(key, 0), len(group))
    cal, outside = [], []
    for p, k in copies.items():
        logical = list(p) if layout is None else [layout.index(q) if q in layout else None for q in p]
        circuits = None if None in logical else calibration_circuits(logical, num_qubits=width, physical_qubits=p)
        if circuits is None or set(measured_physical_qubits(circuits, backend=backend, seed=seed,
                                                            initial_layout=layout)) != {p}:
            outside.append(list(p))
            continue
        cal += [c if k == 1 else [c] * k for c in circuits]
    note = None
    if outside and not cal:
        raise ParameterError(f"Argument `mitigate` needs the measured qubits inside the layout {layout} (calibration "
                             f"circuits are not routed), but routing measures them on physical qubits {outside}: "
                             "choose a connected layout.")
    if outside:
        note = (f"routing measures qubits on physical qubits {outside} outside the layout {layout}: "
                "those circuits are not readout-mitigated")
    return data + cal, note


def _split_readout(counts: list, meta: list, mitigate: bool):
    """(data counts, data metadata, list of :class:`~qcharge.mitigation.ReadoutCalibration` or None)."""
    if not mitigate:
        return counts, meta, None
    from .mitigation import calibrations_from_counts, split_calibration

    cal_counts, cal_meta, counts, meta = split_calibration(counts, meta)
    return counts, meta, calibrations_from_counts(cal_counts, cal_meta)


def _readout_summary(cal, note: str | None) -> dict:
    from .mitigation import calibration_summary

    return calibration_summary(cal) if note is None else {**calibration_summary(cal), "note": note}


def _check_mitigate(mitigate: bool, sampled: bool) -> bool:
    if not isinstance(mitigate, bool):
        raise ParameterError(f"Argument `mitigate` must be True or False, but is {mitigate!r}.")
    if mitigate and not sampled:
        raise ParameterError("Argument `mitigate` needs a sampled run (readout error acts on measured counts), "
                             "but the run is exact (no shots): give --shots.")
    return mitigate


def _add_budget(out: dict, mitigated: dict | None, std_errors: dict | None, quantities) -> None:
    """``out['error_budget']`` (:func:`qcharge.budget.error_budget`) where there is a noisy prediction."""
    if "noisy_prediction" not in out:
        return
    from .budget import error_budget

    out["error_budget"] = error_budget(out["reference"], out["twin"], out["noisy_prediction"], out["circuit"],
                                       mitigated, std_errors=std_errors, quantities=quantities)


def run_charge(
    atoms: Atoms,
    bath: Bath,
    initial: InitialState,
    collision: Collision,
    n_collisions: int,
    *,
    backend: str = "aer",
    shots: int | None = None,
    exact: bool = False,
    seed: int = 7,
    n_resamples: int = 200,
    level: float = 0.95,
    job_store: str | RecordStore | None = None,
    layout: list[int] | None = None,
    mitigate: bool = False,
    progress: bool = False,
    counts_source=None,
    idle_noise: bool = False,
) -> ChargeRun:
    """Charge N atoms with n collisions on a backend and compare with the exact reference.

    ``exact=True`` (or ``shots=None``): Aer density-matrix run of the exact channel (needs
    ``collision.ancilla == 'purify'``); on a noisy backend (``'aer-noisy:<fake>'``) that is the
    exact noisy state of the transpiled circuit on the device's noise model (mode
    ``'exact noisy density matrix'``; its verdicts against the twin then measure the noise, they
    are not expected to hold). Otherwise N-qubit state tomography with ``shots`` per setting and
    basic-bootstrap intervals (``n_resamples``, ``level``). ``job_store``: folder (or
    :class:`~qcharge.records.RecordStore`) where job ids are recorded before waiting; it is
    created and test-written before anything is computed. ``layout``: physical qubits on a noisy
    backend (default :func:`qcharge.execute.choose_layout`; a plan's layout), reported as ``layout``.
    ``counts_source``: a callable with the signature of :func:`qcharge.execute.run_counts` used in its
    place (the run ledger, :mod:`qcharge.ledger`, submits and fetches through it).
    ``idle_noise``: the noisy prediction is scheduled and relaxes in idle periods, padded with the DD
    sequence of the :func:`~qcharge.execute.error_suppression` block in force
    (:func:`~qcharge.execute.run_density_matrix`); noisy backends record ``suppression``.
    ``mitigate``: readout calibration of the measured qubits in the same job, ``mitigated`` holds the
    mitigated estimates with their intervals (:mod:`qcharge.mitigation`). Noisy backends add
    ``error_budget`` (:mod:`qcharge.budget`).
    """
    from .circuits.charging import charging_circuit
    from .execute import current_suppression
    from .protocol import charging_plan
    from .reference.twin import charging_trajectory, coin_instance_states

    n_collisions = check_int("collisions", n_collisions, minimum=1)
    exact = exact or shots is None
    if exact and collision.ancilla not in ("purify", "enumerate"):
        raise ParameterError(
            f"Argument `exact` needs a deterministic ancilla channel ('purify' or 'enumerate'), but ancilla = "
            f"{collision.ancilla!r} (measure/coin are exact only on average: run them with --shots)."
        )
    _check_charge_size(atoms, initial, bath, exact)
    mitigate = _check_mitigate(mitigate, not exact)
    predict = current_suppression().prediction(idle_noise, backend, sampled=not exact)
    store = _store(job_store)
    coin = collision.ancilla == "coin" and not exact
    enumerated = collision.ancilla == "enumerate"
    if coin:
        n_coin, coin_shots = _coin_split(check_int("shots", shots, minimum=1))
    # One plan: the circuit(s) and the twin read the same schedule, save point and coin draws.
    plan = charging_plan(atoms, bath, initial, collision, n_collisions, seed=seed,
                         n_instances=n_coin if coin else None)
    dt = plan.dt
    t = n_collisions * dt
    me_rho = charge_reference_state(atoms, bath, initial, t)
    if enumerated:
        # Every coin pattern, weighted: exactly by its probability, or (sampled) by the shots it gets,
        # so that the twin is what the pooled counts estimate (|realised - exact| < 1/shots each).
        alloc = None if exact else _shot_allocation(plan.weights, check_int("shots", shots, minimum=1))
        patterns = np.arange(plan.n_instances) if alloc is None else np.flatnonzero(alloc)  # those with shots
        weights = plan.weights if alloc is None else alloc[patterns] / alloc.sum()
        twin_rho = np.tensordot(weights, coin_instance_states(plan)[patterns, -1], 1)
    elif coin:
        # The coin circuits are a finite ensemble of plan.n_instances draws: their twin is the mean
        # of the instances' exact states (the channel average is approached as 1/sqrt(instances)).
        twin_rho = coin_instance_states(plan)[:, -1].mean(axis=0)
    else:
        twin_rho = charging_trajectory(plan)[1][-1]
    out = {
        "atoms": atoms.n,
        "temperature": bath.temperature,
        "theta": collision.theta,
        "ordering": collision.ordering,
        "ancilla": collision.ancilla,
        "collisions": n_collisions,
        "dt": dt,
        "time": t,
        "backend": backend,
        "seed": seed,
        "plan_id": plan.strong_id(),
    }
    noisy = backend != "aer"
    label = f"rho_{n_collisions}"
    if exact:
        from .execute import choose_layout, run_density_matrix

        built = charging_circuit(plan)
        circuits = built if enumerated else [built]
        _check_layout(layout, circuits[0].num_qubits, backend)
        layout = (layout or choose_layout(circuits[0], backend, seed=seed)) if noisy else None
        states = run_density_matrix(circuits, backend=backend, seed=seed, initial_layout=layout, **predict)
        rho = np.tensordot(plan.weights, [st[label] for st in states], 1)
        cmp = compare_exact(rho, twin_rho, me_rho)
        mode = "exact density matrix" if backend == "aer" else "exact noisy density matrix"
        out.update(mode=mode, shots=None, coherence_l1_ci=None, **cmp.to_dict())
        if noisy:  # the exact noisy state is itself the prediction
            out.update(noisy_prediction=cmp.circuit.to_dict(), layout=layout)
    else:
        from .execute import choose_layout, run_counts, run_density_matrix
        from .tomography import bootstrap_states, fit_state, tomography_circuits

        shots = check_int("shots", shots, minimum=1)
        # On a noisy backend the sampled circuits and the exact-noisy prediction use the same
        # physical qubits: the layout is chosen once, on the charging circuit, and pinned.
        probe = charging_circuit(plan)
        _check_layout(layout, (probe[0] if isinstance(probe, list) else probe).num_qubits, backend)
        if noisy and layout is None:
            layout = choose_layout(probe[0] if isinstance(probe, list) else probe, backend, seed=seed)
        layout = layout if noisy else None
        if coin or enumerated:
            # Coin: plan.n_instances draws with coin_shots shots each (benchmarks: ~20x faster than one
            # 1-shot circuit per shot). Enumerate: every pattern with shots in proportion to its weight
            # (stratified sampling). Pooled counts are sums of multinomials of the instances' states,
            # whose (shot-weighted) mean is twin_rho: their variance is at most the multinomial one,
            # so the bootstrap intervals and the verdict below are conservative.
            inst = [probe[k] for k in patterns] if enumerated else probe
            per_setting = list(zip(*(tomography_circuits(c, c.metadata["atom_qubits"]) for c in inst)))
            jobs = [list(s) for s in per_setting]
            if enumerated:
                for setting in jobs:  # the shots travel with each circuit (routing regroups them below)
                    for c, k in zip(setting, patterns):
                        c.metadata = {**c.metadata, "shots": int(alloc[k])}
                per_shot = None
                out.update(coin_instances=len(patterns))
            else:
                per_shot = coin_shots
                out.update(coin_instances=plan.n_instances, coin_shots_per_instance=coin_shots)
        else:
            jobs, per_shot = tomography_circuits(probe, probe.metadata["atom_qubits"]), shots
        first = probe[0] if isinstance(probe, list) else probe
        jobs, note = _with_calibration(jobs, first.num_qubits, mitigate, backend=backend, seed=seed, layout=layout)
        if per_shot is None:
            per_shot = _per_circuit_shots(jobs, shots)
        counts = (counts_source or run_counts)(jobs, backend=backend, shots=per_shot, seed=seed, job_store=store,
                                               initial_layout=layout, progress=progress)
        meta = [(j[0] if isinstance(j, list) else j).metadata for j in jobs]
        counts, meta, cal = _split_readout(counts, meta, mitigate)
        rho = fit_state(counts, meta)
        boot = bootstrap_states(counts, meta, n_resamples=n_resamples, seed=seed)
        null = bootstrap_states(counts, meta, n_resamples=NULL_RESAMPLES, seed=seed + 1, state=twin_rho)
        cmp = compare_sampled(rho, boot, null, twin_rho, me_rho, level=level)
        out.update(mode="state tomography", shots=shots, coherence_l1_ci=cmp.ci.coherence_l1, **cmp.to_dict())
        std_errors = dict(zip(QUANTITIES, np.std(quantity_table(boot), axis=0, ddof=1)))
        if cal is not None:
            mitigated, std_errors = _mitigated_charge(cal, counts, meta, n_resamples, seed, level, note)
        if noisy:
            # A coin ensemble is predicted on the same instances (and weights) that were sampled.
            if enumerated:
                states = run_density_matrix(inst, backend=backend, seed=seed, initial_layout=layout, **predict)
                rho_noisy = np.tensordot(weights, [st[label] for st in states], 1)
            else:
                ens = probe if isinstance(probe, list) else [probe]
                rho_noisy = run_density_matrix([ens], backend=backend, seed=seed, initial_layout=layout,
                                               **predict)[0][label]
            out.update(noisy_prediction=state_quantities(rho_noisy), layout=layout)
    out["resources"] = _collision_resources(atoms, bath, initial, collision, n_collisions, backend)
    if noisy:
        out["suppression"] = current_suppression().record(idle_noise)
    if mitigate:
        out["mitigated"] = mitigated
    _add_budget(out, out.get("mitigated"), None if exact else std_errors, list(QUANTITIES))
    return ChargeRun.from_dict(out)


def _mitigated_charge(cal, counts, meta, n_resamples: int, seed: int, level: float,
                      note: str | None) -> tuple[dict, dict]:
    """(``mitigated`` entry: the circuit's keys plus ``<q>_ci`` and the calibration, std errors per quantity)."""
    from .mitigation import bootstrap_mitigated_states, mitigate_counts
    from .tomography import INTERVAL_METHOD, estimate_interval, fit_state

    unc = "raise" if note is None else "raw"
    rho = fit_state(mitigate_counts(cal, counts, meta, uncalibrated=unc), meta)
    values = state_quantities(rho)
    # Intervals resample the calibration and the data (bootstrap_mitigated_states), not the data alone.
    boot = quantity_table(bootstrap_mitigated_states(cal, counts, meta, n_resamples=n_resamples, seed=seed,
                                                     uncalibrated=unc))
    dim = rho.shape[0]
    out: dict = dict(values)
    for i, q in enumerate(QUANTITIES):
        out[q + "_ci"] = list(estimate_interval(values[q], boot[:, i], level=level, bounds=quantity_range(q, dim)))
    out.update(ci_method=INTERVAL_METHOD, readout_calibration=_readout_summary(cal, note))
    return out, dict(zip(QUANTITIES, np.std(boot, axis=0, ddof=1)))


def _harvest_cluster(kind, bath: Bath, initial: InitialState, seed: int, charging=None):
    """(cluster for the builder, its exact density matrix for the reference); ``kind`` may be a pair state.
    ``charging``: ``(collision, n)`` of the pipeline clusters (default: :data:`PIPELINE_COLLISION` for
    :data:`PIPELINE_TIME`).

    ``pipeline-dephased``: the pipeline pair, dephased in the circuit by random Z gates; the reference is
    its computational-basis diagonal (the mean over the Z draws).
    """
    from .circuits.harvesting import ChargedCluster
    from .reference.harvest import make_cluster

    if charging is not None and kind not in ("pipeline", "pipeline-dephased"):
        raise ParameterError(f"Argument `charging` needs cluster 'pipeline' or 'pipeline-dephased' (the pairs "
                             f"charged in the circuit), but cluster is {kind if isinstance(kind, str) else 'a matrix'!r}.")
    if not isinstance(kind, str):
        rho = check_density_matrix("cluster", kind, 2)
        return rho, rho

    if kind in ("pipeline", "pipeline-dephased"):
        from .coherence import dephase
        from .protocol import charging_plan
        from .reference.twin import charging_trajectory

        pair = Atoms.dicke(2, omega=bath.omega)
        if charging is None:
            collision = PIPELINE_COLLISION
            n = max(1, round(PIPELINE_TIME / collision.time_step(bath, pair.gamma)))
        else:
            collision, n = charging
            if not isinstance(collision, Collision):
                raise ParameterError(f"Argument `charging` must be (Collision, n), but its first entry is {collision!r}.")
            n = check_int("charging", n, minimum=1)
        cluster = ChargedCluster(pair, bath, initial, collision, n, seed, dephase=kind != "pipeline")
        _, states = charging_trajectory(charging_plan(pair, bath, initial, collision, n, seed=seed))
        return cluster, (states[-1] if kind == "pipeline" else dephase(states[-1]))
    if kind not in HARVEST_CLUSTERS:
        raise ParameterError(f"Argument `cluster` must be one of {list(HARVEST_CLUSTERS)}, but is {kind!r}.")
    rho = make_cluster(kind, bath, initial)
    return rho, rho


def pipeline_dephased_twin(cluster, plan, omega: float) -> np.ndarray:
    """Exact probe state of every instance of ``plan`` with the dephased in-circuit ``cluster``
    (a ChargedCluster with ``dephase=True``): each collision meets the Z-flipped charged pair."""
    from .protocol import charging_plan, dephasing_flips
    from .reference.pipeline import flipped_cluster_instance
    from .reference.twin import charging_trajectory

    _, states = charging_trajectory(charging_plan(cluster.atoms, cluster.bath, cluster.initial, cluster.collision,
                                                  cluster.n_collisions, seed=cluster.seed))
    k = cluster.atoms.n
    return np.array([flipped_cluster_instance(states[-1], dephasing_flips(s, len(times), k), plan.harvest, times,
                                              plan.time, omega=omega)
                     for times, s in zip(plan.collision_times, plan.instance_seeds)])


def _teff_interval(pe_ci: tuple[float, float], omega: float, pe_hat: float) -> list[float]:
    # T_eff(p_e) increases monotonically on [0, 1/2); past 1/2 it jumps to negative values, so an
    # interval straddling 1/2 maps to two rays: the one on the estimate's branch is reported,
    # [T(lo), inf] for p_e <= 1/2, [-inf, T(hi)] above.
    lo, hi = (min(max(p, 0.0), 1.0) for p in pe_ci)
    if hi >= 0.5 > lo:
        if pe_hat <= 0.5:
            return [effective_temperature(lo, omega), math.inf]
        return [-math.inf, effective_temperature(hi, omega)]
    return sorted([effective_temperature(lo, omega), effective_temperature(hi, omega)])


def run_harvest(
    bath: Bath,
    initial: InitialState,
    cluster: str | ArrayLike,
    harvest: Harvest,
    time: float,
    *,
    instances: int = 40,
    backend: str = "aer",
    shots: int | None = None,
    seed: int = 7,
    n_resamples: int = 200,
    level: float = 0.95,
    job_store: str | RecordStore | None = None,
    layout: list[int] | None = None,
    charging: tuple[Collision, int] | None = None,
    mitigate: bool = False,
    progress: bool = False,
    counts_source=None,
    idle_noise: bool = False,
) -> HarvestRun:
    """Probe harvesting on a backend beside the exact dynamics.

    ``cluster``: 'charged', 'dephased', 'pipeline', 'pipeline-dephased', or a pair density matrix (QuTiP
    order; recorded as 'matrix'). ``charging``: ``(collision, n)``, the in-circuit charging of the pipeline
    clusters (default :data:`PIPELINE_COLLISION`, n from :data:`PIPELINE_TIME`; a ``plan(target='teff')``
    protocol), recorded as ``pipeline_protocol``.

    ``instances`` circuits with Poisson collision times (rate ``harvest.rate``) on [0, time].
    ``reference`` is the Poisson-averaged exact dynamics (4.3); ``twin`` the exact probe
    state averaged over the *same* instances (:func:`~qcharge.reference.twin.harvest_instance_states`),
    which is what the circuits must reproduce. ``shots=None``: exact density matrices
    (verdict: every instance equals its twin to 1e-8; on a noisy backend the exact noisy states of
    the transpiled circuits, which the noise moves off the twin); else one-qubit probe tomography with
    ``shots`` per setting and instance (verdict: the estimate inside the sampling
    distribution it would have if each instance were its twin; ``*_ci``: see ``ci_method``).
    The gap between ``twin`` and ``reference`` is the finite-instance sampling of the
    Poisson process, reported with ``instances_std_error``. ``job_store``, ``counts_source``, ``mitigate``
    (the probe population), ``layout`` (physical qubits of every instance on a noisy backend; default
    :func:`~qcharge.execute.choose_layout` of instance 0, so pin it to compare clusters on the same qubits)
    and the noisy backends' ``error_budget``, ``idle_noise`` and ``suppression`` as in :func:`run_charge`;
    noisy backends also report ``two_qubit_gates`` after transpiling (mean and max per instance, and per collision).
    """
    from .circuits.harvesting import harvesting_instances
    from .compare import EXACT_ATOL
    from .execute import current_suppression
    from .protocol import harvesting_plan
    from .reference.probe import probe_dynamics
    from .reference.twin import harvest_instance_states

    time = check_real("time", time, minimum=0.0, strict_min=True)
    instances = check_int("instances", instances, minimum=2)
    mitigate = _check_mitigate(mitigate, shots is not None)
    predict = current_suppression().prediction(idle_noise, backend, sampled=shots is not None)
    store = _store(job_store)
    omega = bath.omega
    builder_cluster, rho_cluster = _harvest_cluster(cluster, bath, initial, seed, charging)
    p_ref = float(np.real(probe_dynamics(rho_cluster, harvest, [time], omega=omega)[0][1, 1]))
    # One plan: the circuits and their exact twins read the same Poisson collision times.
    plan = harvesting_plan(harvest, time, instances, seed)
    circuits = harvesting_instances(plan, builder_cluster, omega=omega)
    if getattr(builder_cluster, "dephase", False):  # pipeline-dephased: each collision meets its own Z-flipped pair
        twin_states = pipeline_dephased_twin(builder_cluster, plan, omega)
    else:
        twin_states = harvest_instance_states(plan, rho_cluster, omega=omega)[:, 0]
    p_twin = twin_states[:, 1, 1].real
    noisy = backend != "aer"
    _check_layout(layout, circuits[0].num_qubits, backend)
    pinned = noisy and layout is not None
    if noisy and layout is None:  # one layout for every instance, the sampled circuits and the prediction
        from .execute import choose_layout

        layout = choose_layout(circuits[0], backend, seed=seed)
    layout = list(layout) if noisy and layout is not None else None
    noisy_prediction = None
    if shots is None:
        from .execute import run_density_matrix

        # Each instance keeps the preset's own layout (the one of instance 0 is reported), unless pinned.
        states = run_density_matrix(circuits, backend=backend, seed=seed, progress=progress,
                                    initial_layout=layout if pinned else None, **predict)
        pe = np.array([float(np.real(s["probe_0"][1, 1])) for s in states])
        pe_hat, pe_ci, accept = float(pe.mean()), None, None
        agree = bool(np.max(np.abs(pe - p_twin)) <= EXACT_ATOL)
        mode = "exact density matrix per instance" if backend == "aer" else "exact noisy density matrix per instance"
        if noisy:
            noisy_prediction = pe_hat
    else:
        from .execute import run_counts, run_density_matrix
        from .tomography import INTERVAL_METHOD, bootstrap_states, estimate_interval, fit_state, tomography_circuits

        shots = check_int("shots", shots, minimum=1)
        # One ensemble per tomography setting: counts are pooled over the instances.
        settings = list(zip(*(tomography_circuits(c, [c.metadata["probe_qubit"]]) for c in circuits)))
        jobs, note = _with_calibration([list(s) for s in settings], circuits[0].num_qubits, mitigate,
                                       backend=backend, seed=seed, layout=layout)
        counts = (counts_source or run_counts)(jobs, backend=backend, shots=shots, seed=seed,
                                               job_store=store, initial_layout=layout, progress=progress)
        # With mitigation a setting's instances come as sub-ensembles of equal measured qubits (their
        # counts pool back in the fit): the metadata are the jobs' own.
        counts, meta, cal = _split_readout(counts, [(j[0] if isinstance(j, list) else j).metadata for j in jobs],
                                           mitigate)
        if noisy:
            states = run_density_matrix(circuits, backend=backend, seed=seed, initial_layout=layout, **predict)
            noisy_prediction = float(np.mean([np.real(s["probe_0"][1, 1]) for s in states]))
        pe_hat = float(np.real(fit_state(counts, meta)[1, 1]))
        # Pooled counts are sums of multinomials with instance-dependent probabilities: their
        # variance is at most the multinomial one, so both resamplings below are conservative.
        boot = bootstrap_states(counts, meta, n_resamples=n_resamples, seed=seed)[:, 1, 1].real
        pe_ci = estimate_interval(pe_hat, boot, level=level, bounds=(0.0, 1.0))
        # Verdict as in compare.compare_sampled: the estimate inside the sampling distribution it
        # would have if every instance were exactly its twin.
        null = bootstrap_states(counts, meta, n_resamples=NULL_RESAMPLES, seed=seed + 1, state=twin_states.mean(axis=0))
        accept = acceptance_ranges(null[:, 1, 1].real, level)[0]
        agree = bool(accept[0] <= pe_hat <= accept[1])
        mode = "probe tomography"
        pe_std = float(np.std(boot, ddof=1))
        if cal is not None:
            from .mitigation import bootstrap_mitigated_states, mitigate_counts

            unc = "raise" if note is None else "raw"
            pe_mit = float(np.real(fit_state(mitigate_counts(cal, counts, meta, uncalibrated=unc), meta)[1, 1]))
            boot_mit = bootstrap_mitigated_states(cal, counts, meta, n_resamples=n_resamples, seed=seed,
                                                  uncalibrated=unc)[:, 1, 1].real
            pe_mit_ci = estimate_interval(pe_mit, boot_mit, level=level, bounds=(0.0, 1.0))
            pe_std = float(np.std(boot_mit, ddof=1))
            mitigated = {"teff": effective_temperature(pe_mit, omega), "probe_excited_population": pe_mit,
                         "teff_ci": _teff_interval(pe_mit_ci, omega, pe_mit),
                         "probe_excited_population_ci": list(pe_mit_ci), "ci_method": INTERVAL_METHOD,
                         "readout_calibration": _readout_summary(cal, note)}
    n_coll = [len(c.metadata["collision_times"]) for c in circuits]
    circuit = {"teff": effective_temperature(pe_hat, omega), "probe_excited_population": pe_hat}
    if pe_ci is not None:
        circuit.update(
            teff_ci=_teff_interval(pe_ci, omega, pe_hat),
            probe_excited_population_ci=list(pe_ci),
            probe_excited_population_acceptance=list(accept),
            ci_method=INTERVAL_METHOD,
        )
    out = {
        "cluster": cluster if isinstance(cluster, str) else "matrix",
        "temperature": bath.temperature,
        "theta": harvest.theta,
        "rate": harvest.rate,
        "coupling": list(harvest.coupling),
        "pipeline_protocol": ({"theta": builder_cluster.collision.theta, "ordering": builder_cluster.collision.ordering,
                               "ancilla": builder_cluster.collision.ancilla, "collisions": builder_cluster.n_collisions}
                              if hasattr(builder_cluster, "n_collisions") else None),
        "time": time,
        "instances": instances,
        "mean_collisions": float(np.mean(n_coll)),
        "mode": mode,
        "backend": backend,
        "shots": shots,
        "seed": seed,
        "reference": {"teff": effective_temperature(p_ref, omega), "probe_excited_population": p_ref},
        "twin": {"teff": effective_temperature(float(p_twin.mean()), omega), "probe_excited_population": float(p_twin.mean())},
        "instances_std_error": float(p_twin.std(ddof=1) / np.sqrt(instances)),
        "circuit": circuit,
        "agree": agree,
    }
    if noisy:
        from .execute import transpiled_two_qubit_gates

        out["noisy_prediction"] = {"teff": effective_temperature(noisy_prediction, omega),
                                   "probe_excited_population": noisy_prediction}
        out["layout"] = layout
        # As sampled (the transpile of run_counts on this layout; exact runs with a free layout: the preset's).
        gates = transpiled_two_qubit_gates(circuits, backend=backend, seed=seed,
                                           initial_layout=layout if shots is not None or pinned else None)
        out["two_qubit_gates"] = {"mean_per_instance": float(np.mean(gates)), "max_per_instance": int(max(gates)),
                                  "per_collision": float(sum(gates) / max(1, sum(n_coll)))}
        out["suppression"] = current_suppression().record(idle_noise)
    if mitigate:
        out["mitigated"] = mitigated
    # T_eff has no bootstrap standard error here (it is infinite on part of the resamples near p_e = 1/2).
    _add_budget(out, out.get("mitigated"), None if shots is None else {"probe_excited_population": pe_std},
                ["probe_excited_population", "teff"])
    return HarvestRun.from_dict(out)
