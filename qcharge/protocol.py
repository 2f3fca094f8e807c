r"""One plan per charging experiment: the set-up that the circuit builders and the NumPy twin share.

A :class:`ChargingPlan` is computed once from the physics parameters and a seed (docs/physics.md §5.1, 5.2):

* the time step :math:`\Delta t = \theta^2/(\gamma(2\bar n+1))` and the ancilla excitation
  probability :math:`p_e(T)`;
* the Trotter schedule of every collision (:func:`trotter_schedule`);
* the save points (collision counts after which the atoms' state is kept);
* the classical coin draws of ``ancilla='coin'`` (one row of n bits per circuit instance).

:func:`qcharge.circuits.charging.charging_circuit` and :func:`qcharge.reference.twin.charging_trajectory`
both take the plan, so the circuit and its twin cannot drift apart. This module is pure NumPy and
imports neither ``qiskit`` nor :mod:`qcharge.reference` (circuits may import it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ._checks import check_choice, check_int, check_real, check_resonant
from .exceptions import ParameterError
from .params import ORDERINGS, Atoms, Bath, Collision, Harvest, InitialState, check_coupling
from .states import SIGMA_MINUS, SIGMA_PLUS, collective_lowering, local_operator

__all__ = [
    "DEFAULT_COIN_INSTANCES",
    "MAX_COLLISION_ATOMS",
    "ChargingPlan",
    "HarvestPlan",
    "ScheduleEntry",
    "charging_plan",
    "harvesting_plan",
    "poisson_times",
    "check_collision_model",
    "coin_draws",
    "coin_patterns",
    "dephasing_flips",
    "collective_unitary",
    "coupled_schedule",
    "coupled_unitary",
    "probe_schedule",
    "resolve_seed",
    "save_collisions",
    "fitted_fractions",
    "trotter_schedule",
]

ScheduleEntry = tuple[tuple[int, float], ...]

# Circuit instances of a coin ensemble when the caller does not say.
DEFAULT_COIN_INSTANCES = 64
# ancilla='enumerate': one circuit per coin pattern, 2^n of them (256 circuits, x 3^N tomography settings).
MAX_ENUMERATED_COLLISIONS = 8
# Dense 2^(N+1) collision unitaries: N = 10 is a 2048 x 2048 complex matrix (64 MiB).
MAX_COLLISION_ATOMS = 10
# ordering='fitted': least squares over dense 2^(N+1) products (128 x 128 at N = 6: ~1 s, once per θ).
MAX_FITTED_ATOMS = 6


def resolve_seed(seed: int | None) -> int:
    """``seed`` itself, or fresh OS entropy (recorded in the plan, so every run can be replayed).

    Example:
        >>> resolve_seed(7)
        7
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    return check_int("seed", seed, minimum=0)


def save_collisions(n_collisions: int, save_every: int | None) -> list[int]:
    """Collision counts after which the state is saved: the final one, plus every ``save_every``-th from 0.

    Example:
        >>> save_collisions(10, 4), save_collisions(10, None)
        ([0, 4, 8, 10], [10])
    """
    n_collisions = check_int("n_collisions", n_collisions, minimum=0)
    if save_every is None:
        return [n_collisions]
    save_every = check_int("save_every", save_every, minimum=1)
    return sorted(set(range(0, n_collisions + 1, save_every)) | {n_collisions})


