r"""NumPy twins of the charging circuits (docs/physics.md §5.1, 5.2) and of the harvesting circuits (§4):
the same plan, applied as exact channels.

Everything in QuTiP order (atom 0 = left-most factor); the ancilla of a collision is the first factor
of :math:`\tau\otimes\rho`. Superoperators act on column-stacked vectors (QuTiP ``super``
representation). The twin consumes the :class:`~qcharge.protocol.ChargingPlan` that the circuit
builder consumes, so both apply the same schedule, save points and coin draws; the harvest twin
(:func:`harvest_instance_states`) consumes the :class:`~qcharge.protocol.HarvestPlan` of
:func:`qcharge.circuits.harvesting.harvesting_instances` and the same probe schedule and coupled unitary.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from .._checks import check_density_matrix, check_int, check_real
from ..exceptions import ParameterError
from ..protocol import (
    MAX_COLLISION_ATOMS,
    ChargingPlan,
    HarvestPlan,
    ScheduleEntry,
    collective_unitary,
    coupled_unitary,
    probe_schedule,
    resolve_seed,
)
from ..states import SIGMA_MINUS, SIGMA_PLUS, local_operator

__all__ = [
    "exchange_unitary",
    "charging_step",
    "charging_map_superoperator",
    "charging_trajectory",
    "coin_instance_states",
    "harvest_instance_states",
]

# Dense 4^N x 4^N superoperators: N = 5 is 16 MiB; N = 6 would be 256 MiB.
_MAX_SUPEROPERATOR_ATOMS = 5


def exchange_unitary(theta: float) -> np.ndarray:
    r"""Exchange gate :math:`\exp[-i\theta(\sigma_+\sigma_- + \sigma_-\sigma_+)]` on (ancilla, atom).

    .. math::
        U = \begin{pmatrix}1&0&0&0\\0&\cos\theta&-i\sin\theta&0\\0&-i\sin\theta&\cos\theta&0\\0&0&0&1\end{pmatrix}

    in the basis |gg>, |ge>, |eg>, |ee> (ancilla first). It equals Qiskit's ``XXPlusYYGate(2*theta)``
    (β = 0) matrix; because this matrix is invariant under swapping the two qubits, the equality holds
    in either qubit order (no little-endian reversal needed).
    """
    theta = check_real("theta", theta)
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[1, 0, 0, 0], [0, c, -1j * s, 0], [0, -1j * s, c, 0], [0, 0, 0, 1]], dtype=complex)


def _gate(n_atoms: int, atom: int, phi: float) -> np.ndarray:
    r""":math:`e^{-i\varphi V_i} = 1 - P_i + \cos\varphi P_i - i\sin\varphi V_i` (:math:`V_i^2 = P_i` projector)."""
    nq = n_atoms + 1
    v = local_operator(SIGMA_PLUS, 0, nq) @ local_operator(SIGMA_MINUS, atom + 1, nq)
    v = v + v.conj().T
    p = np.diag(np.real(np.diag(v @ v)))
    return np.eye(2**nq) + (math.cos(phi) - 1.0) * p - 1j * math.sin(phi) * v


def _check_entry(n_atoms: int, entry) -> ScheduleEntry | None:
    if entry is None:
        return None
    try:
        pairs = tuple((a, f) for a, f in entry)
    except (TypeError, ValueError):
        raise ParameterError(
            f"Argument `schedule_entry` must be None or a sequence of (atom, fraction) pairs, but is {entry!r}."
        ) from None
    out = []
    for a, f in pairs:
        atom = check_int("schedule_entry atom", a, minimum=0, maximum=n_atoms - 1)
        out.append((atom, check_real("schedule_entry fraction", f)))
    return tuple(out)


def _collision_unitary(n_atoms: int, theta: float, entry: ScheduleEntry | None) -> np.ndarray:
    if entry is None:
        return collective_unitary(n_atoms, theta)
    u = np.eye(2 ** (n_atoms + 1), dtype=complex)
    for atom, frac in entry:
        u = _gate(n_atoms, atom, frac * theta) @ u  # list order = time order
    return u


def _kraus(n_atoms: int, theta: float, ancilla_pe: float, entry: ScheduleEntry | None) -> np.ndarray:
    r"""Kraus operators :math:`\sqrt{\tau_k}\,\langle l|U|k\rangle_a` of
    :math:`\rho\mapsto\mathrm{Tr}_a[U(\tau\otimes\rho)U^\dagger]` (ancilla = first factor)."""
    d = 2**n_atoms
    u = _collision_unitary(n_atoms, theta, entry)
    ops = []
    for k, weight in ((0, 1.0 - ancilla_pe), (1, ancilla_pe)):
        if weight == 0.0:
            continue  # a pure |g> or |e> ancilla has two Kraus operators, not four
        for l in (0, 1):
            ops.append(math.sqrt(weight) * u[l * d : (l + 1) * d, k * d : (k + 1) * d])
    return np.array(ops)


def _apply_kraus(kraus: np.ndarray, rho: np.ndarray) -> np.ndarray:
    return np.einsum("kij,kjl->il", kraus @ rho, kraus.conj().transpose(0, 2, 1))


def _check_pe(ancilla_pe: float) -> float:
    return check_real("ancilla_pe", ancilla_pe, minimum=0.0, maximum=1.0)


def charging_step(rho: ArrayLike, theta: float, ancilla_pe: float, schedule_entry: ScheduleEntry | None) -> np.ndarray:
    r"""One charging collision with a fresh thermal ancilla, eq. (5.1):

    .. math::
        \rho \mapsto \mathrm{Tr}_a[U(\tau\otimes\rho)U^\dagger],\quad \tau = \mathrm{diag}(1-p_e, p_e),

    ancilla = first factor; U = :func:`qcharge.protocol.collective_unitary` for ``schedule_entry=None``, else
    the product of exchange gates of the entry in list order (see :func:`qcharge.protocol.trotter_schedule`).
    """
    rho = check_density_matrix("rho", rho)
    n = rho.shape[0].bit_length() - 1
    if n > MAX_COLLISION_ATOMS:
        raise ParameterError(f"Argument `rho` must have at most {MAX_COLLISION_ATOMS} atoms, but has {n}.")
    theta = check_real("theta", theta)
    pe = _check_pe(ancilla_pe)
    return _apply_kraus(_kraus(n, theta, pe, _check_entry(n, schedule_entry)), rho)


def charging_map_superoperator(
    n_atoms: int, theta: float, ancilla_pe: float, schedule_entry: ScheduleEntry | None
) -> np.ndarray:
    r"""The collision map Φ of :func:`charging_step` as a :math:`4^N\times 4^N` column-stacking superoperator.

    .. math:: \Phi = \sum_m \bar K_m \otimes K_m

    For eigenvalue / leak-rate analysis (rate = :math:`-\ln|\lambda_2|/\Delta t`); N <= 5.
    """
    n_atoms = check_int("atoms", n_atoms, minimum=1, maximum=_MAX_SUPEROPERATOR_ATOMS)
    theta = check_real("theta", theta)
    pe = _check_pe(ancilla_pe)
    kraus = _kraus(n_atoms, theta, pe, _check_entry(n_atoms, schedule_entry))
    return sum(np.kron(k.conj(), k) for k in kraus)


def _run(plan: ChargingPlan, ancilla_pe) -> np.ndarray:
    """States at ``plan.saves``; ``ancilla_pe(c)`` is the ancilla's p_e at collision c."""
    n = plan.atoms.n
    if n > MAX_COLLISION_ATOMS:
        raise ParameterError(
            f"Argument `atoms` must have at most {MAX_COLLISION_ATOMS} atoms (dense 2^(N+1) collision unitary, "
            f"{16 * 4 ** (n + 1) / 2**20:.0f} MiB), but has {n}."
        )
    rho = plan.initial.density_matrix(n, plan.atoms.omega)
    cache: dict = {}  # Kraus operators per (schedule entry, p_e): a palindromic run has one entry

    def kraus_of(entry, pe):
        if (entry, pe) not in cache:
            cache[entry, pe] = _kraus(n, plan.collision.theta, pe, entry)
        return cache[entry, pe]

    saved = plan.saves
    states = np.empty((len(saved), 2**n, 2**n), dtype=complex)
    j = 0
    if saved[0] == 0:
        states[0], j = rho, 1
    for c in range(plan.n_collisions):
        rho = _apply_kraus(kraus_of(plan.entry(c), ancilla_pe(c)), rho)
        if j < len(saved) and saved[j] == c + 1:
            states[j] = rho
            j += 1
    return states


