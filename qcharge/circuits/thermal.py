r"""Thermal (dephased) state preparation on qubits (docs/physics.md §5.3).

A thermal ancilla is :math:`\tau = \mathrm{diag}(p_g, p_e)`, :math:`p_e = p_e(T) = 1/(1+e^{\omega/T})`.
With :math:`\varphi = 2\arcsin\sqrt{p_e}`, :math:`R_Y(\varphi)|0\rangle = \sqrt{p_g}|0\rangle + \sqrt{p_e}|1\rangle`
has the right populations but also the coherence :math:`\langle\sigma_-\rangle = \sqrt{p_g p_e}`, which turns
the bath into a coherent drive (a Δn = ±1 term of order θ). A pure :math:`R_Y` ancilla is therefore
**wrong**; every method below removes that coherence:

============  ===============================================  =====================================
method        gates                                            exactness
============  ===============================================  =====================================
``purify``    reset a, reset b; RY(φ) a; CX a→b                exact channel (partner b traced out)
``measure``   reset a; RY(φ) a; measure a (bit discarded)      exact on average over shots
``coin``      reset a; X a with probability p_e (classical)    exact on average over instances
``enumerate`` reset a; X a where coin pattern k says so          exact: the 2^n patterns weighted by
              (one circuit per pattern, charging only)           their probabilities (ChargingPlan.weights)
============  ===============================================  =====================================

The same purification trick prepares the atoms' product thermal initial state
(:math:`R_Y(\varphi_0)` on each atom, CX atom→partner, reset partner; one partner reused for all
atoms) and any density matrix (:func:`append_density_matrix`: a purification on system +
purifier qubits, then the purifiers are reset).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike
from qiskit import QuantumCircuit
from qiskit.circuit import Clbit, Qubit
from qiskit.circuit.library import StatePreparation

from .._checks import check_choice, check_density_matrix, check_real
from ..exceptions import ParameterError
from ..params import ANCILLA_METHODS, InitialState
from ..states import excited_probability

__all__ = [
    "thermal_angle",
    "append_thermal_ancilla",
    "append_thermal_atoms",
    "purifier_count",
    "append_density_matrix",
    "symmetric_pair_populations",
    "append_symmetric_pair",
    "append_initial_state",
    "initial_aux_qubits_needed",
]

QubitLike = int | Qubit

# Eigenvalues below this are dropped from a purification (they are float noise of a
# low-rank state); the kept weights are renormalised, an error of at most this size.
_RANK_TOL = 1e-13


def thermal_angle(p_e: float) -> float:
    r""":math:`\varphi = 2\arcsin\sqrt{p_e}`, so that :math:`|\langle 1|R_Y(\varphi)|0\rangle|^2 = p_e`."""
    p_e = check_real("p_e", p_e, minimum=0.0, maximum=1.0)
    return 2.0 * math.asin(math.sqrt(p_e))


def append_thermal_ancilla(
    qc: QuantumCircuit,
    ancilla: QubitLike,
    p_e: float,
    *,
    method: str = "purify",
    partner: QubitLike | None = None,
    clbit: int | Clbit | None = None,
    excited: bool | None = None,
    reset: bool = True,
) -> None:
    r"""Reset ``ancilla`` and prepare it in :math:`\mathrm{diag}(1-p_e, p_e)` (see module table).

    Args:
        qc: circuit (modified in place).
        ancilla: ancilla qubit a.
        p_e: excited-state probability :math:`p_e(T)`.
        method: ``'purify'`` (needs ``partner``), ``'measure'`` (needs ``clbit``, whose value is
            discarded) or ``'coin'`` (needs ``excited``, the classical coin drawn by the caller
            with probability ``p_e``).
        partner: purification partner b (``'purify'``).
        clbit: classical bit that receives the discarded outcome (``'measure'``).
        excited: outcome of the classical coin (``'coin'``).
        reset: reset a (and b) first; pass ``False`` only when they are known to be in
            :math:`|0\rangle` (first use in a circuit), which saves two resets on hardware.
    """
    p_e = check_real("p_e", p_e, minimum=0.0, maximum=1.0)
    check_choice("ancilla", method, ANCILLA_METHODS)
    if reset:
        qc.reset(ancilla)
    if method in ("coin", "enumerate"):
        if excited is None:
            raise ParameterError(f"Argument `excited` (the classical coin) is required for ancilla={method!r}.")
        if excited:
            qc.x(ancilla)
        return
    if p_e == 0.0:
        return  # |g> is already diagonal: no dephasing needed.
    if p_e == 1.0:
        qc.x(ancilla)
        return
    phi = thermal_angle(p_e)
    if method == "purify":
        if partner is None:
            raise ParameterError("Argument `partner` (a purification qubit) is required for ancilla='purify'.")
        if reset:
            qc.reset(partner)
        qc.ry(phi, ancilla)
        # CX copies the computational-basis value into b: tracing b kills <sigma_-^a>.
        qc.cx(ancilla, partner)
    else:  # measure
        if clbit is None:
            raise ParameterError("Argument `clbit` (a discarded classical bit) is required for ancilla='measure'.")
        qc.ry(phi, ancilla)
        qc.measure(ancilla, clbit)


def append_thermal_atoms(qc: QuantumCircuit, atom_qubits: Sequence[QubitLike], p_e0: float, partner: QubitLike) -> None:
    r"""Product thermal state :math:`\otimes_i\mathrm{diag}(1-p_{e0}, p_{e0})` on qubits in :math:`|0\rangle`.

    Each atom: :math:`R_Y(\varphi_0)`, CX atom→partner, reset partner. One partner serves all
    atoms, so the width does not grow with N beyond that one qubit.
    """
    p_e0 = check_real("p_e0", p_e0, minimum=0.0, maximum=1.0)
    if p_e0 == 0.0:
        return
    if p_e0 == 1.0:
        for q in atom_qubits:
            qc.x(q)
        return
    phi = thermal_angle(p_e0)
    for q in atom_qubits:
        qc.ry(phi, q)
        qc.cx(q, partner)
        qc.reset(partner)


def _purification(rho: np.ndarray) -> tuple[np.ndarray, int]:
    """Purification vector in QuTiP order over (system..., purifier...) and the purifier count."""
    lam, vec = np.linalg.eigh(0.5 * (rho + rho.conj().T))
    keep = lam > _RANK_TOL
    lam, vec = lam[keep], vec[:, keep]
    lam = lam / lam.sum()
    rank = len(lam)
    m = int(math.ceil(math.log2(rank))) if rank > 1 else 0
    cols = np.zeros((rho.shape[0], 2**m), dtype=complex)
    cols[:, :rank] = vec * np.sqrt(lam)
    # |Psi> = sum_k sqrt(lam_k) |psi_k>_S |k>_P ; index = i_S * 2^m + k (QuTiP order, S left).
    return cols.reshape(-1), m


def purifier_count(rho: ArrayLike) -> int:
    r"""Number of purifier qubits :math:`\lceil\log_2 \mathrm{rank}\,\rho\rceil` :func:`append_density_matrix` needs."""
    return _purification(check_density_matrix("rho", rho))[1]


def append_density_matrix(
    qc: QuantumCircuit,
    rho: ArrayLike,
    system_qubits: Sequence[QubitLike],
    purifier_qubits: Sequence[QubitLike] = (),
    *,
    reset: bool = True,
) -> None:
    r"""Prepare ``system_qubits`` in the mixed state ``rho`` (QuTiP order, ``system_qubits[0]`` left-most).

    .. math::
        |\Psi\rangle = \sum_k \sqrt{\lambda_k}\,|\psi_k\rangle_S |k\rangle_P, \qquad
        \mathrm{Tr}_P |\Psi\rangle\langle\Psi| = \rho = \sum_k \lambda_k |\psi_k\rangle\langle\psi_k|,

    prepared with :class:`~qiskit.circuit.library.StatePreparation` on system + the first
    :math:`\lceil\log_2\mathrm{rank}\rceil` purifiers, after which the purifiers are reset (the
    reset is the partial trace). With ``reset=True`` all involved qubits are reset first, so the
    qubits may be reused.
    """
    system_qubits = list(system_qubits)
    rho = check_density_matrix("rho", rho, len(system_qubits))
    psi, m = _purification(rho)
    if m > len(purifier_qubits):
        raise ParameterError(
            f"Argument `purifier_qubits` must hold >= {m} qubits (ceil(log2 rank rho)), "
            f"but holds {len(purifier_qubits)}."
        )
    used = system_qubits + list(purifier_qubits)[:m]
    if reset:
        for q in used:
            qc.reset(q)
    qc.append(StatePreparation(psi, normalize=True, label="rho_prep"), list(reversed(used)))
    for q in used[len(system_qubits):]:
        qc.reset(q)


def symmetric_pair_populations(rho: ArrayLike, atol: float = 1e-12) -> tuple[float, float, float] | None:
    r"""``(p0, p1, p2)`` if the pair state is :math:`\sum_m p_m|1,m\rangle\langle 1,m|` (a triplet mixture
    diagonal in the Dicke basis, e.g. the charged pair from the ground state), else ``None``."""
    rho = check_density_matrix("rho", rho, 2)
    t0 = np.array([0, 1, 1, 0]) / math.sqrt(2)
    pops = (float(rho[0, 0].real), float(np.real(t0 @ rho @ t0)), float(rho[3, 3].real))
    want = np.diag([pops[0], 0, 0, pops[2]]).astype(complex) + pops[1] * np.outer(t0, t0)
    return pops if np.abs(rho - want).max() <= atol else None


def append_symmetric_pair(
    qc: QuantumCircuit, populations: Sequence[float], pair: Sequence[QubitLike], aux: QubitLike
) -> None:
    r"""Prepare :math:`p_0|gg\rangle\langle gg| + p_1|T_0\rangle\langle T_0| + p_2|ee\rangle\langle ee|` on
    ``pair`` (in :math:`|0\rangle`) with closed-form angles only (no numerical synthesis).

    1. :math:`R_Y(a)` on atom 0 and :math:`R_Y(b_1)`, controlled-:math:`R_Y(b_2-b_1)` on atom 1 give the pure
       symmetric state :math:`\sqrt{p_0}|00\rangle + \sqrt{p_1/2}(|01\rangle+|10\rangle) + \sqrt{p_2}|11\rangle`:
       :math:`\cos(a/2) = \sqrt{p_0+p_1/2}`, :math:`\tan(b_1/2) = \sqrt{p_1/(2p_0)}`, :math:`\tan(b_2/2) = \sqrt{2p_2/p_1}`.
    2. Dephasing in the excitation number m: the parity (CX, CX into ``aux``, reset) removes the
       coherences between m = 1 and m = 0, 2; the AND (Toffoli into ``aux``, reset) those between
       m = 0 and m = 2. Both records are equal on :math:`|01\rangle` and :math:`|10\rangle`, so
       :math:`|T_0\rangle` keeps its coherence. ``aux`` must be in :math:`|0\rangle`; it is returned there.
    """
    p0, p1, p2 = (check_real("populations", p, minimum=0.0, maximum=1.0) for p in populations)
    c0, c1 = pair
    qc.ry(2.0 * math.atan2(math.sqrt(p1 / 2 + p2), math.sqrt(p0 + p1 / 2)), c0)
    b1 = 2.0 * math.atan2(math.sqrt(p1 / 2), math.sqrt(p0))
    b2 = 2.0 * math.atan2(math.sqrt(p2), math.sqrt(p1 / 2))
    qc.ry(b1, c1)
    qc.cry(b2 - b1, c0, c1)
    qc.cx(c0, aux)
    qc.cx(c1, aux)
    qc.reset(aux)
    qc.ccx(c0, c1, aux)
    qc.reset(aux)


def initial_aux_qubits_needed(initial: InitialState, n_atoms: int, omega: float = 1.0) -> int:
    """Auxiliary qubits :func:`append_initial_state` needs (1 for thermal, purifiers for a matrix)."""
    if initial.kind == "thermal":
        return 1
    if initial.kind == "matrix":
        return purifier_count(initial.density_matrix(n_atoms, omega))
    return 0


def append_initial_state(
    qc: QuantumCircuit,
    initial: InitialState,
    atom_qubits: Sequence[QubitLike],
    aux_qubits: Sequence[QubitLike],
    omega: float = 1.0,
    *,
    reset: bool = False,
) -> None:
    r"""Prepare the atoms in ``initial`` (ground, excited, product thermal at :math:`T_0`, eg, matrix).

    ``aux_qubits`` must be in :math:`|0\rangle` and are returned to :math:`|0\rangle`;
    :func:`initial_aux_qubits_needed` says how many are used. With ``reset=True`` the atoms are
    reset first (reuse of qubits within one circuit).
    """
    atom_qubits = list(atom_qubits)
    n = len(atom_qubits)
    need = initial_aux_qubits_needed(initial, n, omega)
    if need > len(aux_qubits):
        raise ParameterError(
            f"Argument `aux_qubits` must hold >= {need} qubits for initial state {initial.kind!r}, "
            f"but holds {len(aux_qubits)}."
        )
    if initial.kind == "matrix":
        append_density_matrix(qc, initial.density_matrix(n, omega), atom_qubits, list(aux_qubits)[:need], reset=reset)
        return
    if reset:
        for q in atom_qubits:
            qc.reset(q)
    if initial.kind == "ground":
        return
    if initial.kind == "excited":
        for q in atom_qubits:
            qc.x(q)
    elif initial.kind == "eg":
        initial.density_matrix(n, omega)  # raises unless N = 2
        qc.x(atom_qubits[0])
    else:  # thermal
        append_thermal_atoms(qc, atom_qubits, excited_probability(initial.temperature, omega), aux_qubits[0])
