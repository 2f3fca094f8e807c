"""Uniform argument checks: each raises :class:`ParameterError` naming the argument,
what was expected and what was given.

>>> check_int("atoms", 3, minimum=1)
3
>>> check_real("theta", "0.3", minimum=0.0)        # anything float() accepts
0.3
>>> check_real("theta", -0.3, minimum=0.0)
Traceback (most recent call last):
...
qcharge.exceptions.ParameterError: Argument `theta` must be >= 0.0, but is -0.3.
>>> check_int("atoms", 2.5)
Traceback (most recent call last):
...
qcharge.exceptions.ParameterError: Argument `atoms` must be an integer, but is 2.5.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .exceptions import ParameterError

__all__: list[str] = []

# Tolerance for "is this a valid density matrix": generous enough for states that came
# out of a float64 solver (errors ~1e-12), tight enough to reject a wrong matrix.
STATE_ATOL = 1e-8


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices`` (the error lists them all).

    >>> check_choice("ordering", "exact", ("palindromic", "exact"))
    'exact'
    """
    if value not in choices:
        raise ParameterError(f"Argument `{name}` must be one of {list(choices)}, but is {value!r}.")
    return value


def check_resonant(atoms, bath) -> None:
    """The bath drives the atoms' own transition: one ω for both (to 1e-12, as floats from one source are equal)."""
    if not math.isclose(bath.omega, atoms.omega, rel_tol=1e-12, abs_tol=0.0):
        raise ParameterError(
            f"Argument `bath.omega` must equal atoms.omega = {atoms.omega} (resonant bath), but is {bath.omega}."
        )


def check_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ParameterError(f"Argument `{name}` must be an integer, but is {value!r}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ParameterError(f"Argument `{name}` must be >= {minimum}, but is {value}.")
    if maximum is not None and value > maximum:
        raise ParameterError(f"Argument `{name}` must be <= {maximum}, but is {value}.")
    return value


def check_bool(name: str, value) -> bool:
    """A flag: True or False (numpy's too); anything else, e.g. the string "no", is refused."""
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"Argument `{name}` must be True or False, but is {value!r}.")
    return bool(value)


def check_real(
    name: str,
    value,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    strict_min: bool = False,
    allow_inf: bool = False,
) -> float:
    # float() would take True as 1.0: a flag passed for a number is a mistake
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"Argument `{name}` must be a real number, but is {value!r}.")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"Argument `{name}` must be a real number, but is {value!r}.") from None
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ParameterError(f"Argument `{name}` must be finite, but is {value}.")
    if minimum is not None:
        if strict_min and value <= minimum:
            raise ParameterError(f"Argument `{name}` must be > {minimum}, but is {value}.")
        if not strict_min and value < minimum:
            raise ParameterError(f"Argument `{name}` must be >= {minimum}, but is {value}.")
    if maximum is not None and value > maximum:
        raise ParameterError(f"Argument `{name}` must be <= {maximum}, but is {value}.")
    return value


# From this dimension on (N = 9) a state that commutes with N_hat is diagonalised block by block.
_BLOCK_SPECTRUM_MIN_DIM = 512


def hermitian_eigenvalues(h: np.ndarray) -> np.ndarray:
    """Eigenvalues (ascending) of a Hermitian matrix; of a 2^N x 2^N one without entries between different
    excitation numbers (it commutes with N_hat: ground, thermal, Dicke-limit states) block by block, since
    at N = 12 one 4096 x 4096 eigvalsh took 1.5-3 min on a shared core and the C(12, k) blocks ~30x fewer flops.

    >>> hermitian_eigenvalues(np.diag([0.5, 0.25, 0.25, 0.0])).tolist()
    [0.0, 0.25, 0.25, 0.5]
    """
    dim = h.shape[0]
    if dim >= _BLOCK_SPECTRUM_MIN_DIM and dim & (dim - 1) == 0:
        from .states import excitation_numbers  # states imports this module

        k = excitation_numbers(dim.bit_length() - 1)
        if not np.any(h[k[:, None] != k[None, :]]):
            blocks = (np.flatnonzero(k == j) for j in range(k.max() + 1))
            return np.sort(np.concatenate([np.linalg.eigvalsh(h[np.ix_(s, s)]) for s in blocks]))
    return np.linalg.eigvalsh(h)


def check_square(name: str, value: ArrayLike, size: int | None = None, *, dtype=complex) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ParameterError(f"Argument `{name}` must be a square matrix, but has shape {arr.shape}.")
    if size is not None and arr.shape[0] != size:
        raise ParameterError(
            f"Argument `{name}` must have shape ({size}, {size}), but has shape {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"Argument `{name}` must have finite entries.")
    return arr


def check_density_matrix(name: str, value: ArrayLike, n_qubits: int | None = None) -> np.ndarray:
    """Return ``value`` as a complex array after checking shape, trace 1, Hermiticity, positivity."""
    size = None if n_qubits is None else 2**n_qubits
    rho = check_square(name, value, size)
    dim = rho.shape[0]
    if dim & (dim - 1) or dim < 2:
        raise ParameterError(f"Argument `{name}` must have a power-of-two dimension >= 2, but has {dim}.")
    herm = float(np.max(np.abs(rho - rho.conj().T)))
    if herm > STATE_ATOL:
        raise ParameterError(
            f"Argument `{name}` must be Hermitian, but max|rho - rho^dagger| = {herm:.3g}."
        )
    tr = complex(np.trace(rho))
    if abs(tr - 1) > STATE_ATOL:
        raise ParameterError(f"Argument `{name}` must have trace 1, but has trace {tr.real:.12g}.")
    lam = float(hermitian_eigenvalues(0.5 * (rho + rho.conj().T)).min())
    if lam < -STATE_ATOL:
        raise ParameterError(
            f"Argument `{name}` must be positive semidefinite, but has eigenvalue {lam:.3g}."
        )
    return rho
