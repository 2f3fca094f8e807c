r"""Frozen, validated parameter objects shared by the exact reference and the circuit builders.

Units: :math:`\hbar = k_B = 1`; energies in units of :math:`\omega`, times in units of
:math:`1/\gamma`. A comparison is always "same parameter objects, two engines".

>>> bath = Bath(temperature=1.0)
>>> bath.nbar, bath.x, bath.excited_probability          # n̄, e^{-ω/T}, p_e
(0.581977, 0.367879, 0.268941)
>>> Collision(theta=0.3).time_step(bath)                 # Δt = θ²/(γ(2n̄+1))
0.041591
>>> Atoms.dicke(3).is_dicke, Atoms.pair(0.5).is_dicke, Atoms.independent(2).is_dicke
(True, False, False)
>>> Bath(temperature=-1.0)
Traceback (most recent call last):
...
qcharge.exceptions.ParameterError: Argument `temperature` must be >= 0.0, but is -1.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from ._checks import check_choice, check_density_matrix, check_int, check_real, check_square
from .exceptions import ParameterError
from .geometry import pair_matrices
from .states import (
    boltzmann_factor,
    eg_state,
    excited_probability,
    excited_state,
    ground_state,
    mean_occupation,
    thermal_state,
)

__all__ = ["Atoms", "Bath", "InitialState", "Collision", "Harvest", "check_coupling", "ORDERINGS", "ANCILLA_METHODS"]

ORDERINGS = ("palindromic", "exact", "fitted", "forward", "alternating", "random")
ANCILLA_METHODS = ("purify", "measure", "coin", "enumerate")

# Gamma must be PSD (docs/physics.md §1.1); allow float round-off of a user-typed matrix.
_PSD_ATOL = 1e-12


def _frozen_array(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, dtype=float)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class Atoms:
    r"""N two-level atoms with collective decay matrix :math:`\gamma_{ij}` and dipole couplings :math:`\Omega_{ij}`.

    Defaults give the Dicke limit :math:`\gamma_{ij} = \gamma` and :math:`\Omega = 0`.
    Γ must be real symmetric positive semidefinite with :math:`\gamma_{ii} = \gamma`;
    Ω real symmetric with zero diagonal.
    """

    n: int
    gamma: float = 1.0
    omega: float = 1.0
    gamma_matrix: np.ndarray | None = None
    dipolar_matrix: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = check_int("atoms", self.n, minimum=1)
        gamma = check_real("gamma", self.gamma, minimum=0.0, strict_min=True)
        check_real("omega", self.omega, minimum=0.0, strict_min=True)
        # Uniform matrices are stored as read-only broadcast views: O(1) memory, so the Dicke
        # solver can take N = 10^5 atoms (a dense 10^5 x 10^5 matrix would need 80 GB).
        uniform_gamma = self.gamma_matrix is None
        uniform_omega = self.dipolar_matrix is None
        if uniform_gamma:
            gm = np.broadcast_to(np.float64(gamma), (n, n))
        else:
            gm = check_square("gamma_matrix", self.gamma_matrix, n, dtype=float)
            if not np.allclose(gm, gm.T, atol=_PSD_ATOL):
                raise ParameterError("Argument `gamma_matrix` must be symmetric, but is not.")
            if not np.allclose(np.diag(gm), gamma, atol=_PSD_ATOL):
                raise ParameterError(
                    f"Argument `gamma_matrix` must have diagonal gamma = {gamma}, "
                    f"but has diagonal {np.diag(gm).tolist()}."
                )
            lam = float(np.linalg.eigvalsh(gm).min())
            if lam < -_PSD_ATOL * max(1.0, gamma):
                raise ParameterError(
                    "Argument `gamma_matrix` must be positive semidefinite "
                    f"(N = 2: |gamma12| <= gamma), but has eigenvalue {lam:.6g}."
                )
        if uniform_omega:
            om = np.broadcast_to(np.float64(0.0), (n, n))
        else:
            om = check_square("dipolar_matrix", self.dipolar_matrix, n, dtype=float)
            if not np.allclose(om, om.T, atol=_PSD_ATOL):
                raise ParameterError("Argument `dipolar_matrix` must be symmetric, but is not.")
            if np.any(np.diag(om) != 0):
                raise ParameterError(
                    f"Argument `dipolar_matrix` must have zero diagonal, but has {np.diag(om).tolist()}."
                )
        object.__setattr__(self, "n", n)
        object.__setattr__(self, "gamma", gamma)
        object.__setattr__(self, "gamma_matrix", gm if uniform_gamma else _frozen_array(gm))
        object.__setattr__(self, "dipolar_matrix", om if uniform_omega else _frozen_array(om))
        object.__setattr__(self, "_uniform", uniform_gamma and uniform_omega)

    @classmethod
    def dicke(cls, n: int, gamma: float = 1.0, omega: float = 1.0, dipolar: float = 0.0) -> Atoms:
        r"""Dicke limit :math:`\gamma_{ij} = \gamma`, uniform :math:`\Omega_{ij} = \Omega` (i != j)."""
        n = check_int("atoms", n, minimum=1)
        om = dipolar * (np.ones((n, n)) - np.eye(n)) if dipolar else None
        return cls(n, gamma, omega, None, om)

    @classmethod
    def independent(cls, n: int, gamma: float = 1.0, omega: float = 1.0) -> Atoms:
        r"""Independent baths :math:`\gamma_{ij} = \gamma\delta_{ij}`."""
        return cls(n, gamma, omega, gamma * np.eye(check_int("atoms", n, minimum=1)))

    @classmethod
    def pair(cls, gamma12: float, dipolar: float = 0.0, gamma: float = 1.0, omega: float = 1.0) -> Atoms:
        """Two atoms with cross-decay gamma12 (|gamma12| <= gamma) and coupling Omega12."""
        g12 = check_real("gamma12", gamma12)
        if abs(g12) > gamma:
            raise ParameterError(f"Argument `gamma12` must satisfy |gamma12| <= gamma = {gamma}, but is {g12}.")
        return cls(2, gamma, omega, [[gamma, g12], [g12, gamma]], [[0, dipolar], [dipolar, 0]])

    @classmethod
    def from_positions(
        cls, positions: ArrayLike, dipole: str | ArrayLike = "z", gamma: float = 1.0, omega: float = 1.0
    ) -> Atoms:
        r"""Atoms at ``positions`` (in wavelengths) with a common dipole, in free space.

        :math:`\gamma_{ij} = \gamma F(k r_{ij})`, :math:`\Omega_{ij} = \gamma G(k r_{ij})`
        (Lehmberg / Ficek–Tanaś, :mod:`qcharge.geometry`).

        Example:
            >>> a = Atoms.from_positions([[0, 0, 0], [0.01, 0, 0]])   # 0.01 lambda, dipoles along z
            >>> round(float(a.gamma_matrix[0, 1]), 6)
            0.999211
        """
        f, g = pair_matrices(positions, dipole)
        gamma = check_real("gamma", gamma, minimum=0.0, strict_min=True)
        return cls(f.shape[0], gamma, omega, gamma * f, gamma * g)

    @property
    def is_dicke(self) -> bool:
        """True when Γ is uniform and Ω is uniform off-diagonal (J-multiplets are conserved)."""
        if self._uniform:
            return True
        off = ~np.eye(self.n, dtype=bool)
        uniform_omega = self.n < 2 or np.ptp(self.dipolar_matrix[off]) == 0
        return bool(np.all(self.gamma_matrix == self.gamma) and uniform_omega)

    @property
    def dipolar(self) -> float:
        """The uniform Ω (meaningful when :attr:`is_dicke`)."""
        return float(self.dipolar_matrix[0, 1]) if self.n > 1 else 0.0

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Atoms):
            return NotImplemented
        if self._uniform and other._uniform:
            return (self.n, self.gamma, self.omega) == (other.n, other.gamma, other.omega)
        return (
            self.n == other.n
            and self.gamma == other.gamma
            and self.omega == other.omega
            and np.array_equal(self.gamma_matrix, other.gamma_matrix)
            and np.array_equal(self.dipolar_matrix, other.dipolar_matrix)
        )

    __hash__ = None  # mutable-looking arrays inside: not hashable on purpose

    def to_dict(self) -> dict:
        """JSON-able form; uniform (Dicke, Omega = 0) atoms omit their matrices."""
        out = {"n": self.n, "gamma": self.gamma, "omega": self.omega}
        if not self._uniform:
            out.update(gamma_matrix=self.gamma_matrix.tolist(), dipolar_matrix=self.dipolar_matrix.tolist())
        return out


@dataclass(frozen=True)
class Bath:
    r"""Thermal bath at temperature T >= 0 (T = 0 and T = inf allowed) for a mode of frequency omega."""

    temperature: float
    omega: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "temperature", check_real("temperature", self.temperature, minimum=0.0, allow_inf=True)
        )
        check_real("omega", self.omega, minimum=0.0, strict_min=True)

    @property
    def nbar(self) -> float:
        r""":math:`\bar n = 1/(e^{\omega/T}-1)`."""
        return mean_occupation(self.temperature, self.omega)

    @property
    def x(self) -> float:
        r""":math:`x = e^{-\omega/T}`."""
        return boltzmann_factor(self.temperature, self.omega)

    @property
    def excited_probability(self) -> float:
        r""":math:`p_e = x/(1+x)`."""
        return excited_probability(self.temperature, self.omega)

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "omega": self.omega}


_INITIAL_KINDS = ("ground", "excited", "thermal", "eg", "matrix")


@dataclass(frozen=True, eq=False)
class InitialState:
    """Initial state of the atoms: ``ground``, ``excited``, ``thermal`` (product Gibbs at T0),
    ``eg`` (pair only) or ``matrix`` (any valid density matrix, QuTiP order)."""

    kind: str = "ground"
    temperature: float | None = None
    matrix: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in _INITIAL_KINDS:
            raise ParameterError(
                f"Argument `initial_state` must be one of {list(_INITIAL_KINDS)}, but is {self.kind!r}."
            )
        if self.kind == "thermal":
            if self.temperature is None:
                raise ParameterError("Argument `initial_temperature` is required for a thermal initial state.")
            object.__setattr__(
                self,
                "temperature",
                check_real("initial_temperature", self.temperature, minimum=0.0, allow_inf=True),
            )
        if self.kind == "matrix":
            if self.matrix is None:
                raise ParameterError("Argument `matrix` is required for initial_state='matrix'.")
            rho = check_density_matrix("initial_state", self.matrix)
            rho = np.array(rho)
            rho.setflags(write=False)
            object.__setattr__(self, "matrix", rho)

    @classmethod
    def thermal(cls, temperature: float) -> InitialState:
        return cls("thermal", temperature)

    @classmethod
    def from_matrix(cls, rho: ArrayLike) -> InitialState:
        return cls("matrix", matrix=np.asarray(rho, dtype=complex))

    @property
    def is_product_thermal(self) -> bool:
        """Ground, excited and thermal states are product thermal (excited: T0 = -0, same long-time state as ground)."""
        return self.kind in ("ground", "thermal")

    def density_matrix(self, n_atoms: int, omega: float = 1.0) -> np.ndarray:
        """The state as a dense 2^N x 2^N matrix (QuTiP order)."""
        n_atoms = check_int("atoms", n_atoms, minimum=1)
        if self.kind == "ground":
            return ground_state(n_atoms)
        if self.kind == "excited":
            return excited_state(n_atoms)
        if self.kind == "thermal":
            return thermal_state(n_atoms, self.temperature, omega)
        if self.kind == "eg":
            if n_atoms != 2:
                raise ParameterError(f"Initial state 'eg' needs exactly 2 atoms, but atoms = {n_atoms}.")
            return eg_state()
        if self.matrix.shape[0] != 2**n_atoms:
            raise ParameterError(
                f"Argument `initial_state` must be {2**n_atoms}x{2**n_atoms} for {n_atoms} atoms, "
                f"but is {self.matrix.shape[0]}x{self.matrix.shape[1]}."
            )
        return np.array(self.matrix)

    def to_dict(self) -> dict:
        out: dict = {"kind": self.kind}
        if self.temperature is not None:
            out["temperature"] = self.temperature
        if self.matrix is not None:
            out["matrix_real"] = self.matrix.real.tolist()
            out["matrix_imag"] = self.matrix.imag.tolist()
        return out


@dataclass(frozen=True)
class Collision:
    r"""One charging collision: exchange angle θ with a thermal ancilla, Trotter ordering, ancilla preparation.

    Collision-model time step (docs/physics.md §5.2): :math:`\Delta t = \theta^2/(\gamma(2\bar n+1))`.
    """

    theta: float
    ordering: str = "palindromic"
    ancilla: str = "purify"

    def __post_init__(self) -> None:
        check_real("theta", self.theta, minimum=0.0, strict_min=True, maximum=np.pi / 2)
        check_choice("ordering", self.ordering, ORDERINGS)
        check_choice("ancilla", self.ancilla, ANCILLA_METHODS)

    def time_step(self, bath: Bath, gamma: float = 1.0) -> float:
        r""":math:`\Delta t = \theta^2 / (\gamma (2\bar n + 1))`."""
        nbar = bath.nbar
        if np.isinf(nbar):
            raise ParameterError("Argument `temperature` must be finite for a collision model (Delta t = 0 at T = inf).")
        return self.theta**2 / (gamma * (2 * nbar + 1))


@dataclass(frozen=True)
class Harvest:
    r"""Probe–cluster harvesting: exchange angle θ, Poisson collision rate r, cluster size K,
    optional probe damping :math:`\gamma_p` to its own bath at :math:`T_p`, and the probe's relative
    coupling :math:`g_i` to each atom, :math:`V = \sigma_+^p J_-^{(g)} + \mathrm{h.c.}`,
    :math:`J_-^{(g)} = \sum_i g_i\sigma_-^i` (``None``: all ones, the collective :math:`J_\pm` of the paper).

    ``coupling`` is stored as a tuple of K floats (not all zero).
    """

    theta: float = 0.5
    rate: float = 1.0
    cluster_size: int = 2
    probe_gamma: float = 0.0
    probe_temperature: float = 0.0
    coupling: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        check_real("theta", self.theta, minimum=0.0, strict_min=True, maximum=np.pi)
        check_real("rate", self.rate, minimum=0.0, strict_min=True)
        k = check_int("cluster_size", self.cluster_size, minimum=1)
        check_real("probe_gamma", self.probe_gamma, minimum=0.0)
        check_real("probe_temperature", self.probe_temperature, minimum=0.0, allow_inf=True)
        object.__setattr__(self, "coupling", check_coupling(self.coupling, k))


def check_coupling(coupling: ArrayLike | None, cluster_size: int) -> tuple[float, ...]:
    """The probe coupling vector as a tuple of ``cluster_size`` finite reals, not all zero (``None``: all ones).

    Example:
        >>> check_coupling(None, 3), check_coupling([1, 0], 2)
        ((1.0, 1.0, 1.0), (1.0, 0.0))
    """
    if coupling is None:
        return (1.0,) * cluster_size
    try:
        g = np.asarray(coupling, dtype=float)
    except (TypeError, ValueError):
        raise ParameterError(
            f"Argument `coupling` must be a list of {cluster_size} real numbers (one per atom), but is {coupling!r}."
        ) from None
    if g.shape != (cluster_size,):
        raise ParameterError(
            f"Argument `coupling` must have one entry per atom ({cluster_size}), but has shape {g.shape}."
        )
    if not np.all(np.isfinite(g)):
        raise ParameterError(f"Argument `coupling` must be finite, but is {g.tolist()}.")
    if not np.any(g):
        raise ParameterError("Argument `coupling` must not be all zero (the probe would be decoupled), but is.")
    return tuple(float(x) for x in g)
