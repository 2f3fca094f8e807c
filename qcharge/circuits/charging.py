r"""Collective charging circuit: N atoms, n collisions with freshly prepared thermal ancillas.

Collision map (docs/physics.md §5.1):

.. math::
    \rho \mapsto \Phi(\rho) = \mathrm{Tr}_a[U(\rho\otimes\tau)U^\dagger],\quad
    U = \exp[-i\theta(\sigma_+^aJ_- + \sigma_-^aJ_+)],\quad \tau = \mathrm{diag}(p_g, p_e(T)),

which matches the Dicke master equation with collision-model time step
:math:`\Delta t = \theta^2/(\gamma(2\bar n+1))`; after n collisions :math:`t = n\Delta t`.

Qubit layout (width N + 2, independent of n: the ancilla and its partner are reset every collision)::

    0 .. N-1   atoms 0 .. N-1
    N          ancilla a
    N+1        partner b (purification of a; also the partner that dephases a thermal initial state)
    N+2 ..     only for initial_state='matrix' of rank > 4: extra purifiers

Classical registers: ``anc`` (1 bit, discarded) for ``ancilla='measure'``; ``meas`` (N bits,
bit i = atom i, so the rightmost character of a count key is atom 0) when ``measure=True``.
"""

from __future__ import annotations

from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from .._checks import check_int
from ..exceptions import ParameterError
from ..params import InitialState
from ..protocol import ChargingPlan
from ..records import to_jsonable
from .collisions import append_collision, append_save_marker, collective_collision_gate
from .synthesis import SHORT_EXACT_ATOMS
from .thermal import append_initial_state, append_thermal_ancilla, initial_aux_qubits_needed

__all__ = ["charging_circuit", "charging_layout"]


def charging_layout(n_atoms: int, initial: InitialState | None = None, omega: float = 1.0,
                    ancilla: str = "purify") -> dict:
    """Qubit indices: ``atoms``, ``ancilla``, ``partner``, ``aux`` (= [ancilla, partner, extra purifiers...]).

    The partner purifies the ancilla (``ancilla='purify'``) and the thermal or matrix initial states; the
    other ancilla methods from a pure initial state need none (``partner`` None, one qubit less).
    """
    n_atoms = check_int("atoms", n_atoms, minimum=1)
    need = 0 if initial is None else initial_aux_qubits_needed(initial, n_atoms, omega)
    n_aux = max(2 if ancilla == "purify" or need else 1, need)
    aux = list(range(n_atoms, n_atoms + n_aux))
    return {"atoms": list(range(n_atoms)), "ancilla": n_atoms, "partner": n_atoms + 1 if n_aux > 1 else None,
            "aux": aux, "width": n_atoms + n_aux}


