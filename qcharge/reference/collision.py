r"""Exact collision maps: the NumPy twin of the charging circuits (PHYSICS.md §5).

The probe-harvesting maps (§4) live in :mod:`qcharge.reference.probe`.

Pure NumPy/SciPy; everything in the QuTiP order of :mod:`qcharge.states` (atom 0 = left-most tensor
factor, :math:`|g\rangle = |0\rangle`, :math:`\sigma_- = |g\rangle\langle e|`).

Conventions of this module

* **Joint states.** The ancilla is always the **first** (left-most) factor:
  :math:`\tau \otimes \rho`. Atom ``i`` of the charged register is factor ``i + 1`` of the joint space.
* **Superoperators** act on column-stacked vectors,
  :math:`\mathrm{vec}(\rho)_{i + d j} = \rho_{ij}` (``rho.reshape(-1, order="F")``), so
  :math:`\mathrm{vec}(A X B) = (B^T \otimes A)\,\mathrm{vec}(X)`. This is QuTiP's
  ``operator_to_vector`` convention: the matrices returned here are QuTiP ``super``-representation
  superoperators.
* **Trotter schedules** (:func:`trotter_schedule`) are shared with the circuit builders, so the
  circuits and :func:`charging_trajectory` apply the *same* gate sequence.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_density_matrix, check_int, check_real
from ..exceptions import ParameterError
from ..params import ORDERINGS, Atoms, Bath, Collision, InitialState
from ..states import SIGMA_MINUS, SIGMA_PLUS, collective_lowering, local_operator

__all__ = [
    "trotter_schedule",
    "exchange_unitary",
    "collective_collision_unitary",
    "charging_step",
    "charging_trajectory",
    "check_collision_model",
    "charging_map_superoperator",
]

# Dense 4^N x 4^N superoperators: N = 5 is 16 MiB; N = 6 would be 256 MiB.
_MAX_SUPEROPERATOR_ATOMS = 5
# Dense 2^(N+1) collision unitaries.
_MAX_COLLISION_ATOMS = 10


# ----------------------------------------------------------------------------------------------------------------------
# small helpers


def _n_qubits(dim: int) -> int:
    return dim.bit_length() - 1


@lru_cache(maxsize=16)
def _coupling_eigh(n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Eigen-decomposition of :math:`V = \sigma_+^a J_- + \sigma_-^a J_+` (ancilla/probe = left-most factor).

    Cached: every U(θ) for the same N reuses it, and eigh keeps U unitary to round-off.
    """
    jm = collective_lowering(n_atoms)
    v = np.kron(SIGMA_PLUS, jm) + np.kron(SIGMA_MINUS, jm.conj().T)
    w, vecs = np.linalg.eigh(v)
    w.setflags(write=False)
    vecs.setflags(write=False)
    return w, vecs


def _collective_unitary(n_atoms: int, theta: float) -> np.ndarray:
    w, vecs = _coupling_eigh(n_atoms)
    return (vecs * np.exp(-1j * theta * w)) @ vecs.conj().T


# ----------------------------------------------------------------------------------------------------------------------
# charging twin (PHYSICS.md §5)

ScheduleEntry = tuple[tuple[int, float], ...]


def trotter_schedule(
    n_atoms: int, ordering: str, n_collisions: int, seed: int | None = None
) -> list[ScheduleEntry] | None:
    r"""Gate sequence of every collision, shared by the circuits and the NumPy twin (PHYSICS.md 5.2).

    Entry ``c`` (0-based collision index) is ``((atom, fraction), ...)``: the gates
    :math:`\exp[-i\,\mathrm{fraction}\,\theta(\sigma_+^a\sigma_-^{\mathrm{atom}} + \mathrm{h.c.})]`
    applied in list order (the first pair acts first).

    * ``forward``: ``((0, 1.0), (1, 1.0), ..., (N-1, 1.0))``.
    * ``palindromic`` (Strang): ``((0, .5), ..., (N-2, .5), (N-1, 1.0), (N-2, .5), ..., (0, .5))``;
      N = 1: ``((0, 1.0),)``.
    * ``alternating``: forward for even c, reversed for odd c.
    * ``random``: for each collision a fresh permutation from ``np.random.default_rng(seed)``
      (``rng.permutation(N)`` per collision, in collision order), each atom with fraction 1.
    * ``exact``: ``None`` (one collective unitary, :func:`collective_collision_unitary`).

    Raises:
        ParameterError: unknown ordering (lists the valid names), bad sizes, or ``random`` without a seed.

    Example:
        >>> trotter_schedule(3, "palindromic", 1)
        [((0, 0.5), (1, 0.5), (2, 1.0), (1, 0.5), (0, 0.5))]
    """
    n_atoms = check_int("atoms", n_atoms, minimum=1)
    n_collisions = check_int("n_collisions", n_collisions, minimum=0)
    if ordering not in ORDERINGS:
        raise ParameterError(f"Argument `ordering` must be one of {list(ORDERINGS)}, but is {ordering!r}.")
    if ordering == "exact":
        return None
    forward: ScheduleEntry = tuple((i, 1.0) for i in range(n_atoms))
    if ordering == "forward":
        return [forward] * n_collisions
    if ordering == "palindromic":
        if n_atoms == 1:
            return [((0, 1.0),)] * n_collisions
        half = tuple((i, 0.5) for i in range(n_atoms - 1))
        entry = half + ((n_atoms - 1, 1.0),) + half[::-1]
        return [entry] * n_collisions
    if ordering == "alternating":
        backward = forward[::-1]
        return [forward if c % 2 == 0 else backward for c in range(n_collisions)]
    # random
    if seed is None:
        raise ParameterError(
            "Argument `seed` is required for ordering='random' (reproducible gate order), but is None."
        )
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    return [tuple((int(i), 1.0) for i in rng.permutation(n_atoms)) for _ in range(n_collisions)]


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


