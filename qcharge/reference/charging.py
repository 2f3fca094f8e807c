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

from .._checks import check_real
from ..coherence import l1_coherence, relative_entropy_coherence
from ..exceptions import ParameterError
from ..params import Atoms, Bath, InitialState
from ..thermo import energy

__all__ = ["METHODS", "choose_method", "charge"]

METHODS = ("auto", "full", "dicke", "permutation")
_OBSERVABLES = ("coherence_l1", "log10_coherence_l1", "coherence_re", "energy", "heat")


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
        raise ParameterError(
            "Argument `method` = 'dicke' needs uniform gamma_ij and Omega_ij and a ground, excited or "
            f"thermal initial state, but got is_dicke={atoms.is_dicke}, initial_state={initial.kind!r}; "
            "use method='full'."
        )
    if method == "permutation" and not perm_ok:
        raise ParameterError(
            "Argument `method` = 'permutation' needs uniform off-diagonal gamma_ij and Omega_ij and a ground, "
            f"excited or thermal initial state, but got initial_state={initial.kind!r} and "
            f"permutation-invariant atoms = {is_permutation_invariant(atoms)}; use method='full'."
        )
    return method


def _times(times: ArrayLike) -> np.ndarray:
    times = np.atleast_1d(np.asarray(times, dtype=float))
    for t in times:
        check_real("times", t, minimum=0.0)
    # Both engines then see the same contract (the full-space integrator needs ascending times).
    if np.any(np.diff(times) < 0):
        raise ParameterError(f"Argument `times` must be in ascending order, but is {times.tolist()}.")
    return times


def _full_observables(states: np.ndarray, rho0: np.ndarray, omega: float) -> dict:
    e0 = energy(rho0, omega)
    l1 = [l1_coherence(r) for r in states]
    return {
        "coherence_l1": l1,
        "log10_coherence_l1": [math.log10(c) if c > 0 else -math.inf for c in l1],
        "coherence_re": [relative_entropy_coherence(r) for r in states],
        "energy": [energy(r, omega) for r in states],
        "heat": [energy(r, omega) - e0 for r in states],
    }


def charge(
    atoms: Atoms,
    bath: Bath,
    initial: InitialState,
    times: ArrayLike = (),
    *,
    long_time: bool = False,
    method: str = "auto",
    progress: bool = False,
    max_memory_gb: float = 2.0,
) -> dict:
    r"""Observables of collective charging (PHYSICS.md 1.1) at ``times`` (units of 1/γ).

    Returns ``{'method', 'times', 'coherence_l1', 'log10_coherence_l1', 'coherence_re',
    'energy', 'heat'}`` (lists over ``times``; heat :math:`\Delta Q = E(t) - E(0)`), plus
    ``coherence_l1_error_bound`` (Dicke method: certified absolute bound) and, with
    ``long_time=True``, a ``'long_time'`` dict with the same keys for :math:`t \to \infty`.
    ``max_memory_gb`` caps the full-space solver (checked before anything is allocated).
    """
    if bath.omega != atoms.omega:
        raise ParameterError(f"Argument `bath.omega` must equal atoms.omega = {atoms.omega}, but is {bath.omega}.")
    method = choose_method(atoms, initial, method)
    times = _times(times)
    out: dict = {"method": method, "times": times.tolist()}
    if method == "dicke":
        from .dicke import solve_dicke

        res = solve_dicke(atoms, bath, initial, times, long_time=long_time, progress=progress)
        keys = _OBSERVABLES + ("coherence_l1_error_bound",)
        n = len(times)
        for key in keys:
            values = np.asarray(getattr(res, key), dtype=float)
            out[key] = values[:n].tolist()
            if long_time:
                out.setdefault("long_time", {})[key] = float(values[n])
        return out
    if method == "permutation":
        from .permutation import solve_permutation

        res = solve_permutation(atoms, bath, initial, times, long_time=long_time, max_memory_gb=max_memory_gb)
        for key in _OBSERVABLES:
            out[key] = list(getattr(res, key))
        if long_time:
            out["long_time"] = dict(res.long_time)
        return out

    from .lindblad import check_memory, evolve, long_time_state

    # before the 2^N x 2^N initial state is built (N = 1e9 used to spend 17 s there, then fail)
    check_memory(atoms.n, max(len(times), 2 if long_time else 0), max_memory_gb)
    rho0 = initial.density_matrix(atoms.n, atoms.omega)
    states = (
        evolve(atoms, bath, rho0, times, progress=progress, max_memory_gb=max_memory_gb)
        if len(times)
        else np.empty((0,) + rho0.shape)
    )
    out.update(_full_observables(states, rho0, atoms.omega))
    if long_time:
        rho_inf = long_time_state(atoms, bath, rho0, max_memory_gb=max_memory_gb)
        out["long_time"] = {k: v[0] for k, v in _full_observables(rho_inf[None], rho0, atoms.omega).items()}
    return out
