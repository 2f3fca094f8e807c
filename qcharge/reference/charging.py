r"""Collective charging, one entry point for both exact engines.

``method='dicke'`` uses the J-multiplet solver (any N, product thermal initial states,
uniform Γ and Ω); ``method='full'`` the full-space master equation (1.1) (any Γ, Ω and
initial state, N <= ~10); ``'auto'`` picks Dicke whenever it applies.
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

METHODS = ("auto", "full", "dicke")
_OBSERVABLES = ("coherence_l1", "log10_coherence_l1", "coherence_re", "energy", "heat")


def choose_method(atoms: Atoms, initial: InitialState, method: str = "auto") -> str:
    """Resolve ``method`` ('auto' -> 'dicke' when the atoms are Dicke and the state product thermal)."""
    if method not in METHODS:
        raise ParameterError(f"Argument `method` must be one of {list(METHODS)}, but is {method!r}.")
    dicke_ok = atoms.is_dicke and initial.kind in ("ground", "excited", "thermal")
    if method == "auto":
        return "dicke" if dicke_ok else "full"
    if method == "dicke" and not dicke_ok:
        raise ParameterError(
            "Argument `method` = 'dicke' needs uniform gamma_ij and Omega_ij and a ground, excited or "
            f"thermal initial state, but got is_dicke={atoms.is_dicke}, initial_state={initial.kind!r}; "
            "use method='full'."
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
) -> dict:
    r"""Observables of collective charging (PHYSICS.md 1.1) at ``times`` (units of 1/γ).

    Returns ``{'method', 'times', 'coherence_l1', 'log10_coherence_l1', 'coherence_re',
    'energy', 'heat'}`` (lists over ``times``; heat :math:`\Delta Q = E(t) - E(0)`), plus
    ``coherence_l1_error_bound`` and ``coherence_l1_status`` (Dicke method: absolute bound, and
    'certified' / 'estimate' / 'not computed' per time, see :class:`~qcharge.reference.dicke.DickeResult`) and, with
    ``long_time=True``, a ``'long_time'`` dict with the same keys for :math:`t \to \infty`.
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
        out["coherence_l1_status"] = list(res.coherence_l1_status[:n])
        if long_time:
            out["long_time"]["coherence_l1_status"] = res.coherence_l1_status[n]
        return out

    from .lindblad import evolve, long_time_state

    rho0 = initial.density_matrix(atoms.n, atoms.omega)
    states = evolve(atoms, bath, rho0, times, progress=progress) if len(times) else np.empty((0,) + rho0.shape)
    out.update(_full_observables(states, rho0, atoms.omega))
    if long_time:
        rho_inf = long_time_state(atoms, bath, rho0)
        out["long_time"] = {k: v[0] for k, v in _full_observables(rho_inf[None], rho0, atoms.omega).items()}
    return out
