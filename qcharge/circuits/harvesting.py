r"""Harvesting circuit: a probe qubit collides at Poisson times with freshly prepared clusters.

Each collision (docs/physics.md §4.1-4.2) uses a *fresh* cluster :math:`\rho_c` of K atoms:

.. math::
    \rho_p \mapsto M(\rho_p) = \mathrm{Tr}_c[U(\rho_p\otimes\rho_c)U^\dagger],\qquad
    U = \exp[-i\theta(\sigma_+^pJ_-^{(g)} + \sigma_-^pJ_+^{(g)})],\qquad J_-^{(g)} = \sum_i g_i\sigma_-^i,

(``harvest.coupling`` = g, default all ones: the collective :math:`J_\pm`) applied exactly
(``ordering='exact'``, the default: for the collective K = 2 collision three exchange gates,
:mod:`qcharge.circuits.synthesis`; otherwise one dense unitary on the probe and the atoms with
:math:`g_i \neq 0`, :func:`~qcharge.protocol.coupled_unitary`) or as a Trotter schedule of exchange
gates ``XXPlusYYGate(2 f θ g_i)`` (``ordering='palindromic'``: 2K-1 = 3 gates for K = 2,
:func:`~qcharge.protocol.probe_schedule`), which the twin
:func:`qcharge.reference.twin.harvest_instance_states` reads too. An uncoupled atom gets no gate:
a one-atom coupling is one two-qubit gate (the exchange) in every ordering.
Between collisions the probe may relax to its own bath (rate :math:`\gamma_p`, temperature
:math:`T_p`) by the exact generalized amplitude damping channel, realised as one exchange with a
fresh thermal ancilla at :math:`p_e(T_p)`:

.. math::
    \cos^2\theta_d = e^{-\gamma_p(2\bar n_p+1)\Delta},

which relaxes populations by that factor and the coherence by :math:`\cos\theta_d`, exactly the
master-equation solution over an interval Δ.

The cluster is prepared either directly in a given :math:`2^K\times 2^K` density matrix
(purification on cluster + :math:`\lceil\log_2\mathrm{rank}\rceil` purifiers, then reset) or by the
charging sub-circuit (:class:`ChargedCluster`: reset the cluster, prepare its initial state,
run n charging collisions), reusing the same qubits for every collision. A dephased charged cluster
(``ChargedCluster(..., dephase=True)``) then gets a Z on each atom with probability 1/2, drawn
independently per collision from the instance's seed (:func:`qcharge.protocol.dephasing_flips`):
averaged over the draws, the probe meets :math:`\mathrm{diag}(\rho_c)`, the computational-basis
dephased twin of the very pair the circuit charged (docs/physics.md §4.1), through the same charging
gates; Z is a virtual (frame-change) gate on IBM devices, so both clusters carry the same gate noise.

Qubit layout::

    0               probe (starts in |g>)
    1 .. K          cluster atoms 0 .. K-1
    K+1 ..          auxiliary qubits: purifiers / charging ancilla + partner / damping ancilla + partner
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
import numpy as np
from numpy.typing import ArrayLike
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
from qiskit.circuit.library import UnitaryGate

from .._checks import check_choice, check_density_matrix, check_int, check_real
from ..exceptions import ParameterError
from ..params import ANCILLA_METHODS, ORDERINGS, Atoms, Bath, Collision, Harvest, InitialState
from ..states import excited_probability, mean_occupation
from ..records import to_jsonable
from ..protocol import (HarvestPlan, _check_inputs, coupled_unitary, dephasing_flips, probe_schedule, resolve_seed,
                        trotter_schedule)
from .collisions import MAX_EXACT_ATOMS, append_collision, append_qutip_unitary, append_save_marker, exchange_gate
from .synthesis import SHORT_EXACT_ATOMS
from .thermal import (
    append_density_matrix,
    append_initial_state,
    append_symmetric_pair,
    append_thermal_ancilla,
    initial_aux_qubits_needed,
    purifier_count,
    symmetric_pair_populations,
)

__all__ = ["ChargedCluster", "harvesting_circuit", "harvesting_instances", "damping_angle"]


@dataclass(frozen=True)
class ChargedCluster:
    """Recipe for a cluster charged in the circuit itself: the charging pipeline of
    :func:`qcharge.circuits.charging.charging_circuit` run on the cluster qubits before each collision;
    ``dephase=True`` adds the random virtual Z gates that dephase it (module docstring)."""

    atoms: Atoms
    bath: Bath
    initial: InitialState
    collision: Collision
    n_collisions: int
    seed: int | None = None
    dephase: bool = False

    def __post_init__(self) -> None:
        _check_inputs(self.atoms, self.bath, self.initial, self.collision)
        check_int("n_collisions", self.n_collisions, minimum=0)
        if self.seed is not None:
            check_int("seed", self.seed, minimum=0)
        if not isinstance(self.dephase, bool):
            raise ParameterError(f"Argument `dephase` must be True or False, but is {self.dephase!r}.")

    def to_dict(self) -> dict:
        dt = self.collision.time_step(self.bath, self.atoms.gamma)
        return {
            "kind": "charged-dephased" if self.dephase else "charged",
            "atoms": self.atoms.to_dict(),
            "bath": self.bath.to_dict(),
            "initial_state": self.initial.to_dict(),
            "theta": self.collision.theta,
            "ordering": self.collision.ordering,
            "ancilla_method": self.collision.ancilla,
            "n_collisions": self.n_collisions,
            "seed": self.seed,
            "dt": dt,
            "time": self.n_collisions * dt,
        }


def damping_angle(gamma_p: float, temperature_p: float, interval: float, omega: float = 1.0) -> float:
    r"""Exchange angle :math:`\theta_d` with :math:`\cos^2\theta_d = e^{-\gamma_p(2\bar n_p+1)\Delta}`."""
    gamma_p = check_real("probe_gamma", gamma_p, minimum=0.0)
    interval = check_real("interval", interval, minimum=0.0)
    if gamma_p == 0.0 or interval == 0.0:
        return 0.0
    nbar = mean_occupation(temperature_p, omega)
    rate = gamma_p * (2.0 * nbar + 1.0)  # inf at T_p = inf: full thermalisation, theta_d = pi/2
    return math.acos(math.sqrt(math.exp(-rate * interval)))


def _cluster_spec(cluster, harvest: Harvest, omega: float) -> tuple[str, object, int, int, float]:
    """(kind, payload, K, aux qubits needed, omega); ``omega`` is the probe frequency for matrix clusters."""
    k = harvest.cluster_size
    if isinstance(cluster, ChargedCluster):
        if cluster.atoms.n != k:
            raise ParameterError(
                f"Argument `cluster` must have harvest.cluster_size = {k} atoms, but has {cluster.atoms.n}."
            )
        need = max(2, initial_aux_qubits_needed(cluster.initial, k, cluster.atoms.omega))
        return "charged", cluster, k, need, cluster.atoms.omega
    try:
        rho = check_density_matrix("cluster", cluster, k)
    except ParameterError as err:
        raise ParameterError(
            f"Argument `cluster` must be a ChargedCluster or a {2**k}x{2**k} density matrix "
            f"(harvest.cluster_size = {k}): {err}"
        ) from None
    return "matrix", rho, k, purifier_count(rho), check_real("omega", omega, minimum=0.0, strict_min=True)


def _probe_collision(qc: QuantumCircuit, harvest: Harvest, probe: int, cluster_qubits: list[int]):
    """``collide(entry)``: append one probe-cluster collision, an entry of :func:`~qcharge.protocol.probe_schedule`
    (exchange gates) or ``None``: the exact unitary, on the probe and the coupled atoms only (the others see
    the identity, so the dense gate and its synthesis shrink; one coupled atom is a 4x4 exchange)."""
    g = harvest.coupling
    if all(x == 1.0 for x in g):  # collective: today's gate, unchanged
        return lambda entry: append_collision(qc, cluster_qubits, probe, harvest.theta, entry)
    support = [i for i, x in enumerate(g) if x != 0.0]
    qubits = [probe, *(cluster_qubits[i] for i in support)]
    gate = None

    def collide(entry) -> None:
        nonlocal gate
        if entry is not None:
            append_collision(qc, cluster_qubits, probe, harvest.theta, entry)
            return
        if gate is None:  # built on the first exact collision: one matrix shared by all of them
            if len(support) > MAX_EXACT_ATOMS:
                raise ParameterError(
                    f"Argument `ordering` must be a Trotter ordering (e.g. 'palindromic') for {len(support)} coupled "
                    f"atoms (the exact collision is a dense unitary on at most {MAX_EXACT_ATOMS}), but is 'exact'."
                )
            u = coupled_unitary(tuple(g[i] for i in support), harvest.theta)
            gate = UnitaryGate(u, label=f"Ug({float(harvest.theta):.4g})", check_input=False)
        append_qutip_unitary(qc, gate, qubits)

    return collide


def harvesting_circuit(
    harvest: Harvest,
    cluster: ChargedCluster | ArrayLike,
    collision_times: ArrayLike,
    total_time: float,
    *,
    save_times: ArrayLike | None = None,
    ordering: str = "exact",
    seed: int | None = None,
    ancilla: str = "purify",
    measure: bool = False,
    omega: float = 1.0,
    closed_form_pair: bool = False,
) -> QuantumCircuit:
    r"""One instance: the probe (in :math:`|g\rangle` at t = 0) collides with a fresh cluster at each time.

    Args:
        harvest: θ, rate (metadata only here), K, probe damping :math:`\gamma_p, T_p`, coupling vector g
            (recorded in metadata as ``coupling``).
        cluster: a :class:`ChargedCluster`, or the cluster's density matrix (QuTiP order,
            cluster atom 0 left-most).
        collision_times: collision times in [0, total_time] (sorted here).
        total_time: end of the run.
        save_times: times at which the probe state is saved (labels ``probe_0``, ``probe_1``, ...);
            default ``[total_time]``. A state saved at s includes the collisions at times <= s.
        ordering: probe-cluster collision: ``'exact'`` (UnitaryGate) or a Trotter ordering
            (:func:`~qcharge.protocol.probe_schedule`).
        seed: seed of a random probe ordering and of classical coins; drawn if ``None``, recorded.
        ancilla: preparation method of the damping ancilla (``purify``/``measure``/``coin``).
        measure: measure the probe at ``total_time`` into register ``meas``.
        omega: probe (and matrix cluster) frequency: sets the probe bath's thermal ancilla
            (a ChargedCluster carries its own ``atoms.omega``).
        closed_form_pair: prepare a pair matrix that is a triplet mixture diagonal in the Dicke basis
            with :func:`~qcharge.circuits.thermal.append_symmetric_pair` (closed-form angles, so the
            exported OpenQASM does not depend on the BLAS build) instead of a numerical purification.
    """
    if not isinstance(harvest, Harvest):
        raise ParameterError(f"Argument `harvest` must be a qcharge.Harvest, but is {type(harvest).__name__}.")
    kind, payload, k, need, omega = _cluster_spec(cluster, harvest, omega)
    pair_pops = None
    if closed_form_pair:
        pair_pops = symmetric_pair_populations(payload) if kind == "matrix" and k == 2 else None
        if pair_pops is None:
            raise ParameterError(
                "Argument `closed_form_pair` needs a pair density matrix diagonal in the Dicke basis "
                "(sum_m p_m |1,m><1,m|), but the cluster is not one."
            )
        need = max(need, 1)
    total_time = check_real("total_time", total_time, minimum=0.0)
    times = np.sort(np.asarray(collision_times, dtype=float).reshape(-1))
    if times.size and (not np.all(np.isfinite(times)) or times[0] < 0 or times[-1] > total_time):
        raise ParameterError(
            f"Argument `collision_times` must lie in [0, total_time = {total_time}], but spans "
            f"[{times[0]}, {times[-1]}]."
        )
    saves = np.asarray([total_time] if save_times is None else save_times, dtype=float).reshape(-1)
    if saves.size and (not np.all(np.isfinite(saves)) or saves.min() < 0 or saves.max() > total_time):
        raise ParameterError(f"Argument `save_times` must lie in [0, total_time = {total_time}], but is {saves.tolist()}.")
    check_choice("ordering", ordering, ORDERINGS)
    check_choice("ancilla", ancilla, ANCILLA_METHODS)
    for name, method in (("ancilla", ancilla), ("charging ancilla", payload.collision.ancilla if kind == "charged" else None)):
        if method == "enumerate":  # a probe's Poisson instances are drawn, not enumerated
            raise ParameterError(f"Argument `{name}` 'enumerate' is for charging runs only, but is given to harvesting; "
                                 "use 'coin', 'measure' or 'purify'.")
    seed = resolve_seed(seed)
    rng = np.random.default_rng([seed, 2])  # coins only; the ordering stream uses `seed` itself

    damping = harvest.probe_gamma > 0.0
    p_e_probe = excited_probability(harvest.probe_temperature, omega)
    if damping:
        need = max(need, 2 if p_e_probe > 0 else 1)
    charge_method = payload.collision.ancilla if kind == "charged" else None
    use_clbit = (damping and ancilla == "measure" and p_e_probe > 0) or charge_method == "measure"

    probe = 0
    cl_q = list(range(1, k + 1))
    aux = list(range(k + 1, k + 1 + need))
    regs = [QuantumRegister(1, "probe"), QuantumRegister(k, "cluster")]
    if need:
        regs.append(QuantumRegister(need, "aux"))
    clbit = None
    if use_clbit:
        creg = ClassicalRegister(1, "anc_bit")
        regs.append(creg)
        clbit = creg[0]
    if measure:
        regs.append(ClassicalRegister(1, "meas"))
    qc = QuantumCircuit(*regs, name=f"harvesting_K{k}_{ordering}_{len(times)}coll")

    probe_gates = probe_schedule(harvest, ordering, len(times), seed)
    collective = all(x == 1.0 for x in harvest.coupling)
    collide = _probe_collision(qc, harvest, probe, cl_q)
    flips = None
    if kind == "charged":
        charge_schedule = trotter_schedule(k, payload.collision.ordering, payload.n_collisions, payload.seed,
                                           payload.collision.theta)
        p_e_charge = payload.bath.excited_probability
        if payload.dephase:
            flips = dephasing_flips(seed, len(times), k)

    def prepare_cluster(i: int) -> None:
        if pair_pops is not None:
            for q in [*cl_q, aux[0]]:  # aux[0] may hold the damping ancilla of the last interval
                qc.reset(q)
            append_symmetric_pair(qc, pair_pops, cl_q, aux[0])
            return
        if kind == "matrix":
            append_density_matrix(qc, payload, cl_q, aux, reset=True)
            return
        for q in aux:
            qc.reset(q)
        append_initial_state(qc, payload.initial, cl_q, [aux[1], aux[0]] + aux[2:], omega, reset=True)
        for c in range(payload.n_collisions):
            append_thermal_ancilla(
                qc, aux[0], p_e_charge, method=charge_method, partner=aux[1], clbit=clbit,
                excited=bool(rng.random() < p_e_charge) if charge_method == "coin" else None,
            )
            append_collision(qc, cl_q, aux[0], payload.collision.theta,
                             None if charge_schedule is None else charge_schedule[c])
        if flips is not None:
            for q, flip in zip(cl_q, flips[i]):
                if flip:
                    qc.z(q)

    def damp(interval: float) -> None:
        theta_d = damping_angle(harvest.probe_gamma, harvest.probe_temperature, interval, omega) if damping else 0.0
        if theta_d == 0.0:
            return
        append_thermal_ancilla(
            qc, aux[0], p_e_probe, method=ancilla, partner=aux[1] if len(aux) > 1 else None, clbit=clbit,
            excited=bool(rng.random() < p_e_probe) if ancilla == "coin" else None,
        )
        qc.append(exchange_gate(theta_d), [aux[0], probe])

    # Merge collisions and saves on one time line; at equal times the collision comes first.
    events = sorted([(t, 0, i) for i, t in enumerate(times)] + [(s, 1, i) for i, s in enumerate(saves)])
    now = 0.0
    for t, what, i in events:
        damp(t - now)
        now = t
        if what == 0:
            prepare_cluster(i)
            collide(None if probe_gates is None else probe_gates[i])
        else:
            append_save_marker(qc, f"probe_{i}", [probe])
    if measure:
        damp(total_time - now)
        qc.measure(probe, qc.cregs[-1][0])

    cluster_meta = payload.to_dict() if kind == "charged" else {
        "kind": "matrix", "matrix_real": payload.real.tolist(), "matrix_imag": payload.imag.tolist()}
    qc.metadata = to_jsonable({
        "experiment": "harvesting",
        "probe_qubit": probe,
        "cluster_qubits": cl_q,
        "aux_qubits": aux,
        "width": qc.num_qubits,
        "cluster_size": k,
        "cluster": cluster_meta,
        "theta": harvest.theta,
        "rate": harvest.rate,
        "probe_ordering": ordering,
        "probe_collision": ("exchange_gates" if ordering != "exact"
                            else "exact_exchange_gates" if collective and k in SHORT_EXACT_ATOMS else "unitary"),
        "coupling": list(harvest.coupling),
        "probe_gamma": harvest.probe_gamma,
        "probe_temperature": harvest.probe_temperature,
        "probe_ancilla_excited_probability": p_e_probe,
        "damping_ancilla_method": ancilla if damping else None,
        "collision_times": times.tolist(),
        "n_collisions": int(times.size),
        "total_time": total_time,
        "time": total_time,
        "seed": seed,
        "saves": [{"label": f"probe_{i}", "time": float(s), "qubits": [probe]} for i, s in enumerate(saves)],
        "save_labels": [f"probe_{i}" for i in range(saves.size)],
        "state_order": "qutip: first listed qubit = left-most tensor factor",
        "counts_register": "meas" if measure else None,
        "measured_qubits": [probe] if measure else [],
    })
    if flips is not None:  # only for dephased clusters: the other circuits' metadata (and exports) stay as they were
        qc.metadata["dephasing_flips"] = flips.astype(int).tolist()
    return qc


def harvesting_instances(
    plan: HarvestPlan,
    cluster: ChargedCluster | ArrayLike,
    *,
    save_times: ArrayLike | None = None,
    ordering: str = "exact",
    ancilla: str = "purify",
    measure: bool = False,
    omega: float = 1.0,
) -> list[QuantumCircuit]:
    r"""One circuit per instance of ``plan`` (:func:`qcharge.protocol.harvesting_plan`): its Poisson
    collision times on [0, plan.time] and its own seed.

    The equal-weight average of the instances' saved probe states estimates the Poisson-averaged
    dynamics (4.3); each instance records its times, its index, the plan's seed and id in metadata.
    """
    if not isinstance(plan, HarvestPlan):
        raise ParameterError(f"Argument `plan` must be a qcharge.protocol.HarvestPlan, but is {type(plan).__name__}.")
    if isinstance(cluster, ChargedCluster) and cluster.seed is None:
        # One charging seed for all instances: every fresh pair is the same state rho_c.
        cluster = replace(cluster, seed=resolve_seed(None))
    out = []
    plan_id = plan.strong_id()
    for inst, (times, inst_seed) in enumerate(zip(plan.collision_times, plan.instance_seeds)):
        qc = harvesting_circuit(plan.harvest, cluster, np.asarray(times), plan.time, save_times=save_times,
                                ordering=ordering, seed=inst_seed, ancilla=ancilla, measure=measure, omega=omega)
        qc.metadata.update({"instance": inst, "n_instances": plan.n_instances, "instances_seed": plan.seed,
                            "plan_id": plan_id})
        out.append(qc)
    return out
