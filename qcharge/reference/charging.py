r"""Collective charging, one entry point for both exact engines.

``method='dicke'`` uses the J-multiplet solver (any N, product thermal initial states,
uniform Γ and Ω); ``method='permutation'`` the permutation-invariant solver (uniform off-diagonal
:math:`\gamma_{ij}` and :math:`\Omega_{ij}`, product thermal initial states, N up to ~100);
``method='full'`` the full-space master equation (1.1) (any Γ, Ω and initial state, N <= ~12);
``'auto'`` picks Dicke, then permutation, whenever they apply.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from .._checks import check_bool, check_resonant
from ..coherence import l1_coherence, relative_entropy_coherence
from ..exceptions import ParameterError
from ..params import Atoms, Bath, InitialState
from ..results import ChargePoint, ChargeTrace
from ..thermo import energy
from .dicke.solve import _check_times
from .dicke.thermal_l1 import DEFAULT_BUDGET_S

__all__ = ["METHODS", "DEFAULT_TIMES", "choose_method", "charge", "default_times"]

METHODS = ("auto", "full", "dicke", "permutation")
# Outside the Dicke limit the lifetime needs a dense Schur form of a C(2N, N) sector: N = 6 is 924.
_LIFETIME_MAX_ATOMS = 6
_OBSERVABLES = ("coherence_l1", "log10_coherence_l1", "coherence_re", "energy", "heat")


def _missing(atoms_ok: bool, state_ok: bool, atoms_need: str) -> str:
    """What a method lacks, in words: only the conditions that failed."""
    parts = ([] if atoms_ok else [f"{atoms_need}, but the atoms are not"]) + (
        [] if state_ok else ["a ground, excited or thermal initial state, but it is not one"])
    return " and ".join(parts)


def choose_method(atoms: Atoms, initial: InitialState, method: str = "auto") -> str:
    """Resolve ``method``: 'auto' -> 'dicke' (Dicke atoms), else 'permutation' (uniform off-diagonal Γ, Ω), else 'full'."""
    from .permutation import is_permutation_invariant

    if method not in METHODS:
        raise ParameterError(f"Argument `method` must be one of {list(METHODS)}, but is {method!r}.")
    product = initial.kind in ("ground", "excited", "thermal")
    dicke_ok = atoms.is_dicke and product
    perm_ok = product and is_permutation_invariant(atoms)
    if method == "auto":
        return "dicke" if dicke_ok else "permutation" if perm_ok else "full"
    if method == "dicke" and not dicke_ok:
        # the method that applies instead (a new user was sent to 'full', N <= ~12, where permutation served)
        instead = "'permutation' (or 'auto')" if perm_ok else "'full'"
        raise ParameterError(
            f"Argument `method` = 'dicke' needs {_missing(atoms.is_dicke, product, 'uniform gamma_ij and Omega_ij (the Dicke limit)')}; "
            f"use method={instead}."
        )
    if method == "permutation" and not perm_ok:
        raise ParameterError(
            f"Argument `method` = 'permutation' needs {_missing(is_permutation_invariant(atoms), product, 'uniform off-diagonal gamma_ij and Omega_ij')}; "
            "use method='full'."
        )
    return method


def _times(times: ArrayLike) -> np.ndarray:
    times = _check_times(times)  # solve_dicke's own check: 1-D, real, >= 0
    if np.any(np.isinf(times)):
        raise ParameterError(f"Argument `times` must be finite (the long_time switch adds t = inf), but is {times.tolist()}.")
    # Both engines then see the same contract (the full-space integrator needs ascending times).
    if np.any(np.diff(times) < 0):
        raise ParameterError(f"Argument `times` must be in ascending order, but is {times.tolist()}.")
    return times


def _full_observables(states: np.ndarray, rho0: np.ndarray, omega: float) -> dict[str, list[float]]:
    e0 = energy(rho0, omega)
    l1 = [l1_coherence(r) for r in states]
    return {
        "coherence_l1": l1,
        "log10_coherence_l1": [math.log10(c) if c > 0 else -math.inf for c in l1],
        "coherence_re": [relative_entropy_coherence(r) for r in states],
        "energy": [energy(r, omega) for r in states],
        "heat": [energy(r, omega) - e0 for r in states],
    }


def _lifetime(atoms: Atoms, bath: Bath, initial: InitialState, max_memory_gb: float) -> float | None:
    """The coherence lifetime where it is computable (Dicke limit: closed form; else N <= 6), else None."""
    from .lifetime import coherence_lifetime

    if not atoms.is_dicke and atoms.n > _LIFETIME_MAX_ATOMS:
        return None  # its Delta n = 0 sector, C(2N, N) = 3432 at N = 7, is too large for a dense spectrum
    try:
        return coherence_lifetime(atoms, bath, initial if atoms.is_dicke else initial.density_matrix(atoms.n, atoms.omega),
                                  max_memory_gb=max_memory_gb)
    except ParameterError:
        return None  # its sector is too large for a dense spectrum: reported as not computed


# Per-time columns of a trace that hold text (the C_l1 status and note), not floats.
_TEXT_COLUMNS = ("coherence_l1_status", "coherence_l1_note")


def _trace(method: str, times: np.ndarray, columns: dict, long_time: dict | None, atoms: Atoms,
           lifetime: float | None) -> ChargeTrace:
    """The record from per-time columns (one list per observable) and the optional t -> inf point."""
    values = {k: tuple(float(v) for v in col) if k not in _TEXT_COLUMNS else tuple(col) for k, col in columns.items()}
    uniform = atoms.is_dicke and atoms.dipolar == 0.0
    matrices = {} if uniform else {k: tuple(map(tuple, getattr(atoms, k).tolist())) for k in ("gamma_matrix", "dipolar_matrix")}
    return ChargeTrace(method=method, times=tuple(times.tolist()), long_time=None if long_time is None else
                       ChargePoint(**long_time), coherence_lifetime=lifetime, **matrices, **values)


# The CLI's default times for a pair (docs/physics.md §2.3), in units of the collective time (default_times):
# 0.2 catches the rise (N = 10 from ground is at 77 % of its C_l1 by 1, a new user found the rise missed).
DEFAULT_TIMES = (0.0, 0.2, 1.0, 5.0, 20.0)


def default_times(atoms: Atoms) -> list[float]:
    r"""Times (units of 1/γ) that show the dynamics: DEFAULT_TIMES in units of
    :math:`\tau = \min(1, 2/\lambda_{max}(\gamma_{ij}))`, 2 significant digits (the CLI's default).

    The collective decay runs at :math:`\lambda_{max} = N\gamma` in the Dicke limit (docs/physics.md §2.7):
    at N = 500 its dynamics are over by t ~ 0.1, so 0 1 5 20 printed the long-time state four times. A pair
    (:math:`\lambda_{max} \le 2\gamma`) keeps 0 0.2 1 5 20.

    >>> default_times(Atoms.dicke(2)), default_times(Atoms.dicke(500))
    ([0.0, 0.2, 1.0, 5.0, 20.0], [0.0, 0.0008, 0.004, 0.02, 0.08])
    """
    rate = atoms.n * atoms.gamma if atoms.is_dicke else float(np.linalg.eigvalsh(atoms.gamma_matrix).max())
    tau = min(1.0, 2.0 / rate)
    return [float(f"{t * tau:.2g}") for t in DEFAULT_TIMES]


def charge(
    atoms: Atoms,
    bath: Bath,
    initial: InitialState,
    times: ArrayLike = (),
    *,
    long_time: bool = False,
    method: str = "auto",
    l1_max_atoms: int = 2000,
    l1_budget_s: float = DEFAULT_BUDGET_S,
    max_memory_gb: float = 2.0,
    lifetime: bool = False,
    progress: bool = False,
) -> ChargeTrace:
    r"""Observables of collective charging (docs/physics.md §1.1) at ``times`` (units of 1/γ).

    Returns a :class:`~qcharge.results.ChargeTrace`: C_l1 (and its log10), C_re, energy and heat
    :math:`\Delta Q = E(t) - E(0)` per time; the Dicke method adds the C_l1 error bound and status
    ('certified' / 'estimate' / 'not computed', see :class:`~qcharge.reference.dicke.DickeResult`);
    ``long_time=True`` adds the :math:`t \to \infty` point. ``l1_max_atoms``: the Dicke solver's cap
    for the certified long-time C_l1 of thermal states, ``l1_budget_s`` the CPU seconds a certified finite-time
    C_l1 may cost; ``max_memory_gb`` caps the full-space and permutation solvers (checked before anything is
    allocated). ``lifetime=True`` adds the coherence lifetime
    (:func:`~qcharge.reference.lifetime.coherence_lifetime`; ``None`` where its dense spectrum is too large).

    >>> trace = charge(Atoms.dicke(2), Bath(1.0), InitialState("ground"), [1.0], long_time=True)
    >>> trace.method, round(trace.long_time.coherence_l1, 10)      # x/(1+x+x^2), x = e^-1
    ('dicke', 0.2447284711)
    """
    check_resonant(atoms, bath)
    method = choose_method(atoms, initial, method)
    times = _times(times)
    long_time, lifetime, progress = (check_bool(k, v) for k, v in
                                     (("long_time", long_time), ("lifetime", lifetime), ("progress", progress)))
    n = len(times)
    tau = _lifetime(atoms, bath, initial, max_memory_gb) if lifetime else None
    if method == "dicke":
        from .dicke import solve_dicke

        res = solve_dicke(atoms, bath, initial, times, long_time=long_time, l1_max_atoms=l1_max_atoms,
                          l1_budget_s=l1_budget_s, progress=progress)
        keys = _OBSERVABLES + ("coherence_l1_error_bound", "coherence_l1_relative_error_bound", "coherence_l1_status",
                               "coherence_l1_note")
        columns = {k: list(getattr(res, k)) for k in keys}
        point = {k: (columns[k][n] if k in _TEXT_COLUMNS else float(columns[k][n])) for k in keys} if long_time else None
        return _trace(method, times, {k: col[:n] for k, col in columns.items()}, point, atoms, tau)
    if method == "permutation":
        from .permutation import solve_permutation

        res = solve_permutation(atoms, bath, initial, times, long_time=long_time, max_memory_gb=max_memory_gb)
        return _trace(method, times, {k: list(getattr(res, k)) for k in _OBSERVABLES},
                      dict(res.long_time) if long_time else None, atoms, tau)

    from .lindblad import check_memory, evolve, long_time_state

    # before the 2^N x 2^N initial state is built (N = 1e9 used to spend 17 s there, then fail); the long-time
    # state is computed while the n states are held, so it adds its own two
    check_memory(atoms.n, n + 2 if long_time else n, max_memory_gb)
    rho0 = initial.density_matrix(atoms.n, atoms.omega)
    states = (
        evolve(atoms, bath, rho0, times, progress=progress, max_memory_gb=max_memory_gb)
        if n
        else np.empty((0,) + rho0.shape)
    )
    point = None
    if long_time:
        rho_inf = long_time_state(atoms, bath, rho0, max_memory_gb=max_memory_gb)
        point = {k: v[0] for k, v in _full_observables(rho_inf[None], rho0, atoms.omega).items()}
    return _trace(method, times, _full_observables(states, rho0, atoms.omega), point, atoms, tau)