def collective_collision_unitary(n_atoms: int, theta: float) -> np.ndarray:
    r"""Exact collective collision :math:`U = \exp[-i\theta(\sigma_+^a J_- + \sigma_-^a J_+)]`, eq. (5.1).

    Ancilla = left-most factor; atom i = factor i + 1. Dimension :math:`2^{N+1}`.
    """
    n_atoms = check_int("atoms", n_atoms, minimum=1, maximum=_MAX_COLLISION_ATOMS)
    theta = check_real("theta", theta)
    return _collective_unitary(n_atoms, theta)


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
        return _collective_unitary(n_atoms, theta)
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

    ancilla = first factor; U = :func:`collective_collision_unitary` for ``schedule_entry=None``, else
    the product of exchange gates of the entry in list order (see :func:`trotter_schedule`).
    """
    rho = check_density_matrix("rho", rho)
    n = _n_qubits(rho.shape[0])
    if n > _MAX_COLLISION_ATOMS:
        raise ParameterError(f"Argument `rho` must have at most {_MAX_COLLISION_ATOMS} atoms, but has {n}.")
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


def check_collision_model(atoms: Atoms, bath: Bath) -> None:
    """The charging collision model (one ancilla coupled equally to all atoms) realises only the
    Dicke-limit bath with Omega = 0, resonant with the atoms; raise ParameterError otherwise."""
    if not isinstance(atoms, Atoms):
        raise ParameterError(f"Argument `atoms` must be a qcharge.Atoms, but is {type(atoms).__name__}.")
    if not atoms.is_dicke or atoms.dipolar != 0.0:
        raise ParameterError(
            "Argument `atoms` must be in the Dicke limit (uniform gamma_ij, Omega = 0) for the collision model, "
            f"but has gamma_matrix={atoms.gamma_matrix.tolist()}, dipolar_matrix={atoms.dipolar_matrix.tolist()}."
        )
    if bath.omega != atoms.omega:
        raise ParameterError(f"Argument `bath.omega` must equal atoms.omega = {atoms.omega}, but is {bath.omega}.")


def charging_trajectory(
    atoms: Atoms,
    bath: Bath,
    initial: InitialState,
    collision: Collision,
    n_collisions: int,
    *,
    seed: int | None = None,
    save_every: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Exact collision-model charging: repeated :func:`charging_step` with the schedule of ``collision.ordering``.

    The ancilla is the thermal qubit :math:`\tau = \mathrm{diag}(1-p_e(T), p_e(T))` of the bath; every
    preparation method (purify / measure / coin) realises this channel exactly in expectation, so
    ``collision.ancilla`` does not enter. The time of collision c is :math:`t = c\,\Delta t`,
    :math:`\Delta t = \theta^2/(\gamma(2\bar n+1))` (5.2), the time at which to compare with the Dicke
    master equation. Only N enters the map; γ_ij and Ω_ij are not modelled (a warning is issued when
    the atoms are not in the Ω = 0 Dicke limit that the collisions realise).

    Args:
        atoms: N atoms (and γ for Δt).
        bath: temperature of the ancillas (``bath.omega`` must equal ``atoms.omega``).
        initial: initial state of the atoms.
        collision: θ and ordering.
        n_collisions: number of collisions >= 0.
        seed: RNG seed, required for ``ordering='random'`` (same stream as the circuit builders).
        save_every: save every this many collisions; the last collision is always saved.

    Returns:
        ``(times, states)``: times of the saved collision counts c = 0, save_every, 2 save_every, ...,
        n_collisions, and the states, shape (n_saved, 2^N, 2^N).
    """
    check_collision_model(atoms, bath)
    n = atoms.n
    if n > _MAX_COLLISION_ATOMS:
        raise ParameterError(f"Argument `atoms` must have at most {_MAX_COLLISION_ATOMS} atoms, but has {n}.")
    n_collisions = check_int("n_collisions", n_collisions, minimum=0)
    save_every = check_int("save_every", save_every, minimum=1)
    dt = collision.time_step(bath, atoms.gamma)
    pe = bath.excited_probability
    theta = collision.theta
    schedule = trotter_schedule(n, collision.ordering, n_collisions, seed)
    rho = initial.density_matrix(n, atoms.omega)

    cache: dict = {}

    def kraus_of(entry):
        if entry not in cache:
            cache[entry] = _kraus(n, theta, pe, entry)
        return cache[entry]

    saved = list(range(0, n_collisions + 1, save_every))
    if saved[-1] != n_collisions:
        saved.append(n_collisions)
    states = np.empty((len(saved), 2**n, 2**n), dtype=complex)
    states[0] = rho
    j = 1
    for c in range(n_collisions):
        rho = _apply_kraus(kraus_of(None if schedule is None else schedule[c]), rho)
        if j < len(saved) and saved[j] == c + 1:
            states[j] = rho
            j += 1
    return np.asarray(saved, dtype=float) * dt, states