def trotter_schedule(
    n_atoms: int, ordering: str, n_collisions: int, seed: int | None = None, theta: float | None = None
) -> list[ScheduleEntry] | None:
    r"""Gate sequence of every collision, shared by the circuits and the NumPy twin (docs/physics.md §5.2).

    Entry ``c`` (0-based collision index) is ``((atom, fraction), ...)``: the gates
    :math:`\exp[-i\,\mathrm{fraction}\,\theta(\sigma_+^a\sigma_-^{\mathrm{atom}} + \mathrm{h.c.})]`
    applied in list order (the first pair acts first).

    * ``forward``: ``((0, 1.0), (1, 1.0), ..., (N-1, 1.0))``.
    * ``palindromic`` (Strang): ``((0, .5), ..., (N-2, .5), (N-1, 1.0), (N-2, .5), ..., (0, .5))``;
      N = 1: ``((0, 1.0),)``.
    * ``fitted``: the palindromic gate sequence with the fractions of :func:`fitted_fractions` (θ),
      the closest such product to the exact collision (needs ``theta``; N <= 6).
    * ``alternating``: forward for even c, reversed for odd c.
    * ``random``: for each collision a fresh permutation from ``np.random.default_rng(seed)``
      (``rng.permutation(N)`` per collision, in collision order), each atom with fraction 1.
    * ``exact``: ``None`` (one collective unitary, :func:`collective_unitary`).

    Raises:
        ParameterError: unknown ordering (lists the valid names), bad sizes, ``random`` without a seed,
            or ``fitted`` without ``theta``.

    Example:
        >>> trotter_schedule(3, "palindromic", 1)
        [((0, 0.5), (1, 0.5), (2, 1.0), (1, 0.5), (0, 0.5))]
    """
    n_atoms = check_int("atoms", n_atoms, minimum=1)
    n_collisions = check_int("n_collisions", n_collisions, minimum=0)
    check_choice("ordering", ordering, ORDERINGS)
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
    if ordering == "fitted":
        if theta is None:
            raise ParameterError("Argument `theta` is required for ordering='fitted' (its fractions depend on θ), but is None.")
        if n_atoms > MAX_FITTED_ATOMS:
            raise ParameterError(f"Argument `atoms` must be <= {MAX_FITTED_ATOMS} for ordering='fitted' (its angles are "
                                 f"fitted on the dense 2^(N+1) collision), but is {n_atoms}; use 'palindromic'.")
        f = fitted_fractions(n_atoms, theta)
        entry = tuple((i, f[i]) for i in range(n_atoms - 1)) + ((n_atoms - 1, f[-1]),) + tuple(
            (i, f[i]) for i in reversed(range(n_atoms - 1)))
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


