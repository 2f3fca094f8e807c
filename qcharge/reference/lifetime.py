r"""Coherence lifetime: the slowest decay rate of the Liouvillian modes an initial state excites.

Each :math:`\Delta n` sector of (1.1) evolves on its own (:mod:`qcharge.reference.lindblad`), so with the
eigen-decomposition :math:`\mathcal L_d r_k = \lambda_k r_k`, :math:`l_k^\dagger\mathcal L_d = \lambda_k l_k^\dagger`
of every sector present in :math:`\rho_0`,

.. math::

    \rho(t) = \sum_k c_k e^{\lambda_k t} r_k,\qquad c_k = \frac{l_k^\dagger\rho_0}{l_k^\dagger r_k},\qquad
    \tau = 1/\min\{-\mathrm{Re}\,\lambda_k : c_k \neq 0,\ r_k \text{ not the Gibbs state}\}.

The product Gibbs state is always stationary (detailed balance); when it is the only zero mode the state
relaxes to it and :math:`\tau` is finite. When :math:`\rho_0` also excites another zero mode (the degenerate
kernel of the Dicke limit, docs/physics.md §1.3, or an undamped :math:`\Delta n\neq 0` coherence) part of
:math:`\rho_0` never decays: :math:`\tau = \infty`, the coherence is **protected**. Near the Dicke limit the
protection is only approximate: for a pair with :math:`\gamma_{12} = \gamma(1-\epsilon)` the slowest mode
is the antisymmetric channel, rate :math:`\approx (\gamma-\gamma_{12})(2\bar n+1)`, so the coherence
survives :math:`\tau\approx 1/[\epsilon\gamma(2\bar n+1)]` and then goes.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg
from scipy.linalg import lapack
from numpy.typing import ArrayLike

from .._checks import check_real
from ..exceptions import ConvergenceError, ParameterError
from ..params import Atoms, Bath, InitialState
from ..states import thermal_state
from .lindblad import _check_model, _check_state, _present_sectors, _sector_liouvillian, sector_indices

__all__ = ["coherence_lifetime", "dicke_lifetime", "excited_rates"]

# The dense Schur route holds ~5 D x D complex arrays (matrix, T, Z and the reordered copies).
_SCHUR_ARRAYS = 5
# Rates below ZERO_RTOL * ||L||_inf are zero: eigenvalues of a non-normal matrix carry errors
# ~ eps ||L|| cond(lambda), and 1e-10 leaves 6 orders of magnitude of headroom for cond(lambda).
ZERO_RTOL = 1e-10
# Eigenvalues whose real parts differ by less than this (relative to ||L||) form one rate level: their
# spectral projector is computed together (a Sylvester equation across a tiny gap is ill-conditioned).
LEVEL_RTOL = 1e-8
# A mode is excited when its component |c_k| ||r_k|| exceeds this fraction of ||rho_0||: modes forbidden by a
# symmetry (e.g. the antisymmetric ones from |g...g> with a symmetric Gamma) get ~1e-16 cond from round-off.
EXCITED_RTOL = 1e-8
# The stationary part of rho0 is "the Gibbs state" within this Frobenius distance: both are O(1) vectors
# from a dense eigen-decomposition, accurate to ~1e-13 for well-conditioned kernels.
STATIONARY_ATOL = 1e-7


def _sector_schur(atoms: Atoms, nbar: float, d: int, max_memory_gb: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Complex Schur form ``(T, Z)`` of the dense sector Liouvillian and its infinity norm (size checked first)."""
    rows, _ = sector_indices(atoms.n, d)
    dim = len(rows)
    need = _SCHUR_ARRAYS * 16 * dim * dim / 1e9
    if need > max_memory_gb:
        raise ParameterError(
            f"Argument `atoms` is too large: the dense Schur decomposition of the Delta n = {d} sector "
            f"(dimension {dim}) for atoms = {atoms.n} needs about {need:.3g} GB (limit {max_memory_gb:g} GB)."
        )
    mat, anorm = _sector_liouvillian(atoms, nbar, d)
    t, z = scipy.linalg.schur(mat.toarray(), output="complex")
    return t, z, anorm


def _spectral_part(t: np.ndarray, z: np.ndarray, select: np.ndarray, vec: np.ndarray) -> np.ndarray:
    r"""Component of ``vec`` in the invariant subspace of the selected eigenvalues (the spectral projector).

    Reorder the Schur form so the selected eigenvalues come first, :math:`T = [[T_{11}, T_{12}], [0, T_{22}]]`,
    and solve :math:`T_{11}X - XT_{22} = -T_{12}`; the projector is :math:`Z[[1, -X], [0, 0]]Z^\dagger`.
    Exact for Jordan blocks too (no eigenvectors are used).
    """
    if not np.any(select):
        return np.zeros_like(vec)
    if np.all(select):
        return vec.copy()
    ts, zs, _, k, _, _, info = lapack.ztrsen(select.astype(np.int32), t, z, job="N")
    if info != 0:
        raise ConvergenceError(f"Schur reordering (LAPACK ztrsen) failed with info = {info}.")
    x, scale, info = lapack.ztrsyl(ts[:k, :k], ts[k:, k:], -ts[:k, k:], isgn=-1)
    if info < 0:
        raise ConvergenceError(f"Sylvester solve (LAPACK ztrsyl) failed with info = {info}.")
    y = zs.conj().T @ vec
    return zs[:, :k] @ (y[:k] - (x / scale) @ y[k:])


