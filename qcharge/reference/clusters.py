r"""K-atom clusters in the Dicke basis: the probe's T_eff for charged, dephased and optimally coherent clusters
(docs/physics.md §4.2), any K up to :data:`MAX_BLOCK_ATOMS`.

Every cluster here is *Dicke-diagonal*: :math:`\rho_c = \sum_{j,k} (q_{j,k}/d_J)\,\Pi_{j,k}` with block
probabilities :math:`q_{j,k}` (the layout of :mod:`qcharge.reference.dicke`: :math:`J = K/2 - j`, k excitations).
The coupling :math:`\sigma_+^pJ_- + \mathrm{h.c.}` only moves :math:`|g\rangle|J,M\rangle \leftrightarrow
|e\rangle|J,M-1\rangle`, a two-level exchange of Rabi frequency :math:`\sqrt{a_{j,k}}`,
:math:`a_{j,k} = (J+M)(J-M+1) = (k-j)(K-j-k+1)`, so one collision moves the probe populations by

.. math::
    p_e' = p_e + u\,p_g - d\,p_e,\qquad u = \sum q_{j,k}\sin^2(\theta\sqrt{a_{j,k}}),\quad
    d = \sum q_{j,k}\sin^2(\theta\sqrt{b_{j,k}}),\quad b_{j,k} = (K-j-k)(k-j+1),

exactly, at every θ (the exact map (4.2) in closed form), and at second order :math:`u, d \to \theta^2
\langle J_+J_-\rangle, \theta^2\langle J_-J_+\rangle` (4.5). The families (``kind``), all built from the cluster
charged by a bath at T from ``initial`` (or at the bath temperature that gives it the energy ``energy``):

* ``charged``: the long-time state (2.1); T_eff = T exactly (§4.1 theorem).
* ``dephased``: its computational-basis diagonal, :math:`q_{j,k} = d_J W_k/\binom{K}{k}` (C = 0).
* ``optimal``: the same populations with the coherence that maximises :math:`\langle J_+J_-\rangle`,
  :math:`\sum_k W_k|D_k\rangle\langle D_k|` (4.9); from the ground state this *is* the charged cluster.
* ``optimal-energy``: the same energy :math:`\langle\hat N\rangle = n`, maximal :math:`\langle J_+J_-\rangle`:
  :math:`|D_{\lfloor n\rfloor}\rangle` and :math:`|D_{\lfloor n\rfloor+1}\rangle` mixed to mean n (4.10).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike

from .._checks import check_choice, check_int, check_real
from ..exceptions import ParameterError
from ..params import Atoms, Bath, Harvest, InitialState
from ..results import ClusterTeff
from .dicke.combinatorics import _log_binom, _log_degeneracies
from .dicke.long_time import long_time_block_probabilities
from .dicke.solve import _physical_inputs
from .probe import _probe_nbar, _teff_from_rates

__all__ = [
    "CLUSTER_KINDS",
    "MAX_BLOCK_ATOMS",
    "cluster_blocks",
    "cluster_density_matrix",
    "cluster_teff",
    "bath_for_energy",
    "max_jp_jm",
    "optimal_teff_second_order",
    "fit_power_law",
]

CLUSTER_KINDS = ("charged", "dephased", "optimal", "optimal-energy")
# The block tables have (K/2 + 1)(K + 1) entries: 2.1e6 floats (17 MB) each at K = 2048.
MAX_BLOCK_ATOMS = 2048


# ----------------------------------------------------------------------------------------------------------------------
# block tables


def _check_k(cluster_size) -> int:
    return check_int("cluster_size", cluster_size, minimum=1, maximum=MAX_BLOCK_ATOMS)


def _strengths(k_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`a_{j,k} = \langle J_+J_-\rangle` and :math:`b_{j,k} = \langle J_-J_+\rangle` on block (j, k); 0 outside."""
    j = np.arange(k_atoms // 2 + 1)[:, None]
    k = np.arange(k_atoms + 1)[None, :]
    inside = (k >= j) & (k <= k_atoms - j)
    a = np.where(inside, (k - j) * (k_atoms - j - k + 1), 0).astype(float)
    b = np.where(inside, (k_atoms - j - k) * (k - j + 1), 0).astype(float)
    return a, b


def _charged_blocks(k_atoms: int, bath: Bath, initial: InitialState) -> np.ndarray:
    _, x, _, pe0 = _physical_inputs(Atoms.dicke(k_atoms, omega=bath.omega), bath, initial)
    return long_time_block_probabilities(k_atoms, x, pe0)


def _symmetric(k_atoms: int, weights: np.ndarray) -> np.ndarray:
    """All weight in J = K/2: sector k carries ``weights[k]`` on the Dicke state |D_k>."""
    q = np.zeros((k_atoms // 2 + 1, k_atoms + 1))
    q[0] = weights
    return q


def _two_point(k_atoms: int, n: float) -> np.ndarray:
    r"""Sector weights on :math:`\lfloor n\rfloor` and :math:`\lfloor n\rfloor + 1` with mean n (4.10)."""
    lo = min(int(math.floor(n)), k_atoms)
    frac = n - lo
    w = np.zeros(k_atoms + 1)
    w[lo] = 1.0 - frac
    if frac > 0.0:
        w[lo + 1] = frac
    return w


def cluster_blocks(kind: str, cluster_size: int, bath: Bath, initial: InitialState | None = None) -> np.ndarray:
    r"""Block probabilities :math:`q_{j,k}` of a ``kind`` cluster (module docstring), shape ``(K//2 + 1, K + 1)``.

    Args:
        kind: one of :data:`CLUSTER_KINDS`.
        cluster_size: K, 1 <= K <= :data:`MAX_BLOCK_ATOMS`.
        bath: the bath that charged the reference cluster (Dicke limit, resonant).
        initial: the atoms' state before charging (product thermal; default ground).

    Example:
        >>> from qcharge import Bath
        >>> q = cluster_blocks("dephased", 2, Bath(1.0))   # triplet and singlet share the middle sector
        >>> round(float(q[0, 1]), 6), round(float(q[1, 1]), 6)
        (0.122364, 0.122364)
    """
    kind = check_choice("cluster", kind, CLUSTER_KINDS)
    k_atoms = _check_k(cluster_size)
    q = _charged_blocks(k_atoms, bath, InitialState() if initial is None else initial)
    if kind == "charged":
        return q
    w = q.sum(axis=0)  # W_k, the probability of k excitations
    if kind == "dephased":
        # Delta rho = sum_k W_k Pi_k / C(K, k) (every diagonal element of sector k is equal by symmetry)
        # and Pi_k = sum_j Pi_{j,k}, of rank d_J: q_{j,k} = d_J W_k / C(K, k).
        j = np.arange(k_atoms // 2 + 1)[:, None]
        k = np.arange(k_atoms + 1)[None, :]
        inside = (k >= j) & (k <= k_atoms - j)
        log_ratio = np.where(inside, _log_degeneracies(k_atoms)[:, None] - _log_binom(k_atoms, k), -np.inf)
        return np.exp(log_ratio) * w[None, :]
    if kind == "optimal":
        return _symmetric(k_atoms, w)
    return _symmetric(k_atoms, _two_point(k_atoms, float(np.dot(np.arange(k_atoms + 1), w))))


def cluster_density_matrix(kind: str, cluster_size: int, bath: Bath, initial: InitialState | None = None) -> np.ndarray:
    r"""Dense :math:`2^K\times 2^K` matrix (QuTiP order) of :func:`cluster_blocks`, K <= 12 (for the exact map).

    The multiplicity copies of each J are weighted equally (the probe cannot tell them apart).
    """
    from .dicke.dense import _MAX_DENSE_ATOMS, _dense_from_q

    k_atoms = check_int("cluster_size", cluster_size, minimum=1, maximum=_MAX_DENSE_ATOMS)
    return _dense_from_q(k_atoms, cluster_blocks(kind, k_atoms, bath, initial))


def _energy(q: np.ndarray) -> float:
    return float(np.dot(q.sum(axis=0), np.arange(q.shape[1])))


def bath_for_energy(cluster_size: int, energy: float, initial: InitialState | None = None, omega: float = 1.0) -> Bath:
    r"""The bath whose charged cluster (2.1) from ``initial`` has :math:`\langle\hat N\rangle` = ``energy``.

    :math:`\langle\hat N\rangle` falls monotonically from K/2 (T = ∞) to :math:`\sum_J P_J j` (T = 0), so the
    root in :math:`\ln(\omega/T)` is unique (Brent, to ~1e-14 relative in T).

    Example:
        >>> round(bath_for_energy(9, 4.0).temperature, 4)   # ~ K(K+2)/6 = 16.5 for half an excitation below K/2
        16.3976
    """
    k_atoms = _check_k(cluster_size)
    initial = InitialState() if initial is None else initial
    energy = check_real("energy", energy)
    omega = check_real("omega", omega, minimum=0.0, strict_min=True)

    def n_of(log_u: float) -> float:
        return _energy(_charged_blocks(k_atoms, Bath(omega / math.exp(log_u), omega), initial))

    # T = e^60 omega (<N> within ~1e-26 K^2 of K/2) .. omega/600 (<N> within ~e^-600 of its T = 0 value; the
    # largest omega/T whose nbar = 1/expm1(omega/T) does not overflow is ~709)
    lo, hi = -60.0, math.log(600.0)
    n_hot, n_cold = n_of(lo), n_of(hi)
    if not n_cold < energy < n_hot:
        raise ParameterError(
            f"Argument `energy` must lie strictly between {n_cold:.6g} (the charged cluster at T -> 0) and K/2 = "
            f"{k_atoms / 2:g} (T = inf) for a bath at positive temperature, but is {energy!r}."
        )
    log_u = scipy.optimize.brentq(lambda s: n_of(s) - energy, lo, hi, xtol=1e-15, rtol=1e-15)
    return Bath(omega / math.exp(log_u), omega)


# ----------------------------------------------------------------------------------------------------------------------
# the probe


def _rates(q: np.ndarray, k_atoms: int, theta: float) -> tuple[float, float, float, float]:
    """(A, B - A, u, d - u): <J+J->, <J-J+> - <J+J->, and the exact transfers of (4.8).

    The differences are summed term by term, not subtracted at the end: b - a = K - 2k exactly, and
    sin^2 y - sin^2 x = sin(y - x) sin(y + x) with y - x = theta (b - a)/(sqrt a + sqrt b). Near half filling
    B - A ~ 1 while A ~ K^2/4, so a final subtraction would lose log10(A) digits of T_eff.
    """
    a, b = _strengths(k_atoms)
    diff = np.where(q > 0, k_atoms - 2.0 * np.arange(k_atoms + 1)[None, :], 0.0)
    ra, rb = np.sqrt(a), np.sqrt(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(ra + rb > 0, diff / (ra + rb), 0.0)
    up = float(np.sum(q * np.sin(theta * ra) ** 2))
    up_diff = float(np.sum(q * np.sin(theta * half) * np.sin(theta * (ra + rb))))
    return float(np.sum(q * a)), float(np.sum(q * diff)), up, up_diff


def _teff(up: float, diff: float, omega: float) -> float:
    r"""T for weights (up, up + diff): the branches of :func:`_teff_from_rates`, the finite value as
    :math:`\omega/\mathrm{log1p}(\mathrm{diff}/\mathrm{up})` (no cancellation when up ≈ down)."""
    # down = up + diff >= 0; the term-by-term sums can leave -1 ulp where down vanishes (fully excited cluster)
    t = _teff_from_rates(up, max(up + diff, 0.0), omega, what="cluster")
    return omega / math.log1p(diff / up) if math.isfinite(t) and t != 0.0 else t


def cluster_teff(
    kind: str,
    harvest: Harvest,
    bath: Bath | None = None,
    initial: InitialState | None = None,
    *,
    energy: float | None = None,
    omega: float = 1.0,
) -> ClusterTeff:
    r"""T_eff of a probe fed by ``kind`` clusters of ``harvest.cluster_size`` atoms (docs/physics.md §4.2).

    The exact map and the second-order rates of the module docstring, with the probe's own bath of (4.3):

    .. math::
        \frac{p_e}{p_g} = \frac{r u + \gamma_p\bar n_p}{r d + \gamma_p(\bar n_p + 1)},\qquad
        \Gamma = r(u + d) + \gamma_p(2\bar n_p + 1)

    (second order: :math:`u, d \to \theta^2\langle J_+J_-\rangle, \theta^2\langle J_-J_+\rangle`). Γ is the rate at
    which the probe populations relax; without a probe bath T_eff does not depend on r.

    Args:
        kind: one of :data:`CLUSTER_KINDS`.
        harvest: θ, r, K = ``cluster_size`` (up to :data:`MAX_BLOCK_ATOMS`), probe bath; the coupling must be
            collective (all equal: the Dicke-basis formulas need :math:`J_\pm`).
        bath: the bath that charged the reference cluster; or give ``energy`` instead.
        initial: the atoms' state before charging (default ground).
        energy: charge the reference cluster at the bath temperature that gives it
            :math:`\langle\hat N\rangle` = ``energy`` (:func:`bath_for_energy`).
        omega: probe (and atom) frequency.

    Raises:
        ParameterError: bad kind, K, coupling, or both/neither of ``bath`` and ``energy``; a dark cluster.

    Example:
        >>> from qcharge import Bath, Harvest
        >>> [round(cluster_teff(kind, Harvest(theta=0.1, cluster_size=2), Bath(1.0)).teff, 6)
        ...  for kind in ("charged", "dephased", "optimal-energy")]
        [1.0, 0.763038, 1.168004]
    """
    if not isinstance(harvest, Harvest):
        raise ParameterError(f"Argument `harvest` must be a Harvest instance, but is {type(harvest).__name__}.")
    kind = check_choice("cluster", kind, CLUSTER_KINDS)
    k_atoms = _check_k(harvest.cluster_size)
    if len(set(harvest.coupling)) != 1:
        raise ParameterError(
            "Argument `coupling` must be collective (all g_i equal) for the Dicke-basis cluster formulas, "
            f"but is {list(harvest.coupling)}; use harvest_summary with a dense cluster state instead."
        )
    if (bath is None) == (energy is None):
        raise ParameterError(
            "Arguments `bath` and `energy` must be given one at a time (the bath that charges the reference "
            f"cluster, or the energy it is charged to), but bath = {bath!r} and energy = {energy!r}."
        )
    if bath is None:
        bath = bath_for_energy(k_atoms, energy, initial, omega)
    elif not isinstance(bath, Bath):
        raise ParameterError(f"Argument `bath` must be a Bath instance, but is {type(bath).__name__}.")
    if energy is not None and kind == "optimal-energy":
        q = _symmetric(k_atoms, _two_point(k_atoms, float(energy)))  # exactly at the energy asked for
    else:
        q = cluster_blocks(kind, k_atoms, bath, initial)
    # A coupling g (all equal) is J_-^(g) = g J_-: theta g plays the role of theta.
    theta = harvest.theta * harvest.coupling[0]
    big_a, diff, up, up_diff = _rates(q, k_atoms, theta)
    gamma_p = harvest.probe_gamma
    nbar_p = _probe_nbar(harvest, omega)
    r = harvest.rate
    heat_p = gamma_p * nbar_p  # and the cooling gamma_p (nbar_p + 1) = heat_p + gamma_p
    ex_up, ex_diff = r * up + heat_p, r * up_diff + gamma_p
    so_up, so_diff = r * theta**2 * big_a + heat_p, r * theta**2 * diff + gamma_p
    n_exc = _energy(q)
    return ClusterTeff(
        kind=kind,
        cluster_size=k_atoms,
        bath_temperature=bath.temperature,
        excitations=n_exc,
        coherence=big_a - n_exc,  # C = <J+J-> - <N> (3.1)
        jp_jm=big_a,
        jm_jp=big_a + diff,
        teff=_teff(ex_up, ex_diff, omega),
        teff_second_order=_teff(so_up, so_diff, omega),
        probe_excited_population=ex_up / (2 * ex_up + ex_diff),
        relaxation_rate=2 * ex_up + ex_diff,
        relaxation_rate_second_order=2 * so_up + so_diff,
        theta=harvest.theta,
    )


# ----------------------------------------------------------------------------------------------------------------------
# closed forms


def max_jp_jm(cluster_size: int, energy: float) -> float:
    r"""Largest :math:`\langle J_+J_-\rangle` of a Δn = 0 state of K atoms with :math:`\langle\hat N\rangle = n` (4.10).

    .. math::
        A_\max(n) = f(\ell) + (n - \ell)[f(\ell + 1) - f(\ell)],\qquad f(k) = k(K - k + 1),\quad \ell = \lfloor n\rfloor.

    Example:
        >>> max_jp_jm(9, 4.0), max_jp_jm(8, 3.5)   # (K - 1)(K + 3)/4 and K^2/4 + K/2 - 1
        (24.0, 19.0)
    """
    k_atoms = _check_k(cluster_size)
    n = check_real("energy", energy, minimum=0.0, maximum=float(k_atoms))
    lo = min(int(math.floor(n)), k_atoms - 1)
    f_lo, f_hi = lo * (k_atoms - lo + 1), (lo + 1) * (k_atoms - lo)
    return f_lo + (n - lo) * (f_hi - f_lo)


def optimal_teff_second_order(cluster_size: int, energy: float, omega: float = 1.0) -> float:
    r"""Highest second-order T_eff of K-atom clusters with energy n (4.11): :math:`\omega/\ln[1 + (K - 2n)/A_\max(n)]`.

    Negative for n > K/2 (the largest :math:`|T_\mathrm{eff}|`), ``inf`` at n = K/2.

    Example:
        >>> round(optimal_teff_second_order(9, 4.0), 6), round(1 / math.log1p(1 / 24), 6)   # ~ K^2/4
        (24.496598, 24.496598)
    """
    a_max = max_jp_jm(cluster_size, energy)
    k_atoms = int(cluster_size)
    return _teff(a_max, k_atoms - 2 * float(energy), omega)


def fit_power_law(ks: ArrayLike, values: ArrayLike) -> tuple[float, float]:
    r"""Least-squares fit of :math:`\ln v = \ln c + p \ln K`: returns (p, c).

    Example:
        >>> p, c = fit_power_law([2, 4, 8], [1.0, 4.0, 16.0])
        >>> round(p, 12), round(c, 12)
        (2.0, 0.25)
    """
    ks, values = np.asarray(ks, dtype=float), np.asarray(values, dtype=float)
    if ks.shape != values.shape or ks.ndim != 1 or ks.size < 2:
        raise ParameterError(
            f"Arguments `ks, values` must be two 1-D arrays of the same length >= 2, but have shapes {ks.shape}, "
            f"{values.shape}."
        )
    if not (np.all(ks > 0) and np.all(values > 0) and np.all(np.isfinite(values))):
        raise ParameterError("Arguments `ks, values` must be positive and finite for a log-log fit, but are not.")
    p, log_c = np.polyfit(np.log(ks), np.log(values), 1)
    return float(p), float(math.exp(log_c))