@lru_cache(maxsize=16)
def _coupling_eigh(n_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Eigen-decomposition of :math:`V = \sigma_+^a J_- + \sigma_-^a J_+` (ancilla = left-most factor).

    Cached: every U(θ) for the same N reuses it, and eigh keeps U unitary to round-off.
    """
    jm = collective_lowering(n_atoms)
    v = np.kron(SIGMA_PLUS, jm) + np.kron(SIGMA_MINUS, jm.conj().T)
    w, vecs = np.linalg.eigh(v)
    w.setflags(write=False)
    vecs.setflags(write=False)
    return w, vecs


@lru_cache(maxsize=64)
def _collective_unitary_cached(n_atoms: int, theta: float) -> np.ndarray:
    w, vecs = _coupling_eigh(n_atoms)
    u = (vecs * np.exp(-1j * theta * w)) @ vecs.conj().T
    u.setflags(write=False)
    return u


def collective_unitary(n_atoms: int, theta: float) -> np.ndarray:
    r"""Exact collective collision :math:`U = \exp[-i\theta(\sigma_+^a J_- + \sigma_-^a J_+)]`, eq. (5.1).

    Ancilla = left-most factor (QuTiP order); atom i = factor i + 1. Dimension :math:`2^{N+1}`.
    The one cache of this matrix: the circuit builders and the twin both read it (read-only array).

    Example:
        >>> u = collective_unitary(2, 0.3)
        >>> u.shape, bool(abs(u @ u.conj().T - np.eye(8)).max() < 1e-12)
        ((8, 8), True)
    """
    n_atoms = check_int("atoms", n_atoms, minimum=1, maximum=MAX_COLLISION_ATOMS)
    theta = check_real("theta", theta)
    return _collective_unitary_cached(n_atoms, theta)


def _exchange_generators(n_atoms: int) -> list[np.ndarray]:
    r""":math:`V_i = \sigma_+^a\sigma_-^i + \mathrm{h.c.}` on (ancilla, atoms), QuTiP order, ancilla left-most."""
    return [np.kron(SIGMA_PLUS, local_operator(SIGMA_MINUS, i, n_atoms))
            + np.kron(SIGMA_MINUS, local_operator(SIGMA_PLUS, i, n_atoms)) for i in range(n_atoms)]


@lru_cache(maxsize=64)
def _fitted_fractions_cached(n_atoms: int, theta: float) -> tuple[float, ...]:
    from scipy.optimize import least_squares

    gens = _exchange_generators(n_atoms)
    # V_i^3 = V_i, so exp(-iφV_i) = 1 - V_i^2 + cos φ V_i^2 - i sin φ V_i (no eigendecomposition per call).
    squares = [g @ g for g in gens]
    eye = np.eye(gens[0].shape[0])
    order = list(range(n_atoms - 1)) + [n_atoms - 1] + list(reversed(range(n_atoms - 1)))
    target = _collective_unitary_cached(n_atoms, theta)

    def product(phis: np.ndarray) -> np.ndarray:
        m = eye.astype(complex)
        for i in order:
            m = (eye - squares[i] + np.cos(phis[i]) * squares[i] - 1j * np.sin(phis[i]) * gens[i]) @ m
        return m

    def residual(phis: np.ndarray) -> np.ndarray:
        m = product(phis)
        overlap = np.vdot(target, m)  # the best global phase e^{iχ} = overlap / |overlap|
        r = (m - overlap / abs(overlap) * target).ravel()
        return np.concatenate([r.real, r.imag])

    start = np.array([theta / 2] * (n_atoms - 1) + [theta])  # the palindromic (Strang) angles
    fit = least_squares(residual, start, xtol=1e-15, ftol=1e-15, gtol=1e-15)
    return tuple(float(x) / theta for x in fit.x)


def fitted_fractions(n_atoms: int, theta: float) -> tuple[float, ...]:
    r"""Fractions :math:`(f_0, \dots, f_{N-1})` of the *fitted* palindrome (``ordering='fitted'``, docs/physics.md §5.2).

    The palindromic gate sequence :math:`E_0(f_0\theta)\cdots E_{N-2}(f_{N-2}\theta)\,E_{N-1}(f_{N-1}\theta)
    \,E_{N-2}(f_{N-2}\theta)\cdots E_0(f_0\theta)` (mirrored angles: it stays symmetric, as U is) with the
    angles that minimise :math:`\min_\chi\lVert \prod E - e^{i\chi}U_\mathrm{exact}(\theta)\rVert_F` on the whole
    :math:`2^{N+1}` space (any initial state), by least squares from the Strang angles (deterministic).
    Same gates as ``palindromic``, so the same cost; N = 2: the exact pair circuit
    (:func:`qcharge.circuits.synthesis.pair_collision_angles`); N = 3, θ = 0.75: the distance drops
    from 0.30 to 0.24 and the heat-exchange coherence after 3 collisions from ground from 0.5832 to 0.5912
    (exact collisions: 0.5950).

    Example:
        >>> [round(f, 4) for f in fitted_fractions(3, 0.75)]
        [0.5379, 0.5075, 0.9485]
    """
    n_atoms = check_int("atoms", n_atoms, minimum=1, maximum=MAX_FITTED_ATOMS)
    theta = check_real("theta", theta, minimum=0.0, strict_min=True)
    if n_atoms == 1:
        return (1.0,)  # one exchange gate is the exact collision
    return _fitted_fractions_cached(n_atoms, theta)


@lru_cache(maxsize=16)
def _coupled_eigh(coupling: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    r"""Eigen-decomposition of :math:`V = \sigma_+^a J_-^{(g)} + \mathrm{h.c.}`, :math:`J_-^{(g)} = \sum_i g_i\sigma_-^i`."""
    n = len(coupling)
    jm = sum(g * local_operator(SIGMA_MINUS, i, n) for i, g in enumerate(coupling) if g != 0.0)
    w, vecs = np.linalg.eigh(np.kron(SIGMA_PLUS, jm) + np.kron(SIGMA_MINUS, jm.conj().T))
    w.setflags(write=False)
    vecs.setflags(write=False)
    return w, vecs


@lru_cache(maxsize=64)
def _coupled_unitary_cached(coupling: tuple[float, ...], theta: float) -> np.ndarray:
    w, vecs = _coupled_eigh(coupling)
    u = (vecs * np.exp(-1j * theta * w)) @ vecs.conj().T
    u.setflags(write=False)
    return u


def coupled_unitary(coupling, theta: float) -> np.ndarray:
    r"""Exact probe collision with a coupling vector, :math:`U = \exp[-i\theta(\sigma_+^a J_-^{(g)} + \sigma_-^a J_+^{(g)})]`,
    :math:`J_-^{(g)} = \sum_i g_i\sigma_-^i` (docs/physics.md §4, ``Harvest.coupling``).

    Ancilla (probe) = left-most factor, atom i = factor i + 1; dimension :math:`2^{K+1}`, K = len(coupling).
    All ones is :func:`collective_unitary` itself (the same cached array). The one cache of this matrix:
    the harvesting circuits (on the coupled atoms only, see :func:`coupled_schedule`), their twin and the
    reference probe map all read it (read-only array).

    Example:
        >>> u = coupled_unitary((1.0, 0.0), 0.3)   # one coupled atom: one exchange on (probe, atom 0)
        >>> bool(abs(u - np.kron(coupled_unitary((1.0,), 0.3), np.eye(2))).max() < 1e-12)
        True
    """
    if coupling is None:  # check_coupling reads None as all ones, but here K comes from the vector itself
        raise ParameterError("Argument `coupling` must be a list of K real numbers (one per atom), but is None.")
    g = check_coupling(coupling, int(np.size(coupling)))
    check_int("atoms", len(g), minimum=1, maximum=MAX_COLLISION_ATOMS)
    theta = check_real("theta", theta)
    if all(x == 1.0 for x in g):
        return collective_unitary(len(g), theta)
    return _coupled_unitary_cached(g, theta)


def coupled_schedule(
    schedule: list[ScheduleEntry] | None, coupling
) -> list[ScheduleEntry] | None:
    r"""A Trotter schedule of :func:`trotter_schedule` for the coupling vector :math:`g` (``Harvest.coupling``).

    Gate ``(atom, f)`` becomes ``(atom, f * g[atom])``, that is
    :math:`\exp[-if\theta g_i(\sigma_+^a\sigma_-^i + \mathrm{h.c.})] = \mathtt{XXPlusYYGate}(2f\theta g_i)`,
    so :math:`\prod_i e^{-if\theta g_iV_i}` approximates :math:`e^{-i\theta\sum_i g_iV_i}`. Gates with
    :math:`g_i = 0` are dropped (the identity), and neighbours on the same atom are merged (they share
    one generator, so this is exact): a palindromic schedule of g = (1, 0) is the single gate ``((0, 1.0),)``,
    which is the exact collision. All ones returns ``schedule`` unchanged; ``None`` (``'exact'``) stays ``None``.

    Example:
        >>> coupled_schedule(trotter_schedule(2, "palindromic", 1), (1.0, 0.0))
        [((0, 1.0),)]
        >>> coupled_schedule(trotter_schedule(2, "palindromic", 1), (1.0, 0.5))
        [((0, 0.5), (1, 0.5), (0, 0.5))]
    """
    if schedule is None:
        return None
    g = tuple(float(x) for x in coupling)
    if all(x == 1.0 for x in g):
        return schedule
    out = []
    for entry in schedule:
        gates: list[tuple[int, float]] = []
        for atom, frac in entry:
            if g[atom] == 0.0:
                continue
            if gates and gates[-1][0] == atom:
                gates[-1] = (atom, gates[-1][1] + frac * g[atom])
            else:
                gates.append((atom, frac * g[atom]))
        out.append(tuple(gates))
    return out


def probe_schedule(harvest: Harvest, ordering: str, n_collisions: int, seed: int | None) -> list[ScheduleEntry] | None:
    """Gate sequence of the probe-cluster collisions of one harvesting instance, shared by the circuit
    (:func:`qcharge.circuits.harvesting.harvesting_circuit`) and its twin
    (:func:`qcharge.reference.twin.harvest_instance_states`): :func:`trotter_schedule` over the K atoms
    (random orderings from ``seed``), weighted by ``harvest.coupling`` (:func:`coupled_schedule`)."""
    if ordering == "fitted" and not all(x == 1.0 for x in harvest.coupling):
        raise ParameterError(f"Argument `ordering` 'fitted' needs the uniform coupling (its angles are fitted to the "
                             f"collective collision), but the coupling is {list(harvest.coupling)}.")
    return coupled_schedule(trotter_schedule(harvest.cluster_size, ordering, n_collisions, seed, harvest.theta),
                            harvest.coupling)


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
    check_resonant(atoms, bath)


def coin_draws(seed: int, n_instances: int, n_collisions: int, p_e: float) -> np.ndarray:
    r"""Classical coins of ``ancilla='coin'``: row k = instance k, True = ancilla prepared in :math:`|e\rangle`.

    Drawn from ``np.random.default_rng([seed, 1])``, a stream independent of the random ordering's
    ``default_rng(seed)``; each coin is excited with probability :math:`p_e`.
    """
    coins = np.random.default_rng([seed, 1]).random((n_instances, n_collisions)) < p_e
    coins.setflags(write=False)
    return coins


def coin_patterns(n_collisions: int, p_e: float) -> tuple[np.ndarray, np.ndarray]:
    r"""All :math:`2^n` coin patterns of ``ancilla='enumerate'`` and their probabilities
    :math:`w_k = p_e^{|k|}(1-p_e)^{n-|k|}` (row k = pattern k, True = ancilla in :math:`|e\rangle`; binary order,
    collision 0 the most significant bit). :math:`\sum_k w_k\,\Phi_k = \Phi^{\circ n}`: the weighted ensemble
    is the thermal channel exactly, with no coin sampling error.

    Example:
        >>> pats, w = coin_patterns(2, 0.25)
        >>> pats.astype(int).tolist(), w.tolist()
        ([[0, 0], [0, 1], [1, 0], [1, 1]], [0.5625, 0.1875, 0.1875, 0.0625])
    """
    n = check_int("n_collisions", n_collisions, minimum=0, maximum=MAX_ENUMERATED_COLLISIONS)
    bits = (np.arange(2 ** n)[:, None] >> np.arange(n - 1, -1, -1)[None, :]) & 1
    pats = bits.astype(bool)
    weights = np.prod(np.where(pats, p_e, 1.0 - p_e), axis=1) if n else np.ones(1)
    pats.setflags(write=False)
    weights.setflags(write=False)
    return pats, weights


def dephasing_flips(seed: int, n_collisions: int, n_atoms: int) -> np.ndarray:
    r"""Virtual-Z draws of a dephased in-circuit cluster: row c = collision c, True = Z on that atom.

    Drawn from ``np.random.default_rng([seed, 3])`` (independent of the ordering stream
    ``default_rng(seed)`` and the coin streams ``[seed, 1]``, ``[seed, 2]``), each atom independently
    with probability 1/2. Averaged over the draws, :math:`Z^{f}\rho Z^{f}` keeps
    :math:`\rho_{ij}` times :math:`\mathbb E[(-1)^{f\cdot(i\oplus j)}] = \delta_{ij}`: the
    computational-basis diagonal of ρ.
    """
    seed = check_int("seed", seed, minimum=0)
    n_collisions = check_int("n_collisions", n_collisions, minimum=0)
    n_atoms = check_int("n_atoms", n_atoms, minimum=1)
    flips = np.random.default_rng([seed, 3]).random((n_collisions, n_atoms)) < 0.5
    flips.setflags(write=False)
    return flips


def _check_inputs(atoms, bath, initial, collision) -> None:
    for name, value, cls in (("atoms", atoms, Atoms), ("bath", bath, Bath),
                             ("initial_state", initial, InitialState), ("collision", collision, Collision)):
        if not isinstance(value, cls):
            raise ParameterError(f"Argument `{name}` must be a qcharge.{cls.__name__}, but is {type(value).__name__}.")
    check_collision_model(atoms, bath)


@dataclass(frozen=True)
class ChargingPlan:
    r"""Everything a charging circuit and its twin share, computed once (build it with :func:`charging_plan`).

    Attributes:
        atoms, bath, initial, collision: the physics parameters.
        n_collisions: n >= 0.
        seed: the resolved seed (random ordering stream ``default_rng(seed)``, coin stream
            ``default_rng([seed, 1])``).
        save_every: save after every ``save_every`` collisions (and at the end); ``None``: the end only.
        n_instances: circuit instances: coin draws for ``ancilla='coin'``, the :math:`2^n` patterns for
            ``'enumerate'``; 1 otherwise.
        dt: :math:`\Delta t = \theta^2/(\gamma(2\bar n+1))`; collision c happens at :math:`c\,\Delta t`.
        p_e: ancilla excitation probability :math:`p_e(T)` of the bath.
        schedule: per-collision gate lists of :func:`trotter_schedule` (``None`` for ``'exact'``).
        saves: collision counts whose state is saved.
        coins: ``(n_instances, n_collisions)`` bool array for ``'coin'`` / ``'enumerate'``, else ``None``.
        weights: weight of each instance in the ensemble: ``1/n_instances`` each (``'coin'``, one
            instance), the pattern probabilities of :func:`coin_patterns` (``'enumerate'``).
    """

    atoms: Atoms
    bath: Bath
    initial: InitialState
    collision: Collision
    n_collisions: int
    seed: int
    save_every: int | None = None
    n_instances: int = 1
    dt: float = field(init=False)
    p_e: float = field(init=False)
    schedule: tuple[ScheduleEntry, ...] | None = field(init=False, repr=False)
    saves: tuple[int, ...] = field(init=False)
    coins: np.ndarray | None = field(init=False, repr=False, compare=False)
    weights: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_inputs(self.atoms, self.bath, self.initial, self.collision)
        check_int("n_collisions", self.n_collisions, minimum=0)
        check_int("seed", self.seed, minimum=0)
        check_int("n_instances", self.n_instances, minimum=1)
        method = self.collision.ancilla
        if method == "enumerate":
            check_int("n_collisions", self.n_collisions, maximum=MAX_ENUMERATED_COLLISIONS)
            if self.n_instances != 2 ** self.n_collisions:
                raise ParameterError(f"Argument `n_instances` must be 2^n = {2 ** self.n_collisions} for "
                                     f"ancilla='enumerate' (every coin pattern), but is {self.n_instances}.")
        elif method != "coin" and self.n_instances != 1:
            raise ParameterError(
                f"Argument `n_instances` must be 1 unless ancilla='coin', but is {self.n_instances} "
                f"(ancilla={method!r})."
            )
        sched = trotter_schedule(self.atoms.n, self.collision.ordering, self.n_collisions, self.seed,
                                 self.collision.theta)
        set_ = object.__setattr__  # frozen: derived fields are set once, here
        set_(self, "dt", self.collision.time_step(self.bath, self.atoms.gamma))
        set_(self, "p_e", self.bath.excited_probability)
        set_(self, "schedule", None if sched is None else tuple(sched))
        set_(self, "saves", tuple(save_collisions(self.n_collisions, self.save_every)))
        if method == "enumerate":
            coins, weights = coin_patterns(self.n_collisions, self.p_e)
        else:
            coins = coin_draws(self.seed, self.n_instances, self.n_collisions, self.p_e) if method == "coin" else None
            weights = np.full(self.n_instances, 1.0 / self.n_instances)
            weights.setflags(write=False)
        set_(self, "coins", coins)
        set_(self, "weights", weights)

    def entry(self, c: int) -> ScheduleEntry | None:
        """Schedule entry of collision ``c`` (``None``: the exact collective unitary)."""
        return None if self.schedule is None else self.schedule[c]

    def inputs(self) -> dict:
        """The inputs the plan is built from (JSON-able): what :meth:`strong_id` hashes."""
        return {
            "experiment": "charging",
            "atoms": self.atoms.to_dict(),
            "bath": self.bath.to_dict(),
            "initial_state": self.initial.to_dict(),
            "theta": self.collision.theta,
            "ordering": self.collision.ordering,
            "ancilla": self.collision.ancilla,
            "n_collisions": self.n_collisions,
            "seed": self.seed,
            "save_every": self.save_every,
            "n_instances": self.n_instances,
        }

    def strong_id(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`inputs`: equal inputs, equal id, on every machine.

        Floats enter through ``repr`` (shortest round-trip form), so the id does not depend on BLAS.
        """
        from .records import to_jsonable

        text = json.dumps(to_jsonable(self.inputs()), sort_keys=True, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()


def charging_plan(
    atoms: Atoms,
    bath: Bath,
    initial: InitialState,
    collision: Collision,
    n_collisions: int,
    *,
    seed: int | None = None,
    save_every: int | None = None,
    n_instances: int | None = None,
) -> ChargingPlan:
    """The :class:`ChargingPlan` of n collisions; ``seed=None`` draws one (recorded in ``plan.seed``).

    ``n_instances`` applies to ``ancilla='coin'`` only (default :data:`DEFAULT_COIN_INSTANCES`);
    ``'enumerate'`` has one instance per coin pattern (:func:`coin_patterns`, n <= 8).

    Example:
        >>> from qcharge.params import Atoms, Bath, Collision, InitialState
        >>> plan = charging_plan(Atoms(2), Bath(1.0), InitialState(), Collision(0.3), 120, seed=0)
        >>> plan.saves, round(plan.dt * plan.n_collisions, 4), len(plan.strong_id())
        ((120,), 4.9909, 64)
    """
    n_collisions = check_int("n_collisions", n_collisions, minimum=0)
    method = collision.ancilla if isinstance(collision, Collision) else None
    if method == "coin":
        n_inst = DEFAULT_COIN_INSTANCES if n_instances is None else check_int("n_instances", n_instances, minimum=1)
    elif method == "enumerate":
        if n_collisions > MAX_ENUMERATED_COLLISIONS:
            raise ParameterError(f"Argument `collisions` must be <= {MAX_ENUMERATED_COLLISIONS} for ancilla='enumerate' "
                                 f"(one circuit per coin pattern, 2^n), but is {n_collisions}; use 'purify' or 'coin'.")
        n_inst = 2 ** n_collisions
    else:
        n_inst = 1
    return ChargingPlan(atoms, bath, initial, collision, n_collisions, resolve_seed(seed), save_every, n_inst)


def poisson_times(rate: float, time: float, rng: np.random.Generator) -> np.ndarray:
    """Arrival times of a Poisson process of ``rate`` on [0, ``time``]: N ~ Poisson(rate*time), sorted uniforms."""
    n = int(rng.poisson(rate * time))
    return np.sort(rng.uniform(0.0, time, n))


@dataclass(frozen=True)
class HarvestPlan:
    r"""The random streams of a harvesting experiment, drawn once: per instance its Poisson collision
    times on [0, ``time``] (rate ``harvest.rate``) and its own seed (random orderings, coins).

    The circuits (:func:`qcharge.circuits.harvesting.harvesting_instances`) and their twin, the exact
    per-instance probe states (:func:`qcharge.reference.twin.harvest_instance_states`), both read these
    times and seeds.
    """

    harvest: Harvest
    time: float
    seed: int
    collision_times: tuple[tuple[float, ...], ...]
    instance_seeds: tuple[int, ...]

    @property
    def n_instances(self) -> int:
        return len(self.collision_times)

    def inputs(self) -> dict:
        """The inputs the plan is built from (JSON-able): what :meth:`strong_id` hashes."""
        return {"experiment": "harvesting", "harvest": dataclasses.asdict(self.harvest), "time": self.time,
                "seed": self.seed, "n_instances": self.n_instances}

    def strong_id(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`inputs` (as :meth:`ChargingPlan.strong_id`)."""
        from .records import to_jsonable

        text = json.dumps(to_jsonable(self.inputs()), sort_keys=True, separators=(",", ":"), allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()


def harvesting_plan(harvest: Harvest, time: float, n_instances: int, seed: int | None) -> HarvestPlan:
    """Draw the plan: one :class:`numpy.random.Generator` seeded with ``seed`` gives, per instance in order,
    the number of collisions, their times and the instance's seed.

    >>> plan = harvesting_plan(Harvest(rate=2.0), 3.0, 4, seed=1)
    >>> plan.n_instances, all(0 <= t <= 3.0 for ts in plan.collision_times for t in ts)
    (4, True)
    >>> plan.collision_times == harvesting_plan(Harvest(rate=2.0), 3.0, 4, seed=1).collision_times
    True
    """
    if not isinstance(harvest, Harvest):
        raise ParameterError(f"Argument `harvest` must be a qcharge.Harvest, but is {type(harvest).__name__}.")
    n_instances = check_int("n_instances", n_instances, minimum=1)
    time = check_real("time", time, minimum=0.0)
    seed = resolve_seed(seed)
    rng = np.random.default_rng(seed)
    times, seeds = [], []
    for _ in range(n_instances):
        times.append(tuple(float(t) for t in poisson_times(harvest.rate, time, rng)))
        seeds.append(int(rng.integers(2**63)))
    return HarvestPlan(harvest, time, seed, tuple(times), tuple(seeds))
