r"""Collective charging circuit: N atoms, n collisions with freshly prepared thermal ancillas.

Collision map (PHYSICS.md 5.1):

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

import numpy as np
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

from .._checks import check_int
from ..exceptions import ParameterError
from ..params import Atoms, Bath, Collision, InitialState
from ..records import to_jsonable
from ..reference.collision import check_collision_model
from .collisions import append_collision, append_save_marker, collision_schedule
from .thermal import append_initial_state, append_thermal_ancilla, initial_aux_qubits_needed

__all__ = ["charging_circuit", "charging_layout", "save_collisions", "resolve_seed", "DEFAULT_COIN_INSTANCES"]

DEFAULT_COIN_INSTANCES = 64


def resolve_seed(seed: int | None) -> int:
    """``seed`` itself, or fresh OS entropy (recorded in metadata, so every run can be replayed)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    return check_int("seed", seed, minimum=0)


def save_collisions(n_collisions: int, save_every: int | None) -> list[int]:
    """Collision counts after which the state is saved: the final one, plus every ``save_every``-th from 0."""
    if save_every is None:
        return [n_collisions]
    save_every = check_int("save_every", save_every, minimum=1)
    return sorted(set(range(0, n_collisions + 1, save_every)) | {n_collisions})


def charging_layout(n_atoms: int, initial: InitialState | None = None, omega: float = 1.0) -> dict:
    """Qubit indices: ``atoms``, ``ancilla``, ``partner``, ``aux`` (= [ancilla, partner, extra purifiers...])."""
    n_atoms = check_int("atoms", n_atoms, minimum=1)
    need = 0 if initial is None else initial_aux_qubits_needed(initial, n_atoms, omega)
    n_aux = max(2, need)
    aux = list(range(n_atoms, n_atoms + n_aux))
    return {"atoms": list(range(n_atoms)), "ancilla": n_atoms, "partner": n_atoms + 1, "aux": aux,
            "width": n_atoms + n_aux}


def _check_inputs(atoms, bath, initial, collision) -> None:
    for name, value, cls in (("atoms", atoms, Atoms), ("bath", bath, Bath),
                             ("initial_state", initial, InitialState), ("collision", collision, Collision)):
        if not isinstance(value, cls):
            raise ParameterError(f"Argument `{name}` must be a qcharge.{cls.__name__}, but is {type(value).__name__}.")
    check_collision_model(atoms, bath)


def charging_circuit(
    atoms: Atoms,
    bath: Bath,
    initial: InitialState,
    collision: Collision,
    n_collisions: int,
    *,
    seed: int | None = None,
    save_every: int | None = None,
    measure: bool = False,
    n_instances: int | None = None,
) -> QuantumCircuit | list[QuantumCircuit]:
    r"""N atoms charged by n collisions with fresh thermal ancillas at the bath temperature.

    Each collision: prepare the ancilla in :math:`\tau = \mathrm{diag}(p_g, p_e(T))` (``collision.ancilla``
    method, :mod:`qcharge.circuits.thermal`), then apply
    :math:`U = \exp[-i\theta(\sigma_+^aJ_- + \sigma_-^aJ_+)]` exactly (``ordering='exact'``) or as the
    Trotter schedule of :func:`~qcharge.circuits.collisions.collision_schedule`.

    Args:
        atoms: Dicke-limit atoms (N, gamma, omega).
        bath: the bath (temperature T < inf).
        initial: initial state of the atoms.
        collision: θ, Trotter ordering, ancilla method.
        n_collisions: n >= 0.
        seed: seed of the random ordering (passed unchanged to ``trotter_schedule``, so the NumPy twin
            with the same seed applies the same gates) and of the classical coins; ``None`` draws one,
            recorded in ``metadata['seed']``.
        save_every: save the atoms' state after every ``save_every`` collisions (and at the end);
            ``None``: at the end only. Labels ``rho_<collision>``.
        measure: append a final measurement of the atoms into register ``meas``.
        n_instances: number of circuit instances for ``ancilla='coin'`` (default 64); ignored otherwise.

    Returns:
        One circuit, or for ``'coin'`` a list of ``n_instances`` circuits, an equal-weight ensemble:
        pass it to :func:`qcharge.execute.run_density_matrix` as ONE element (``[circuits]``) to get
        the averaged state (a flat list gives one result per instance).

    Example:
        >>> from qcharge.params import Atoms, Bath, Collision, InitialState
        >>> qc = charging_circuit(Atoms(2), Bath(1.0), InitialState(), Collision(0.3), 120)
        >>> qc.num_qubits, qc.metadata["save_labels"], round(qc.metadata["time"], 4)
        (4, ['rho_120'], 4.9909)
    """
    _check_inputs(atoms, bath, initial, collision)
    n_collisions = check_int("n_collisions", n_collisions, minimum=0)
    saves = save_collisions(n_collisions, save_every)
    seed = resolve_seed(seed)
    dt = collision.time_step(bath, atoms.gamma)
    n = atoms.n
    p_e = bath.excited_probability
    method = collision.ancilla
    layout = charging_layout(n, initial, atoms.omega)
    schedule = collision_schedule(n, collision.ordering, n_collisions, seed)

    if method == "coin":
        n_inst = DEFAULT_COIN_INSTANCES if n_instances is None else check_int("n_instances", n_instances, minimum=1)
        # Coins use a stream independent of the ordering's stream (which must equal the twin's).
        coins = np.random.default_rng([seed, 1]).random((n_inst, n_collisions)) < p_e
    else:
        n_inst, coins = 1, None

    base_meta = to_jsonable({
        "experiment": "charging",
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
        regs = [QuantumRegister(n, "atom"), QuantumRegister(1, "anc"), QuantumRegister(1, "partner")]
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
        init_aux = [partner_q, anc_q] + layout["aux"][2:]
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
            append_collision(qc, atom_q, anc_q, collision.theta, None if schedule is None else schedule[c])
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
    return circuits if method == "coin" else circuits[0]