def _rate_levels(rates: np.ndarray, anorm: float) -> list[tuple[float, float]]:
    """Rate levels ``(rate, cut)``, ascending: the kernel (rate 0, every rate <= ZERO_RTOL ||L||) first, then
    clusters of the other rates -Re(lambda) with gaps <= LEVEL_RTOL ||L|| (rate = smallest, cut = largest)."""
    scale = max(anorm, 1e-300)
    zero = ZERO_RTOL * scale
    rates = np.sort(rates)
    levels = [(0.0, zero)] if rates[0] <= zero else []
    rest = rates[rates > zero]
    start = 0
    for i in range(1, len(rest) + 1):
        if i == len(rest) or rest[i] - rest[i - 1] > LEVEL_RTOL * scale:
            levels.append((float(rest[start]), float(rest[i - 1])))
            start = i
    return levels


def _walk_levels(atoms: Atoms, bath: Bath, rho0: ArrayLike, max_memory_gb: float, stop_at_first: bool):
    """Yield ``(delta_n, rate, component)`` for every rate level of every present sector, slowest first."""
    nbar = _check_model(atoms, bath)
    if math.isinf(nbar):
        raise ParameterError("Argument `bath.temperature` must be finite for a lifetime, but is inf (nbar = inf).")
    max_memory_gb = check_real("max_memory_gb", max_memory_gb, minimum=0.0, strict_min=True, allow_inf=True)
    rho = _check_state(rho0, atoms)
    for d, _, _, vec in _present_sectors(rho, atoms.n, tol=1e-10):
        t, z, anorm = _sector_schur(atoms, nbar, d, max_memory_gb)
        rates = -np.diag(t).real
        previous = np.zeros_like(vec)
        for rate, cut in _rate_levels(rates, anorm):
            cumulative = _spectral_part(t, z, rates <= cut, vec)
            part = cumulative - previous
            previous = cumulative
            yield d, rate, part
            if stop_at_first and rate > 0 and np.linalg.norm(part) > EXCITED_RTOL * np.linalg.norm(vec):
                break


def excited_rates(
    atoms: Atoms, bath: Bath, rho0: ArrayLike, *, max_memory_gb: float = 2.0
) -> list[tuple[int, float, float]]:
    r"""Every decay rate :math:`\rho_0` excites: ``(delta_n, rate, weight)``, slowest first.

    ``rate`` = :math:`-\mathrm{Re}\,\lambda` (0 for the stationary part), ``weight`` = the Frobenius norm of
    :math:`\rho_0`'s component on that rate's invariant subspace over that of the sector's part of
    :math:`\rho_0`; levels with weight :math:`\le` ``EXCITED_RTOL`` are left out. Sectors
    :math:`\Delta n = d > 0` stand for their mirror :math:`-d` too.

    Example:
        >>> from qcharge import Atoms, Bath
        >>> from qcharge.states import ground_state
        >>> [round(m[1], 6) for m in excited_rates(Atoms.independent(1), Bath(1.0), ground_state(1))]
        [0.0, 2.163953]

    (0: the Gibbs state; :math:`\gamma(2\bar n+1) = \coth(1/2)`.)
    """
    out = []
    for d, rate, part in _walk_levels(atoms, bath, rho0, max_memory_gb, stop_at_first=False):
        rows, cols = sector_indices(atoms.n, d)
        ref = np.linalg.norm(_check_state(rho0, atoms)[rows, cols])
        weight = float(np.linalg.norm(part) / ref)
        if weight > EXCITED_RTOL:
            out.append((d, rate, weight))
    out.sort(key=lambda m: m[1])
    return out


