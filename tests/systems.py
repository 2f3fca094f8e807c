r"""Closed forms the tests share, each written once from its formula in docs/physics.md.

They use only ``math`` and NumPy, never qcharge's solvers, so a test that compares the package
with them compares two independent computations. Units: ħ = k_B = 1, ω = 1 unless given.

>>> round(pair_l1_from_ground(1.0), 10)                          # (2.3): x/(1+x+x^2) at T = ω
0.2447284711
>>> [round(p, 10) for p in pair_populations(1.0, 0.5)[1:3]]      # (2.4): p_S, p_A for T0 = ω/2
[0.2190335514, 0.1049935854]
>>> round(dephased_pair_teff(1.0), 6)                             # §4.1: the dephased twin is colder
0.763038
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "S_VEC",
    "A_VEC",
    "boltzmann_factor",
    "mean_occupation",
    "excited_probability",
    "pair_l1_from_ground",
    "pair_populations",
    "pair_l1",
    "charged_pair",
    "dicke_ground_l1",
    "dicke_ground_excitations",
    "charged_ground_cluster",
    "dephased_pair_teff",
    "pair_teff",
    "trace_distance",
]

# |S> = (|eg> + |ge>)/sqrt2 and the singlet |A> = (|eg> - |ge>)/sqrt2 in QuTiP order (|eg> = index 2).
S_VEC = np.array([0.0, 1.0, 1.0, 0.0]) / math.sqrt(2.0)
A_VEC = np.array([0.0, -1.0, 1.0, 0.0]) / math.sqrt(2.0)


def boltzmann_factor(temperature: float, omega: float = 1.0) -> float:
    r""":math:`x = e^{-\omega/T}`: 0 at T = 0, 1 at T = inf (§0)."""
    if temperature == 0.0:
        return 0.0
    return math.exp(-omega / temperature)


def mean_occupation(temperature: float, omega: float = 1.0) -> float:
    r""":math:`\bar n = 1/(e^{\omega/T} - 1)`: 0 at T = 0, inf at T = inf (§0).

    >>> round(mean_occupation(1.0), 10)
    0.5819767069
    """
    if temperature == 0.0:
        return 0.0
    if math.isinf(temperature):
        return math.inf
    return 1.0 / math.expm1(omega / temperature)


def excited_probability(temperature: float, omega: float = 1.0) -> float:
    r""":math:`p_e = 1/(1 + e^{\omega/T}) = x/(1+x)`: 0 at T = 0, 1/2 at T = inf (§0)."""
    x = boltzmann_factor(temperature, omega)
    return x / (1.0 + x)


def pair_l1_from_ground(temperature: float) -> float:
    r"""Long-time :math:`C_{l1}` of a Dicke pair started in |gg⟩, :math:`x/(1+x+x^2)` (2.3).

    Equivalently :math:`\bar n(\bar n+1)/(3\bar n^2+3\bar n+1)`; 1/3 at T = inf.

    >>> nb = mean_occupation(2.0)
    >>> abs(pair_l1_from_ground(2.0) - nb * (nb + 1) / (3 * nb * nb + 3 * nb + 1)) < 1e-15
    True
    >>> pair_l1_from_ground(float("inf"))
    0.3333333333333333
    """
    x = boltzmann_factor(temperature)
    return x / (1.0 + x + x * x)


def pair_populations(temperature: float, initial_temperature: float = 0.0) -> tuple[float, float, float, float]:
    r"""Long-time weights :math:`(p_{gg}, p_S, p_A, p_{ee})` of a Dicke pair from a product thermal state (2.4).

    The singlet keeps :math:`p_A = p_{e0} p_{g0}`; the triplet weight :math:`1 - p_A` is shared
    :math:`\propto (1, x, x^2)` by (|gg⟩, |S⟩, |ee⟩).
    """
    x = boltzmann_factor(temperature)
    pe0 = excited_probability(initial_temperature)
    p_a = pe0 * (1.0 - pe0)
    z = 1.0 + x + x * x
    return (1.0 - p_a) / z, (1.0 - p_a) * x / z, p_a, (1.0 - p_a) * x * x / z


def pair_l1(temperature: float, initial_temperature: float = 0.0) -> float:
    r"""Long-time :math:`C_{l1} = |p_S - p_A|` of a Dicke pair from a product thermal state (2.4).

    >>> round(pair_l1(1.0, 0.5), 10)
    0.114039966
    """
    _, p_s, p_a, _ = pair_populations(temperature, initial_temperature)
    return abs(p_s - p_a)


def charged_pair(temperature: float, initial_temperature: float = 0.0) -> np.ndarray:
    r"""The Dicke-limit long-time state of a pair as a 4x4 matrix (QuTiP order), built from (2.4).

    >>> rho = charged_pair(1.0)
    >>> round(float(np.trace(rho).real), 12), round(float(2 * rho[1, 2].real), 10)   # C_l1 = 2 ρ_{eg,ge}
    (1.0, 0.2447284711)
    """
    p_gg, p_s, p_a, p_ee = pair_populations(temperature, initial_temperature)
    rho = np.zeros((4, 4), dtype=complex)
    rho[0, 0], rho[3, 3] = p_gg, p_ee
    rho += p_s * np.outer(S_VEC, S_VEC) + p_a * np.outer(A_VEC, A_VEC)
    return rho


def dicke_ground_l1(n_atoms: int, temperature: float) -> float:
    r"""Long-time :math:`C_{l1} = (1-x)(1+x)^N/(1-x^{N+1}) - 1` from :math:`|g\dots g\rangle` (2.3).

    >>> abs(dicke_ground_l1(2, 1.0) - pair_l1_from_ground(1.0)) < 1e-15
    True
    """
    x = boltzmann_factor(temperature)
    return (1.0 - x) * (1.0 + x) ** n_atoms / (1.0 - x ** (n_atoms + 1)) - 1.0


def dicke_ground_excitations(n_atoms: int, temperature: float) -> float:
    r"""Long-time :math:`\langle\hat N\rangle = x/(1-x) - (N+1)x^{N+1}/(1-x^{N+1})` from |g…g⟩ (2.3)."""
    x = boltzmann_factor(temperature)
    return x / (1.0 - x) - (n_atoms + 1) * x ** (n_atoms + 1) / (1.0 - x ** (n_atoms + 1))


def _dicke_vector(n_atoms: int, k: int) -> np.ndarray:
    ones = np.array([bin(i).count("1") == k for i in range(2**n_atoms)], dtype=float)
    return ones / math.sqrt(ones.sum())


def charged_ground_cluster(n_atoms: int, temperature: float) -> np.ndarray:
    r""":math:`\sum_k x^k |D_k\rangle\langle D_k|` normalised: the long-time state from |g…g⟩ (2.3).

    >>> bool(np.allclose(charged_ground_cluster(2, 1.0), charged_pair(1.0), atol=1e-15))
    True
    """
    x = boltzmann_factor(temperature)
    rho = sum(x**k * np.outer(_dicke_vector(n_atoms, k), _dicke_vector(n_atoms, k)) for k in range(n_atoms + 1))
    return (rho / np.trace(rho)).astype(complex)


def dephased_pair_teff(temperature: float) -> float:
    r"""T_eff of the dephased twin of the pair charged from |gg⟩: :math:`e^{-1/T_{eff}} = x(1+2x)/(2+x)` (§4.1)."""
    x = boltzmann_factor(temperature)
    return -1.0 / math.log(x * (1.0 + 2.0 * x) / (2.0 + x))


def pair_teff(p0: float, p1: float, p2: float, c: float) -> float:
    r"""T_eff of a pair with populations (p0, p1, p2) and real coherence :math:`c = \rho_{eg,ge}` (4.7).

    >>> p0, p_s, p_a, p2 = pair_populations(1.0)       # from |gg>: p_A = 0, so p1 = p_S
    >>> round(pair_teff(p0, p_s + p_a, p2, (p_s - p_a) / 2), 12)   # the charged pair is at T = 1
    1.0
    >>> round(pair_teff(p0, p_s + p_a, p2, 0.0), 6)                # its dephased twin
    0.763038
    """
    return 1.0 / math.log((2.0 * p0 + p1 + 2.0 * c) / (p1 + 2.0 * p2 + 2.0 * c))


def trace_distance(a: np.ndarray, b: np.ndarray) -> float:
    r""":math:`\tfrac12 \lVert a - b \rVert_1` of two Hermitian matrices."""
    return 0.5 * float(np.abs(np.linalg.eigvalsh(np.asarray(a) - np.asarray(b))).sum())