def charging_trajectory(plan: ChargingPlan) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact collision-model charging: repeated :func:`charging_step` with the plan's schedule.

    The ancilla is the thermal qubit :math:`\tau = \mathrm{diag}(1-p_e(T), p_e(T))` of the bath: the
    channel that every preparation method (purify / measure / coin) realises in expectation. For the
    state of a finite coin ensemble use :func:`coin_instance_states`. Collision c happens at
    :math:`t = c\,\Delta t`, :math:`\Delta t = \theta^2/(\gamma(2\bar n+1))` (5.2), the time at which
    to compare with the Dicke master equation.

    Args:
        plan: the experiment's :class:`~qcharge.protocol.ChargingPlan` (the one the circuit was built from).

    Returns:
        ``(times, states)``: the times ``c * dt`` of the plan's save points ``c`` and the states there,
        shape (len(plan.saves), 2^N, 2^N).

    Example:
        >>> from qcharge.params import Atoms, Bath, Collision, InitialState
        >>> from qcharge.protocol import charging_plan
        >>> plan = charging_plan(Atoms(2), Bath(1.0), InitialState(), Collision(0.3), 4, seed=0, save_every=2)
        >>> times, states = charging_trajectory(plan)
        >>> times.round(4).tolist(), states.shape
        ([0.0, 0.0832, 0.1664], (3, 4, 4))
    """
    if not isinstance(plan, ChargingPlan):
        raise ParameterError(f"Argument `plan` must be a qcharge.protocol.ChargingPlan, but is {type(plan).__name__}.")
    states = _run(plan, lambda c: plan.p_e)
    return np.asarray(plan.saves, dtype=float) * plan.dt, states


def coin_instance_states(plan: ChargingPlan) -> np.ndarray:
    r"""Exact states of every coin instance of the plan: the twin of the ``ancilla='coin'`` circuits.

    Instance k prepares the ancilla of collision c in :math:`|e\rangle` when ``plan.coins[k, c]``,
    else :math:`|g\rangle`; its state is the channel with :math:`p_e \in \{0, 1\}` collision by collision.
    The mean over instances weighted by ``plan.weights`` (equal for ``'coin'``, the pattern probabilities for
    ``'enumerate'``: the exact channel) is what pooled counts of the instances estimate.

    Returns:
        Shape (n_instances, len(plan.saves), 2^N, 2^N).
    """
    if not isinstance(plan, ChargingPlan) or plan.coins is None:
        raise ParameterError("Argument `plan` must be a ChargingPlan with ancilla='coin' or 'enumerate', but has no coins.")
    return np.array([_run(plan, lambda c, row=row: float(row[c])) for row in plan.coins])


def _probe_map(u: np.ndarray, rho_c: np.ndarray) -> np.ndarray:
    r""":math:`\rho_p \mapsto \mathrm{Tr}_c[U(\rho_p\otimes\rho_c)U^\dagger]` as a 4x4 column-stacking superoperator."""
    d = rho_c.shape[0]
    u4 = u.reshape(2, d, 2, d)  # [probe out, cluster out, probe in, cluster in]
    m4 = np.einsum("acbd,de,fcge->afbg", u4, rho_c, u4.conj())  # out[a, f] per input |b><g|
    return m4.transpose(1, 0, 3, 2).reshape(4, 4)


def harvest_instance_states(
    plan: HarvestPlan,
    rho_cluster: ArrayLike,
    *,
    ordering: str = "exact",
    save_times: ArrayLike | None = None,
    omega: float = 1.0,
) -> np.ndarray:
    r"""Exact probe states of every instance of ``plan``: the twin of
    :func:`qcharge.circuits.harvesting.harvesting_instances` (same plan, ``ordering``, ``save_times``, ``omega``)
    with a matrix cluster.

    The probe starts in :math:`|g\rangle`; at each collision time of instance k

    .. math:: \rho_p \mapsto \mathrm{Tr}_c[U_c(\rho_p\otimes\rho_c)U_c^\dagger],

    :math:`U_c` = :func:`~qcharge.protocol.coupled_unitary` of ``plan.harvest.coupling`` (``'exact'``) or the
    product of the exchange gates of entry c of :func:`~qcharge.protocol.probe_schedule` (seeded with the
    instance's seed, as the circuit); in between the probe relaxes under its own bath,
    :math:`e^{\mathcal D\Delta}` (the circuit's exact damping channel). A state saved at s includes the
    collisions at times <= s. For ``'exact'`` this is :func:`qcharge.reference.probe.probe_instance` at each save.

    Returns:
        Shape (n_instances, len(save_times), 2, 2); ``save_times`` defaults to ``[plan.time]``.
    """
    from .probe import _probe_damping, _probe_nbar

    if not isinstance(plan, HarvestPlan):
        raise ParameterError(f"Argument `plan` must be a qcharge.protocol.HarvestPlan, but is {type(plan).__name__}.")
    harvest = plan.harvest
    k = harvest.cluster_size
    rho_c = check_density_matrix("rho_cluster", rho_cluster, k)
    if k > MAX_COLLISION_ATOMS:
        raise ParameterError(f"Argument `rho_cluster` must have at most {MAX_COLLISION_ATOMS} atoms, but has {k}.")
    saves = np.asarray([plan.time] if save_times is None else save_times, dtype=float).reshape(-1)
    if saves.size and (not np.all(np.isfinite(saves)) or saves.min() < 0 or saves.max() > plan.time):
        raise ParameterError(f"Argument `save_times` must lie in [0, time = {plan.time}], but is {saves.tolist()}.")
    omega = check_real("omega", omega, minimum=0.0, strict_min=True)
    damping = _probe_damping(harvest.probe_gamma, _probe_nbar(harvest, omega))
    undamped = harvest.probe_gamma == 0.0
    maps: dict = {}  # 4x4 probe maps per schedule entry (None: the exact collision)

    def map_of(entry):
        if entry not in maps:
            u = (coupled_unitary(harvest.coupling, harvest.theta) if entry is None
                 else _collision_unitary(k, harvest.theta, entry))
            maps[entry] = _probe_map(u, rho_c)
        return maps[entry]

    out = np.empty((plan.n_instances, saves.size, 2, 2), dtype=complex)
    for inst, (times, seed) in enumerate(zip(plan.collision_times, plan.instance_seeds)):
        gates = probe_schedule(harvest, ordering, len(times), resolve_seed(seed))
        # the circuit's time line: at equal times the collision comes first
        events = sorted([(t, 0, i) for i, t in enumerate(times)] + [(s, 1, i) for i, s in enumerate(saves)])
        v, now = np.array([1.0, 0.0, 0.0, 0.0], dtype=complex), 0.0  # vec(|g><g|)
        for t, what, i in events:
            if not undamped and t > now:
                v = scipy.linalg.expm(damping * (t - now)) @ v
            now = t
            if what == 0:
                v = map_of(None if gates is None else gates[i]) @ v
            else:
                out[inst, i] = v.reshape(2, 2, order="F")
    return out