def charging_circuit(plan: ChargingPlan, *, measure: bool = False) -> QuantumCircuit | list[QuantumCircuit]:
    r"""N atoms charged by n collisions with fresh thermal ancillas at the bath temperature.

    Each collision: prepare the ancilla in :math:`\tau = \mathrm{diag}(p_g, p_e(T))` (``collision.ancilla``
    method, :mod:`qcharge.circuits.thermal`), then apply
    :math:`U = \exp[-i\theta(\sigma_+^aJ_- + \sigma_-^aJ_+)]` exactly (``ordering='exact'``) or as the
    plan's Trotter schedule (:func:`qcharge.protocol.trotter_schedule`). Everything random or derived
    (seed, schedule, coins, save points, time step) comes from ``plan``, which the NumPy twin
    :func:`qcharge.reference.twin.charging_trajectory` consumes too.

    Args:
        plan: the experiment's :class:`~qcharge.protocol.ChargingPlan`. Its saves become save markers
            labelled ``rho_<collision>``.
        measure: append a final measurement of the atoms into register ``meas``.

    Returns:
        One circuit, or for ``'coin'`` a list of ``plan.n_instances`` circuits (one per row of
        ``plan.coins``), an equal-weight ensemble: pass it to :func:`qcharge.execute.run_density_matrix`
        as ONE element (``[circuits]``) to get the averaged state (a flat list gives one result per instance).

    Example:
        >>> from qcharge.params import Atoms, Bath, Collision, InitialState
        >>> from qcharge.protocol import charging_plan
        >>> qc = charging_circuit(charging_plan(Atoms(2), Bath(1.0), InitialState(), Collision(0.3), 120, seed=0))
        >>> qc.num_qubits, qc.metadata["save_labels"], round(qc.metadata["time"], 4)
        (4, ['rho_120'], 4.9909)
    """
    if not isinstance(plan, ChargingPlan):
        raise ParameterError(
            f"Argument `plan` must be a qcharge.protocol.ChargingPlan (see charging_plan), but is {type(plan).__name__}."
        )
    atoms, bath, initial, collision = plan.atoms, plan.bath, plan.initial, plan.collision
    n_collisions, saves, seed, dt, p_e = plan.n_collisions, plan.saves, plan.seed, plan.dt, plan.p_e
    n = atoms.n
    method = collision.ancilla
    layout = charging_layout(n, initial, atoms.omega, method)
    schedule, coins, n_inst = plan.schedule, plan.coins, plan.n_instances
    # One gate object for every exact collision of the circuit (the matrix is the plan's one cache);
    # N = 2 needs none (three exchange gates, qcharge.circuits.synthesis).
    exact_gate = (collective_collision_gate(n, collision.theta)
                  if schedule is None and n_collisions and n not in SHORT_EXACT_ATOMS else None)

    base_meta = to_jsonable({
        "experiment": "charging",
        "plan_id": plan.strong_id(),
        "n_atoms": n,
        "atom_qubits": layout["atoms"],
        "ancilla_qubit": layout["ancilla"],
        "partner_qubit": layout["partner"],
        "aux_qubits": layout["aux"],
        "width": layout["width"],
        "theta": collision.theta,
        "ordering": collision.ordering,
        "ancilla_method": method,
        "gates_per_collision": None if schedule is None else (len(schedule[0]) if schedule else 0),
        "n_collisions": n_collisions,
        "dt": dt,
        "time": n_collisions * dt,
        "gamma": atoms.gamma,
        "omega": atoms.omega,
        "bath_temperature": bath.temperature,
        "ancilla_excited_probability": p_e,
        "initial_state": initial.to_dict(),
        "initial_temperature": initial.temperature,
        "seed": seed,
        "n_instances": n_inst,
        "saves": [{"label": f"rho_{c}", "collision": c, "time": c * dt, "qubits": layout["atoms"]} for c in saves],
        "save_labels": [f"rho_{c}" for c in saves],
        "state_order": "qutip: first listed qubit = left-most tensor factor",
        "counts_register": "meas" if measure else None,
        "measured_qubits": layout["atoms"] if measure else [],
    })

    circuits = []
    for inst in range(n_inst):
        regs = [QuantumRegister(n, "atom"), QuantumRegister(1, "anc")]
        if layout["partner"] is not None:
            regs.append(QuantumRegister(1, "partner"))
        if layout["width"] > n + 2:
            regs.append(QuantumRegister(layout["width"] - n - 2, "purifier"))
        clbit = None
        if method == "measure":
            creg_anc = ClassicalRegister(1, "anc_bit")
            regs.append(creg_anc)
            clbit = creg_anc[0]
        if measure:
            regs.append(ClassicalRegister(n, "meas"))
        qc = QuantumCircuit(*regs, name=f"charging_N{n}_{collision.ordering}_{method}_n{n_collisions}")
        atom_q, anc_q, partner_q = layout["atoms"], layout["ancilla"], layout["partner"]
        # Thermal initial state uses the partner (index 0 of aux for it), a matrix uses all purifiers.
        init_aux = [q for q in (partner_q, anc_q) if q is not None] + layout["aux"][2:]
        append_initial_state(qc, initial, atom_q, init_aux, atoms.omega)
        if 0 in saves:
            append_save_marker(qc, "rho_0", atom_q)
        for c in range(n_collisions):
            append_thermal_ancilla(
                qc, anc_q, p_e, method=method, partner=partner_q, clbit=clbit,
                excited=None if coins is None else bool(coins[inst, c]),
                # a and b are still |0> (or were reset by the state preparation) at c = 0.
                reset=c > 0,
            )
            append_collision(qc, atom_q, anc_q, collision.theta, None if schedule is None else schedule[c],
                             gate=exact_gate)
            if c + 1 in saves:
                append_save_marker(qc, f"rho_{c + 1}", atom_q)
        if measure:
            qc.measure(atom_q, qc.cregs[-1])
        meta = dict(base_meta)
        if coins is not None:
            meta["instance"] = inst
            meta["coins"] = coins[inst].astype(int).tolist()
        qc.metadata = meta
        circuits.append(qc)
    return circuits if method in ("coin", "enumerate") else circuits[0]
