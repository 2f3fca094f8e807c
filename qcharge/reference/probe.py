r"""Probe harvesting (docs/physics.md §4): the exact probe-cluster collision map, its steady state and dynamics,
the second-order (in θ) generator, effective temperatures and the heat current into the probe.

Coupling vectors. The probe couples through :math:`V = \sigma_+^p J_-^{(g)} + \sigma_-^p J_+^{(g)}` with
:math:`J_-^{(g)} = \sum_i g_i\sigma_-^i` (``coupling`` = :math:`g`, relative; default all ones = the collective
:math:`J_\pm` of docs/physics.md §4.1). The rates seen by the probe are :math:`\langle J_+^{(g)}J_-^{(g)}\rangle =
\sum_i g_i^2\langle n_i\rangle + \sum_{i\neq j}g_ig_j\langle\sigma_+^i\sigma_-^j\rangle`, so a coherence
:math:`\langle\sigma_+^i\sigma_-^j\rangle` is seen with weight :math:`g_ig_j`. **The paper's claim (a charged
cluster brings the probe to the bath temperature T, its dephased twin does not) needs the collective coupling,
equal** :math:`g_i`: the bath charged the symmetric (J_±) channel, and only a probe coupled to that channel reads
the coherence. With a single-atom coupling (g = [1, 0]) the probe sees only atom 1's reduced state, which
dephasing does not change: charged and dephased pairs give the same T_eff (0.763038 at T = ω), the coherence
is invisible. Unequal couplings see :math:`C` with the weight :math:`2g_1g_2/(g_1^2+g_2^2) < 1`.

Pure NumPy/SciPy, QuTiP order of :mod:`qcharge.states` (atom 0 = left-most tensor factor,
:math:`|g\rangle = |0\rangle`, :math:`\sigma_- = |g\rangle\langle e|`). The probe is the **first**
factor of the joint state :math:`\rho_p \otimes \rho_c`; superoperators act on column-stacked
vectors (QuTiP ``super`` representation, see :mod:`qcharge.reference._superop`).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from .._checks import check_density_matrix, check_int, check_real
from ..exceptions import ConvergenceError, ParameterError
from ..params import Atoms, Bath, Harvest, InitialState, check_coupling
from ..states import NUMBER, SIGMA_MINUS, SIGMA_PLUS, collective_lowering, local_operator, mean_occupation
from ..thermo import TEFF_RATIO_RTOL, temperature_from_ratio
from ..protocol import MAX_COLLISION_ATOMS, collective_unitary, coupled_unitary
from ._superop import _dissipator, _n_qubits, _spre_spost, _unvec, _vec

__all__ = [
    "MAX_CLUSTER_ATOMS",
    "cluster_moments",
    "charged_cluster",
    "probe_collision_map",
    "probe_fixed_point",
    "probe_dynamics",
    "probe_instance",
    "second_order_generator",
    "second_order_steady_state",
    "teff_second_order",
    "heat_current",
    "heat_current_second_order",
    "teff_closed_form_pair",
]

MAX_CLUSTER_ATOMS = MAX_COLLISION_ATOMS  # the probe-cluster collision is a dense 2^(K+1) unitary

# Relative size of the second-smallest singular value of a generator below which its kernel is
# treated as degenerate (fixed point not unique). Every generator here is a handful of O(1)
# (times theta^2) numbers computed to ~1e-16 relative, so 1e-12 separates "zero" from "small".
_KERNEL_RTOL = 1e-12
# Negative round-off allowed in moments that are non-negative in exact arithmetic.
_MOMENT_ATOL = 1e-12


# ----------------------------------------------------------------------------------------------------------------------
# small helpers


def _cluster(rho_cluster: ArrayLike, name: str = "rho_cluster") -> tuple[np.ndarray, int]:
    rho = check_density_matrix(name, rho_cluster)
    k = _n_qubits(rho.shape[0])
    if k > MAX_COLLISION_ATOMS:
        raise ParameterError(
            f"Argument `{name}` must have at most {MAX_COLLISION_ATOMS} atoms (dense collision unitary), "
            f"but has {k}."
        )
    return rho, k


def _coupling_vector(coupling: ArrayLike | None, k: int) -> np.ndarray | None:
    """Validated coupling vector, or ``None`` for the collective (all-ones) coupling (the cached fast path)."""
    g = check_coupling(coupling, k)
    return None if all(x == 1.0 for x in g) else np.array(g)


def _lowering(k: int, g: np.ndarray | None) -> np.ndarray:
    r""":math:`J_-^{(g)} = \sum_i g_i\sigma_-^i` (dense), :math:`J_-` for ``g = None``."""
    if g is None:
        return collective_lowering(k)
    return sum(gi * local_operator(SIGMA_MINUS, i, k) for i, gi in enumerate(g) if gi != 0.0)


def _unitary(k: int, theta: float, g: np.ndarray | None) -> np.ndarray:
    r""":math:`\exp[-i\theta(\sigma_+^p J_-^{(g)} + \mathrm{h.c.})]`, probe = left-most factor: the matrix the
    harvesting circuits apply (:func:`qcharge.protocol.coupled_unitary`, its one cache)."""
    if g is None:
        return collective_unitary(k, theta)
    return coupled_unitary(tuple(float(x) for x in g), theta)


def _moments_real(rho: np.ndarray, k: int, g: np.ndarray | None = None) -> tuple[float, float]:
    jm = _lowering(k, g)
    jp = jm.conj().T
    a = float(np.real(np.trace(rho @ jp @ jm)))
    b = float(np.real(np.trace(rho @ jm @ jp)))
    return max(a, 0.0) if a > -_MOMENT_ATOL else a, max(b, 0.0) if b > -_MOMENT_ATOL else b


def _teff_from_rates(up: float, down: float, omega: float, what: str = "rho_cluster") -> float:
    r""":math:`T = \omega/\ln(\mathrm{down}/\mathrm{up})` by :func:`~qcharge.thermo.temperature_from_ratio`;
    both rates zero is a dark cluster, reported as such."""
    if up == 0.0 and down == 0.0:
        raise ParameterError(
            f"Argument `{what}` gives zero excitation and de-excitation rates (a dark cluster, e.g. the singlet): "
            "the probe is never touched and has no effective temperature."
        )
    return temperature_from_ratio(up, down, omega)


def _fixed_point_rtol(theta: float, rate: float, probe_gamma: float, probe_nbar: float) -> float:
    r"""Relative round-off of the populations of :func:`probe_fixed_point`, for the T_eff branch test.

    ``r(M - 1)`` subtracts 1 from entries :math:`1 + O(\theta^2)`: an absolute error
    :math:`\epsilon r` against a spectral gap :math:`r\min(\theta^2, 1) + \gamma_p(2\bar n_p + 1)`. The
    null vector's relative error is their ratio (observed 0.17-0.25 of it at θ = 0.01 and 0.001 for the
    maximally mixed pair and triple); 16x that, and never below ``TEFF_RATIO_RTOL``.
    """
    damping = probe_gamma * (2 * probe_nbar + 1)
    gap = rate * min(theta**2, 1.0) + damping
    return max(TEFF_RATIO_RTOL, 16 * np.finfo(float).eps * (rate + damping) / gap)


def _unique_steady_state(generator: np.ndarray, what: str, scale: float = 0.0) -> np.ndarray:
    """Unique null vector of a (column-stacking) generator, as a unit-trace Hermitian matrix.

    ``scale``: the natural size of the generator's rates. A generator built from a numerical unitary
    is never exactly zero (a dark cluster gives entries ~1e-16 * rate), so its kernel is judged
    against ``max(largest singular value, scale)``.
    """
    dim = int(round(math.sqrt(generator.shape[0])))
    _, s, vh = np.linalg.svd(generator)
    scale = max(s[0], scale)
    if scale == 0.0 or s[-2] <= _KERNEL_RTOL * scale:
        raise ConvergenceError(
            f"The steady state of {what} is not unique (kernel dimension >= 2: second-smallest singular value "
            f"{s[-2]:.3g} vs largest {s[0]:.3g}); it depends on the initial probe state. This happens for a dark "
            "cluster (e.g. the singlet), theta = 0, or a theta at which the Rabi rotation is complete "
            "(K = 2: sin(sqrt(2) theta) = 0). Use probe_dynamics instead."
        )
    rho = _unvec(vh[-1].conj(), dim)
    rho = rho / np.trace(rho)
    return 0.5 * (rho + rho.conj().T)


def _probe_nbar(harvest: Harvest, omega: float) -> float:
    if harvest.probe_gamma == 0.0:
        return 0.0
    nbar = mean_occupation(harvest.probe_temperature, omega)
    if math.isinf(nbar):
        raise ParameterError(
            "Argument `probe_temperature` must be finite when probe_gamma > 0 (infinite damping rates at T = inf), "
            f"but is {harvest.probe_temperature}."
        )
    return nbar


def _check_cluster_size(k: int, harvest: Harvest) -> None:
    if k != harvest.cluster_size:
        raise ParameterError(
            f"Argument `cluster_size` must match the cluster state ({k} atoms), but is {harvest.cluster_size}."
        )


def _probe_damping(probe_gamma: float, probe_nbar: float) -> np.ndarray:
    r""":math:`\gamma_p(\bar n_p+1)D[\sigma_-] + \gamma_p \bar n_p D[\sigma_+]` (column stacking)."""
    if probe_gamma == 0.0:
        return np.zeros((4, 4), dtype=complex)
    return probe_gamma * ((probe_nbar + 1.0) * _dissipator(SIGMA_MINUS) + probe_nbar * _dissipator(SIGMA_PLUS))


# ----------------------------------------------------------------------------------------------------------------------
# harvesting (docs/physics.md §3, §4)


def cluster_moments(rho_cluster: ArrayLike, *, coupling: ArrayLike | None = None) -> dict:
    r"""Collective moments of a K-atom cluster that drive the probe (docs/physics.md §3.1, 4.4).

    .. math::
        \langle J_+J_-\rangle = \langle\hat N\rangle + C,\quad
        \langle J_-J_+\rangle = K - \langle\hat N\rangle + C,\quad
        C = \sum_{i\neq j}\langle\sigma_+^i\sigma_-^j\rangle .

    With a coupling vector :math:`g` every :math:`J_\pm` is :math:`J_\pm^{(g)}` and
    :math:`C = \sum_{i\neq j}g_ig_j\langle\sigma_+^i\sigma_-^j\rangle` (``excitations`` stays
    :math:`\langle\hat N\rangle`).

    Args:
        rho_cluster: :math:`2^K \times 2^K` density matrix (QuTiP order), K >= 1.
        coupling: relative couplings :math:`g_i` (default all ones).

    Returns:
        ``{'jp_jm', 'jm_jp', 'excitations', 'C'}`` (real floats: :math:`\langle J_+J_-\rangle`,
        :math:`\langle J_-J_+\rangle`, :math:`\langle\hat N\rangle`, C) and ``{'jm', 'jm2'}`` (complex:
        :math:`\langle J_-\rangle`, :math:`\langle J_-^2\rangle`, the Δn = 1 and Δn = 2 coherences).

    Raises:
        ParameterError: ``rho_cluster`` is not a density matrix.

    Example:
        >>> import numpy as np
        >>> from qcharge.states import dicke_state
        >>> m = cluster_moments(dicke_state(2, 1))   # |S>: C = +1
        >>> round(m['jp_jm'], 12), round(m['jm_jp'], 12), round(m['C'], 12)
        (2.0, 2.0, 1.0)
    """
    rho, k = _cluster(rho_cluster)
    g = _coupling_vector(coupling, k)
    jm = _lowering(k, g)
    jp = jm.conj().T
    weights = np.ones(k) if g is None else g**2
    n_i = [float(np.real(np.trace(rho @ local_operator(NUMBER, i, k)))) for i in range(k)]
    jp_jm = float(np.real(np.trace(rho @ jp @ jm)))
    jm_jp = float(np.real(np.trace(rho @ jm @ jp)))
    n_exc = float(sum(n_i))
    return {
        "jp_jm": jp_jm,
        "jm_jp": jm_jp,
        "jm": complex(np.trace(rho @ jm)),
        "jm2": complex(np.trace(rho @ jm @ jm)),
        "excitations": n_exc,
        # Sum over i != j of g_i g_j <s+^i s-^j>: J+J- minus its diagonal part sum_i g_i^2 n_i.
        "C": jp_jm - float(np.dot(weights, n_i)),
    }


def charged_cluster(k: int, bath: Bath, initial: InitialState) -> np.ndarray:
    r"""The Dicke-limit long-time state of K atoms at the bath temperature (docs/physics.md §1.3 / 2.1).

    Thin wrapper around :func:`qcharge.reference.dicke.dicke_density_matrix` at :math:`t = \infty`
    with :meth:`Atoms.dicke` (:math:`\omega` taken from the bath).
    """
    from .dicke import dicke_density_matrix  # imported lazily: dicke.py is independent of this module

    k = check_int("cluster_size", k, minimum=1)
    return np.asarray(dicke_density_matrix(Atoms.dicke(k, omega=bath.omega), bath, initial, np.inf), dtype=complex)


def probe_collision_map(rho_cluster: ArrayLike, theta: float, *, coupling: ArrayLike | None = None) -> np.ndarray:
    r"""Exact single-collision map of the probe, docs/physics.md (4.1)-(4.2), as a 4x4 superoperator.

    .. math::
        M(\rho_p) = \mathrm{Tr}_c\!\left[U(\rho_p\otimes\rho_c)U^\dagger\right],\qquad
        U = \exp[-i\theta(\sigma_+^p J_- + \sigma_-^p J_+)],

    probe = first tensor factor (:math:`J_\pm \to J_\pm^{(g)}` with a ``coupling`` vector).
    Column stacking: ``M @ rho_p.reshape(-1, order="F")`` is
    :math:`\mathrm{vec}(M(\rho_p))` (QuTiP ``super`` representation).

    Args:
        rho_cluster: cluster state, :math:`2^K\times 2^K`, K <= 10.
        theta: exchange angle :math:`\theta = g\tau \geq 0`.
        coupling: relative couplings :math:`g_i` (default all ones = collective).

    Returns:
        Complex (4, 4) array.
    """
    rho, k = _cluster(rho_cluster)
    theta = check_real("theta", theta, minimum=0.0)
    g = _coupling_vector(coupling, k)
    d = 2**k
    u4 = _unitary(k, theta, g).reshape(2, d, 2, d)  # [probe out, cluster out, probe in, cluster in]
    t = np.einsum("acbd,de->acbe", u4, rho)
    m4 = np.einsum("acbe,fcge->afbg", t, u4.conj())  # out[a, f] per input |b><g|
    # column stacking: row index a + 2 f, column index b + 2 g
    return m4.transpose(1, 0, 3, 2).reshape(4, 4)


def probe_fixed_point(
    rho_cluster: ArrayLike,
    theta: float,
    *,
    probe_gamma: float = 0.0,
    probe_nbar: float = 0.0,
    rate: float = 1.0,
    coupling: ArrayLike | None = None,
) -> np.ndarray:
    r"""Steady state of the Poisson-averaged probe equation (4.3) with the exact map M.

    .. math::
        0 = r[M(\rho_p) - \rho_p] + \gamma_p(\bar n_p+1)D[\sigma_-]\rho_p + \gamma_p\bar n_p D[\sigma_+]\rho_p .

    Without probe damping this is the fixed point of M (independent of r).

    Args:
        rho_cluster: cluster state (fresh copy at every collision).
        theta: exchange angle.
        probe_gamma: probe damping rate :math:`\gamma_p \geq 0`.
        probe_nbar: mean occupation :math:`\bar n_p` of the probe's own bath.
        rate: Poisson collision rate r > 0.
        coupling: relative couplings :math:`g_i` (default all ones = collective).

    Returns:
        The 2x2 steady state.

    Raises:
        ConvergenceError: the steady state is not unique (dark cluster, θ = 0, or a complete Rabi turn).

    Example:
        >>> from qcharge import Bath, InitialState
        >>> pair = charged_cluster(2, Bath(1.0), InitialState())   # charged at T = omega
        >>> round(float(probe_fixed_point(pair, 0.5)[1, 1].real), 6)   # Gibbs probe, 1/(1 + e)
        0.268941
    """
    probe_gamma = check_real("probe_gamma", probe_gamma, minimum=0.0)
    probe_nbar = check_real("probe_nbar", probe_nbar, minimum=0.0)
    rate = check_real("rate", rate, minimum=0.0, strict_min=True)
    m = probe_collision_map(rho_cluster, theta, coupling=coupling)
    gen = rate * (m - np.eye(4)) + _probe_damping(probe_gamma, probe_nbar)
    # natural rate scale: r(M - 1) ~ r min(theta^2, 1) and the damping rates
    scale = rate * min(float(theta) ** 2, 1.0) + probe_gamma * (2 * probe_nbar + 1)
    return _unique_steady_state(gen, "the probe equation (4.3)", scale)


def _probe_setup(rho_cluster, harvest: Harvest, probe_initial, omega: float):
    """(M, probe-bath generator, initial probe state) shared by the probe dynamics functions."""
    rho, k = _cluster(rho_cluster)
    _check_cluster_size(k, harvest)
    if probe_initial is None:
        rho_p = np.diag([1.0, 0.0]).astype(complex)  # the probe starts in |g>
    else:
        rho_p = check_density_matrix("probe_initial", probe_initial, 1)
    damping = _probe_damping(harvest.probe_gamma, _probe_nbar(harvest, omega))
    return probe_collision_map(rho, harvest.theta, coupling=harvest.coupling), damping, rho_p


def probe_dynamics(
    rho_cluster: ArrayLike,
    harvest: Harvest,
    times: ArrayLike,
    *,
    probe_initial: ArrayLike | None = None,
    omega: float = 1.0,
) -> np.ndarray:
    r"""Probe states under Poisson-distributed collisions, eq. (4.3), with the exact map M.

    .. math::
        \rho_p(t) = e^{\mathcal L t}\rho_p(0),\quad
        \mathcal L = r(M - 1) + \gamma_p(\bar n_p+1)D[\sigma_-] + \gamma_p\bar n_p D[\sigma_+],

    :math:`\bar n_p = \bar n(T_p)` of ``harvest.probe_temperature`` at frequency ``omega``.

    Args:
        rho_cluster: cluster state with ``harvest.cluster_size`` atoms.
        harvest: θ, rate r, cluster size, probe damping.
        times: non-negative times (units of 1/γ), any order.
        probe_initial: 2x2 probe state at t = 0 (default |g><g|).
        omega: frequency that converts ``probe_temperature`` to :math:`\bar n_p`.

    Returns:
        Complex array of shape (len(times), 2, 2).
    """
    m, damping, rho_p = _probe_setup(rho_cluster, harvest, probe_initial, omega)
    times = np.atleast_1d(np.asarray(times, dtype=float))
    if times.ndim != 1:
        raise ParameterError(f"Argument `times` must be one-dimensional, but has shape {times.shape}.")
    for t in times:
        check_real("times", t, minimum=0.0)
    gen = harvest.rate * (m - np.eye(4)) + damping
    v0 = _vec(rho_p)
    out = np.empty((len(times), 2, 2), dtype=complex)
    for i, t in enumerate(times):
        out[i] = _unvec(scipy.linalg.expm(gen * t) @ v0, 2)
    return out


def probe_instance(
    rho_cluster: ArrayLike,
    harvest: Harvest,
    collision_times: ArrayLike,
    total_time: float,
    *,
    probe_initial: ArrayLike | None = None,
    omega: float = 1.0,
) -> np.ndarray:
    r"""Probe state after one realisation of the collision times: the twin of one harvesting circuit instance.

    Between collisions the probe relaxes under its own bath,
    :math:`\rho_p \mapsto e^{\mathcal D \Delta}\rho_p`; at each collision time :math:`\rho_p \mapsto M(\rho_p)`.
    Averaging over Poisson-distributed times gives :func:`probe_dynamics` (4.3).
    """
    m, damping, rho_p = _probe_setup(rho_cluster, harvest, probe_initial, omega)
    total_time = check_real("total_time", total_time, minimum=0.0)
    times = np.sort(np.atleast_1d(np.asarray(collision_times, dtype=float)))
    if times.size and (times[0] < 0 or times[-1] > total_time):
        raise ParameterError(
            f"Argument `collision_times` must lie in [0, {total_time}], but spans [{times[0]}, {times[-1]}]."
        )
    v, now = _vec(rho_p), 0.0
    for t in times:
        v = m @ (scipy.linalg.expm(damping * (t - now)) @ v)
        now = t
    v = scipy.linalg.expm(damping * (total_time - now)) @ v
    return _unvec(v, 2)


def second_order_generator(rho_cluster: ArrayLike, harvest: Harvest, *, omega: float = 1.0) -> np.ndarray:
    r"""Second-order (in θ) probe generator, docs/physics.md (4.4), including probe damping (column stacking).

    .. math::
        \mathcal L_2\rho = -ir\theta[\langle J_-\rangle\sigma_+ + \langle J_+\rangle\sigma_-, \rho]
        + r\theta^2\langle J_+J_-\rangle D[\sigma_+]\rho + r\theta^2\langle J_-J_+\rangle D[\sigma_-]\rho
        + r\theta^2(\langle J_-^2\rangle\sigma_+\rho\sigma_+ + \langle J_+^2\rangle\sigma_-\rho\sigma_-)
        + \gamma_p(\bar n_p+1)D[\sigma_-]\rho + \gamma_p\bar n_p D[\sigma_+]\rho

    (:math:`J_\pm\to J_\pm^{(g)}` with ``harvest.coupling``).

    Returns:
        Complex (4, 4) superoperator; :func:`second_order_steady_state` gives its steady state.
    """
    rho, k = _cluster(rho_cluster)
    _check_cluster_size(k, harvest)
    mom = cluster_moments(rho, coupling=harvest.coupling)
    r, th = harvest.rate, harvest.theta
    eye = np.eye(2)
    drive = mom["jm"] * SIGMA_PLUS + np.conj(mom["jm"]) * SIGMA_MINUS
    gen = -1j * r * th * (_spre_spost(drive, eye) - _spre_spost(eye, drive))
    gen = gen + r * th**2 * (mom["jp_jm"] * _dissipator(SIGMA_PLUS) + mom["jm_jp"] * _dissipator(SIGMA_MINUS))
    gen = gen + r * th**2 * (
        mom["jm2"] * _spre_spost(SIGMA_PLUS, SIGMA_PLUS) + np.conj(mom["jm2"]) * _spre_spost(SIGMA_MINUS, SIGMA_MINUS)
    )
    return gen + _probe_damping(harvest.probe_gamma, _probe_nbar(harvest, omega))


def second_order_steady_state(rho_cluster: ArrayLike, harvest: Harvest, *, omega: float = 1.0) -> np.ndarray:
    """Unique steady state of :func:`second_order_generator` (2x2).

    Raises:
        ConvergenceError: not unique (dark cluster and no probe damping).
    """
    return _unique_steady_state(second_order_generator(rho_cluster, harvest, omega=omega), "the generator (4.4)")


def teff_second_order(
    rho_cluster: ArrayLike,
    *,
    rate: float = 1.0,
    theta: float | None = None,
    probe_gamma: float = 0.0,
    probe_nbar: float = 0.0,
    omega: float = 1.0,
    coupling: ArrayLike | None = None,
) -> float:
    r"""Second-order effective temperature of the probe, docs/physics.md (4.5) and its damped form.

    .. math::
        \frac{p_e}{p_g} = \frac{r\theta^2\langle J_+J_-\rangle + \gamma_p\bar n_p}
                               {r\theta^2\langle J_-J_+\rangle + \gamma_p(\bar n_p+1)}
        \equiv e^{-\omega/T_\mathrm{eff}}

    (without damping r and θ cancel: :math:`T_\mathrm{eff} = \omega/\ln(\langle J_-J_+\rangle/\langle J_+J_-\rangle)`).
    Branches: excitation rate 0 -> ``0.0`` (0+), de-excitation rate 0 -> ``-0.0`` (0-), equal -> ``inf``,
    inverted -> negative. Valid for clusters with only Δn = 0 coherence; a ``UserWarning`` is
    issued when :math:`\langle J_-\rangle` or :math:`\langle J_-^2\rangle` is non-zero (the probe then
    also acquires coherence and the populations no longer follow this ratio).

    Args:
        rho_cluster: cluster state.
        rate: collision rate r > 0.
        theta: exchange angle; required only when ``probe_gamma > 0``.
        probe_gamma: probe damping rate.
        probe_nbar: occupation of the probe's bath.
        omega: probe frequency.
        coupling: relative couplings :math:`g_i` (default all ones = collective :math:`J_\pm`).

    Raises:
        ParameterError: dark cluster (both rates zero), or ``theta`` missing with damping.

    Example:
        >>> from qcharge import Bath, InitialState
        >>> from qcharge.coherence import dephase
        >>> pair = charged_cluster(2, Bath(1.0), InitialState())
        >>> round(teff_second_order(pair), 6), round(teff_second_order(dephase(pair)), 6)   # docs/physics.md §4.1
        (1.0, 0.763038)
    """
    rho, k = _cluster(rho_cluster)
    rate = check_real("rate", rate, minimum=0.0, strict_min=True)
    probe_gamma = check_real("probe_gamma", probe_gamma, minimum=0.0)
    probe_nbar = check_real("probe_nbar", probe_nbar, minimum=0.0)
    omega = check_real("omega", omega, minimum=0.0, strict_min=True)
    if theta is None:
        if probe_gamma > 0:
            raise ParameterError("Argument `theta` is required when probe_gamma > 0, but is None.")
        theta = 1.0  # cancels without damping
    theta = check_real("theta", theta, minimum=0.0, strict_min=True)
    g = _coupling_vector(coupling, k)
    mom = cluster_moments(rho, coupling=g)
    if abs(mom["jm"]) > 1e-10 or abs(mom["jm2"]) > 1e-10:
        warnings.warn(
            "rho_cluster has Delta n = +-1 or +-2 coherence (<J-> or <J-^2> != 0): the second-order T_eff "
            "(4.5) ignores the coherent drive it causes.",
            UserWarning,
            stacklevel=2,
        )
    a, b = _moments_real(rho, k, g)
    up = rate * theta**2 * a + probe_gamma * probe_nbar
    down = rate * theta**2 * b + probe_gamma * (probe_nbar + 1.0)
    return _teff_from_rates(up, down, omega)


def heat_current(
    rho_cluster: ArrayLike,
    probe_state: ArrayLike,
    theta: float,
    rate: float,
    omega: float = 1.0,
    *,
    coupling: ArrayLike | None = None,
) -> float:
    r"""Exact heat current from the clusters into the probe: the collision term of (4.3) on its energy.

    .. math::
        J_Q = \omega r\,[M(\rho_p) - \rho_p]_{ee}

    with the exact map :math:`M` of :func:`probe_collision_map`. The coupling (4.1) commutes with the
    free Hamiltonian, so a collision does no work: the probe's energy gain is heat drawn from the
    cluster. At the steady state of (4.3) it equals the heat the probe passes to its own bath,
    :math:`\omega\gamma_p[(\bar n_p+1)p_e - \bar n_p p_g]` (0 without probe damping). Second order in θ:
    :func:`heat_current_second_order`; for Δn = 0 pairs the two differ by the factor
    :math:`2\theta^2/\sin^2(\sqrt2\theta)` (docs/physics.md §4.1, exact population map).

    Args:
        rho_cluster: cluster state (fresh copy at every collision).
        probe_state: 2x2 probe state :math:`\rho_p` (its coherence matters for clusters with Δn = ±1
            coherence).
        theta: exchange angle.
        rate: collision rate r >= 0.
        omega: probe frequency.
        coupling: relative couplings :math:`g_i` (default all ones = collective).

    Example:
        >>> import numpy as np
        >>> from qcharge.states import dicke_state
        >>> j = heat_current(dicke_state(2, 1), np.diag([1.0, 0.0]), 0.5, 1.0)  # |S> into a ground probe
        >>> round(j, 12), round(float(np.sin(np.sqrt(2) * 0.5) ** 2), 12)   # sin^2(sqrt2 theta)
        (0.422028152617, 0.422028152617)
    """
    rho, _ = _cluster(rho_cluster)
    rho_p = check_density_matrix("probe_state", probe_state, 1)
    rate = check_real("rate", rate, minimum=0.0)
    omega = check_real("omega", omega, minimum=0.0, strict_min=True)
    out = _unvec(probe_collision_map(rho, theta, coupling=coupling) @ _vec(rho_p), 2)
    return omega * rate * float(np.real(out[1, 1] - rho_p[1, 1]))


def heat_current_second_order(
    rho_cluster: ArrayLike,
    p_excited: float,
    theta: float,
    rate: float,
    omega: float = 1.0,
    *,
    coupling: ArrayLike | None = None,
) -> float:
    r"""Heat current from the clusters into the probe at second order in θ, docs/physics.md (4.6).

    .. math::
        J_Q^{(2)} = \omega r\theta^2[\langle J_+J_-\rangle p_g - \langle J_-J_+\rangle p_e]
            = \omega r\theta^2[\langle\hat N\rangle - K p_e + C(p_g - p_e)] .

    An approximation of :func:`heat_current` (exact map) valid for :math:`\theta \ll 1`
    (:math:`J_\pm\to J_\pm^{(g)}` with a ``coupling`` vector).

    Example:
        >>> from qcharge.states import dicke_state
        >>> round(heat_current_second_order(dicke_state(2, 1), 0.0, 0.5, 1.0), 12)  # r θ² <J+J-> = 0.25 * 2
        0.5
    """
    rho, k = _cluster(rho_cluster)
    p = check_real("p_excited", p_excited, minimum=-1e-9, maximum=1 + 1e-9)
    p = min(max(p, 0.0), 1.0)
    theta = check_real("theta", theta, minimum=0.0)
    rate = check_real("rate", rate, minimum=0.0)
    omega = check_real("omega", omega, minimum=0.0, strict_min=True)
    a, b = _moments_real(rho, k, _coupling_vector(coupling, k))
    return omega * rate * theta**2 * (a * (1.0 - p) - b * p)


def teff_closed_form_pair(p0: float, p1: float, p2: float, c: complex, omega: float = 1.0) -> float:
    r"""T_eff of a pair with populations (p0, p1, p2) and heat-exchange coherence c, docs/physics.md (4.7).

    .. math::
        T_\mathrm{eff}(c) = \omega / \ln\frac{2p_0 + p_1 + 2\,\mathrm{Re}\,c}{p_1 + 2p_2 + 2\,\mathrm{Re}\,c}

    (:math:`p_1` split equally between |eg> and |ge>, :math:`c = \rho_{eg,ge}`, :math:`|c| \le p_1/2`;
    Im c is irrelevant). Same branches as :func:`teff_second_order`.

    Example:
        >>> from qcharge import Bath, InitialState
        >>> pair = charged_cluster(2, Bath(1.0), InitialState())
        >>> p0, p1, p2 = (float(pair[i, i].real) for i in (0, 1, 3))
        >>> p1 *= 2   # |eg> and |ge> together
        >>> round(teff_closed_form_pair(p0, p1, p2, p1 / 2), 6), round(teff_closed_form_pair(p0, p1, p2, 0), 6)
        (1.0, 0.763038)
    """
    ps = [check_real(name, p, minimum=0.0, maximum=1.0) for name, p in (("p0", p0), ("p1", p1), ("p2", p2))]
    if abs(sum(ps) - 1.0) > 1e-9:
        raise ParameterError(f"Arguments `p0, p1, p2` must sum to 1, but sum to {sum(ps):.12g}.")
    try:
        c = complex(c)
    except (TypeError, ValueError):
        raise ParameterError(f"Argument `c` must be a number, but is {c!r}.") from None
    if not (math.isfinite(c.real) and math.isfinite(c.imag)) or abs(c) > ps[1] / 2 + 1e-12:
        raise ParameterError(f"Argument `c` must satisfy |c| <= p1/2 = {ps[1] / 2:.12g} (positivity), but is {c}.")
    omega = check_real("omega", omega, minimum=0.0, strict_min=True)
    up = max(ps[1] + 2 * ps[2] + 2 * c.real, 0.0)  # <J+J->
    down = max(2 * ps[0] + ps[1] + 2 * c.real, 0.0)  # <J-J+>
    return _teff_from_rates(up, down, omega, what="c")