def coherence_lifetime(atoms: Atoms, bath: Bath, rho0: ArrayLike, *, max_memory_gb: float = 2.0) -> float:
    r"""Coherence lifetime :math:`\tau` (units of :math:`1/\gamma` for ``atoms.gamma = 1``); ``inf`` when protected.

    The slowest decay rate of the non-stationary modes that ``rho0`` excites (see the module docstring):
    :math:`\tau = \infty` when the stationary part of ``rho0`` is not the Gibbs state (Dicke limit from a
    product thermal state at :math:`T_0\neq T`) or an undamped :math:`\Delta n \neq 0` coherence is
    present. Dense Schur decomposition of each present sector, cost :math:`O(D^3)` with
    :math:`D = \binom{2N}{N}` for :math:`\Delta n = 0` (924 at N = 6, 3432 at N = 7); sectors beyond
    ``max_memory_gb`` are refused before allocating. Rates
    below ``ZERO_RTOL`` :math:`\|\mathcal L\|_\infty` count as zero, so lifetimes beyond about
    :math:`10^{10}/\|\mathcal L\|_\infty` read as ``inf``.

    Dicke limit with an :class:`~qcharge.params.InitialState` of kind ground, excited or thermal: closed
    form, any N (:func:`dicke_lifetime`); pass the density matrix instead to force the spectral route.

    Example:
        >>> from qcharge import Atoms, Bath
        >>> from qcharge.states import ground_state
        >>> coherence_lifetime(Atoms.dicke(2), Bath(1.0), ground_state(2))
        inf
        >>> round(coherence_lifetime(Atoms.pair(0.9999), Bath(1.0), ground_state(2)), 1)   # 1/(1e-4 * 2.6935)
        3712.6
    """
    if isinstance(rho0, InitialState) and rho0.kind in _PRODUCT_KINDS and isinstance(atoms, Atoms) and atoms.is_dicke:
        return dicke_lifetime(atoms, bath, rho0)
    gibbs = thermal_state(atoms.n, bath.temperature, atoms.omega)
    slowest = math.inf
    for d, rate, part in _walk_levels(atoms, bath, rho0, max_memory_gb, stop_at_first=True):
        rows, cols = sector_indices(atoms.n, d)
        ref = max(float(np.linalg.norm(_check_state(rho0, atoms)[rows, cols])), 1e-300)
        if rate == 0.0:
            target = gibbs[rows, cols] if d == 0 else np.zeros_like(part)
            if np.linalg.norm(part - target) > STATIONARY_ATOL:
                return math.inf  # part of rho0 never decays: protected
        elif np.linalg.norm(part) > EXCITED_RTOL * ref:
            slowest = min(slowest, rate)
    return 1.0 / slowest if math.isfinite(slowest) else math.inf


_PRODUCT_KINDS = ("ground", "excited", "thermal")


def dicke_lifetime(atoms: Atoms, bath: Bath, initial: InitialState) -> float:
    r"""Closed-form lifetime in the Dicke limit (uniform :math:`\gamma_{ij} = \gamma`, uniform :math:`\Omega`) from a
    product state of excitation probability :math:`p_0` (ground, excited or thermal at :math:`T_0`), any N.

    The weight of every J-multiplet is conserved (docs/physics.md §1.3) and for N >= 2 it is a strictly monotonic
    function of :math:`p_0(1-p_0)` (e.g. the singlet weight :math:`p_0(1-p_0)` of a pair), so the stationary
    part is the Gibbs state only when :math:`p_0 \in \{p_T, 1 - p_T\}` with :math:`p_0 = p_T` meaning
    :math:`\rho_0` *is* the Gibbs state (nothing decays). Hence :math:`\tau = \infty` except from
    :math:`|e\ldots e\rangle` at T = 0, which cascades down the symmetric multiplet to :math:`|g\ldots g\rangle`
    with rates :math:`\gamma(J+M)(J-M+1)`, the slowest :math:`N\gamma` (its two ends): :math:`\tau = 1/(N\gamma)`.
    One atom: :math:`\tau = 1/(\gamma(2\bar n+1))` unless :math:`\rho_0` is the Gibbs state.

    Example:
        >>> from qcharge import Atoms, Bath, InitialState
        >>> dicke_lifetime(Atoms.dicke(10**5), Bath(1.0), InitialState()), dicke_lifetime(
        ...     Atoms.dicke(4), Bath(0.0), InitialState("excited"))
        (inf, 0.25)
    """
    nbar = _check_model(atoms, bath)
    if math.isinf(nbar):
        raise ParameterError("Argument `bath.temperature` must be finite for a lifetime, but is inf (nbar = inf).")
    if not atoms.is_dicke:
        raise ParameterError("Argument `atoms` must be in the Dicke limit (uniform gamma_ij and Omega_ij), but is not.")
    if initial.kind not in _PRODUCT_KINDS:
        raise ParameterError(
            f"Argument `initial` must be one of {list(_PRODUCT_KINDS)} for the closed form, but is {initial.kind!r}."
        )
    p0 = {"ground": 0.0, "excited": 1.0}.get(initial.kind)
    if p0 is None:
        is_gibbs = initial.temperature == bath.temperature
    else:
        is_gibbs = p0 == 0.0 and bath.temperature == 0.0
    if is_gibbs:
        return math.inf  # nothing to decay
    if atoms.n == 1:
        return 1.0 / (atoms.gamma * (2.0 * nbar + 1.0))
    if initial.kind == "excited" and bath.temperature == 0.0:
        return 1.0 / (atoms.n * atoms.gamma)
    return math.inf
