r"""Full-space collective master equation (docs/physics.md §1.1) for general :math:`\gamma_{ij}`, :math:`\Omega_{ij}`.

.. math::

    \dot\rho = -i[H_0 + H_\Omega, \rho]
      + \sum_{ij}\gamma_{ij}(\bar n+1)\big(\sigma_-^j\rho\sigma_+^i - \tfrac12\{\sigma_+^i\sigma_-^j,\rho\}\big)
      + \sum_{ij}\gamma_{ij}\bar n\big(\sigma_+^j\rho\sigma_-^i - \tfrac12\{\sigma_-^i\sigma_+^j,\rho\}\big),

:math:`H_0 = \omega\hat N`, :math:`H_\Omega = \sum_{i\neq j}\Omega_{ij}\sigma_+^i\sigma_-^j`; rates and times are
used exactly as written (``times`` are :math:`t`, in units of :math:`1/\gamma` when ``atoms.gamma = 1``).
States are in the QuTiP order (atom 0 left-most, :math:`|g\rangle = |0\rangle`,
:math:`\sigma_- = |g\rangle\langle e|`) and in the **lab frame** (:math:`H_0` is kept).

Algorithm
---------
*U(1) sectors.* Every term maps the block :math:`\rho_{k,k'}` (excitation numbers :math:`k, k'`) into blocks
with the same :math:`\Delta n = k - k'`, so the Liouvillian is a direct sum over :math:`\Delta n` sectors;
the :math:`\Delta n = 0` sector has dimension :math:`\binom{2N}{N}` (184 756 at N = 10 instead of
:math:`4^{10}`). Within sector :math:`d` the free Hamiltonian is the scalar :math:`-i\omega d`, so each
sector is evolved in the rotating frame and multiplied by the exact phase :math:`e^{-i\omega d t}`; sector
:math:`-d` is the adjoint of sector :math:`d`, so only :math:`d \ge 0` is evolved, and only the sectors
present in :math:`\rho_0`.

*Assembly.* Block row by block row, each in chunks of rows of at most ~2e7 entries, written into one
preallocated CSR array: the build overhead stays below 0.8 GB (N = 12, two times: 11.0 GB in all by
:func:`memory_estimate_gb`, 9.8 GB peak RSS measured).

*Propagation.* Each sector Liouvillian is a CSR matrix (:math:`N^2+1` entries per row for
:math:`\Delta n = 0`); :math:`e^{t\mathcal L}v` is computed with an adaptive Krylov (Arnoldi) exponential
integrator (Sidje, ACM TOMS 24, 130 (1998), "expv") with the a-posteriori error estimate of that paper,
local error per unit time :math:`\le` ``tol``/``t_final`` and dense output from the Krylov basis at the
requested times. Arnoldi stops early on an invariant subspace (e.g. the :math:`N+1` Dicke populations
reached from :math:`|g\ldots g\rangle`), which makes permutation-symmetric problems very cheap.

*Long-time state.* The kernel of :math:`\mathcal L` is degenerate in the Dicke limit (dimension
2, 5, 14, 42 for N = 2..5), so a null-space steady-state solver is ill-posed; :func:`long_time_state`
integrates :math:`\rho_0` itself (the conserved quantities of :math:`\rho_0` are carried along) over
doubling checkpoints :math:`t_k = 2^k t_1` and stops when the change between two checkpoints is
below ``tol`` *and* has decreased at least geometrically (factor 2), which for an exponentially relaxing
tail bounds the remaining distance by the last change. It raises :class:`ConvergenceError` if this is
not reached by ``max_time``, or if an oscillating :math:`\Delta n \ne 0` coherence survives (at
:math:`\bar n = 0`, docs/physics.md §1.3: the lab-frame state then has no limit).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import ArrayLike

from .._checks import check_density_matrix, check_int, check_real, check_resonant
from .._threads import blas_threads_for
from ..exceptions import ConvergenceError, ParameterError
from ..params import Atoms, Bath, InitialState

__all__ = [
    "evolve",
    "long_time_state",
    "liouvillian",
    "sector_indices",
    "memory_estimate_gb",
    "check_memory",
    "KRYLOV_DIM",
]

#: Maximal Krylov dimension of one step (30 was fastest in measurements for N = 6..10).
KRYLOV_DIM = 30

# Bytes per stored entry of a complex CSR matrix (complex128 value + int32 column index).
_BYTES_PER_NNZ = 16 + 4
# Bytes per entry of a chunk while it is assembled: joined COO (16 + 8 + 8), the int32 index copies scipy
# makes (4 + 4) and the chunk's CSR (20), plus the index temporaries of its pieces; tracemalloc measured
# 66-68 B at N = 9-10, so 80 bounds it.
_BYTES_PER_BUILD_ENTRY = 80
# Bytes of the interpreter with numpy and scipy imported (66 MB peak RSS measured), counted once.
_BASELINE_BYTES = 10**8
_FRAMES = ("lab", "rotating")
# Entries of one chunk of a block row while it is assembled (0.8 GB at _BYTES_PER_BUILD_ENTRY).
_BUILD_CHUNK_ENTRIES = 10**7
# Above this N, memory_estimate_gb counts the two largest terms in floats (a lower bound, > 1e18 GB).
_EXACT_ESTIMATE_MAX_N = 40


# ---------------------------------------------------------------------------------------------
# Basis and restricted operators
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=16)
def _basis(n: int) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """States (QuTiP indices) of each excitation sector k, and the position of every state in its sector."""
    idx = np.arange(2**n, dtype=np.int64)
    pop = np.zeros(2**n, dtype=np.int64)
    for b in range(n):
        pop += (idx >> b) & 1
    states = tuple(idx[pop == k] for k in range(n + 1))
    pos = np.empty(2**n, dtype=np.int64)
    for st in states:
        pos[st] = np.arange(len(st))
    return states, pos


def _bit(n: int, atom: int) -> int:
    """Bit of ``atom`` in a QuTiP index (atom 0 is the most significant)."""
    return 1 << (n - 1 - atom)


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.setflags(write=False)
    return arrays


@lru_cache(maxsize=256)
def _lowering(n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Entries of :math:`\sigma_-^j` from sector k to k-1, all atoms j: (rows in k-1, cols in k, j)."""
    states, pos = _basis(n)
    st = states[k]
    rows, cols, atoms = [], [], []
    for j in range(n):
        b = _bit(n, j)
        sel = (st & b) != 0
        cols.append(np.flatnonzero(sel))
        rows.append(pos[st[sel] ^ b])
        atoms.append(np.full(len(cols[-1]), j))
    return _frozen(np.concatenate(rows), np.concatenate(cols), np.concatenate(atoms))


@lru_cache(maxsize=256)
def _moves(n: int, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""Entries of :math:`\sigma_+^i\sigma_-^j` (i != j) inside sector k: (rows, cols, i, j)."""
    states, pos = _basis(n)
    st = states[k]
    rows, cols, ii, jj = [], [], [], []
    for i in range(n):
        bi = _bit(n, i)
        for j in range(n):
            if i == j:
                continue
            bj = _bit(n, j)
            sel = ((st & bj) != 0) & ((st & bi) == 0)
            cols.append(np.flatnonzero(sel))
            rows.append(pos[st[sel] ^ bj ^ bi])
            ii.append(np.full(len(cols[-1]), i))
            jj.append(np.full(len(cols[-1]), j))
    if not rows:
        empty = np.zeros(0, dtype=np.int64)
        return _frozen(empty, empty.copy(), empty.copy(), empty.copy())
    return _frozen(*(np.concatenate(x) for x in (rows, cols, ii, jj)))


def _sector_ks(n: int, d: int) -> list[int]:
    """Row excitation numbers k of the blocks (k, k - d) of sector ``d``."""
    return [k for k in range(n + 1) if 0 <= k - d <= n]


def sector_indices(n_atoms: int, delta_n: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Row and column indices (QuTiP order) of the sector :math:`\Delta n` = ``delta_n``.

    The sector vector used by :func:`liouvillian` is ``rho[rows, cols]``: blocks
    :math:`\rho_{k, k-\Delta n}` by increasing k, each block row-major in the sector orderings.
    """
    n = check_int("atoms", n_atoms, minimum=1)
    d = check_int("delta_n", delta_n, minimum=-n, maximum=n)
    states, _ = _basis(n)
    rows, cols = [], []
    for k in _sector_ks(n, d):
        r, c = np.meshgrid(states[k], states[k - d], indexing="ij")
        rows.append(r.ravel())
        cols.append(c.ravel())
    return np.concatenate(rows), np.concatenate(cols)


def _sector_nnz_bound(n: int, d: int, nbar: float = 1.0) -> int:
    """Upper bound on the stored entries of the sector Liouvillian (exact for dense Gamma, nbar > 0)."""
    total = 0
    for k in _sector_ks(n, d):
        kp = k - d
        per_row = k * (n - k) + kp * (n - kp) + 1 + (n - k) * (n - kp) + (k * kp if nbar > 0 else 0)
        total += math.comb(n, k) * math.comb(n, kp) * per_row
    return total


# ---------------------------------------------------------------------------------------------
# Sector Liouvillian
# ---------------------------------------------------------------------------------------------


def _kron_entries(left, right, n_cols_right_in, n_cols_right_out):
    """Entries of kron(A, B) from the entry lists (rows, cols, extra) of A and B (broadcast)."""
    rl, cl = left[0][:, None], left[1][:, None]
    rr, cr = right[0][None, :], right[1][None, :]
    return (rl * n_cols_right_out + rr).ravel(), (cl * n_cols_right_in + cr).ravel()


def _sector_liouvillian(atoms: Atoms, nbar: float, d: int) -> tuple[sp.csr_matrix, float]:
    r"""CSR Liouvillian of sector ``d`` in the rotating frame (no :math:`H_0`), and its infinity norm.

    The vec of a block is row-major, so :math:`\mathrm{vec}(AXB) = (A\otimes B^T)\,\mathrm{vec}(X)`:

    * coherent + anticommutator part: :math:`-iH_k\rho + i\rho H_{k'}^\dagger` with the non-Hermitian
      :math:`H_k = \sum_{i\ne j}A_{ij}\sigma_+^i\sigma_-^j - \tfrac{i}{2}\gamma[(\bar n+1)k + \bar n(N-k)]`,
      :math:`A = \Omega - \tfrac{i}{2}(2\bar n+1)\Gamma_{\rm off}` (using
      :math:`\sigma_-^i\sigma_+^j = \sigma_+^j\sigma_-^i` for i != j);
    * jumps :math:`(\bar n+1)\gamma_{ij}\sigma_-^j\rho\sigma_+^i` from block (k+1, k'+1) and
      :math:`\bar n\gamma_{ij}\sigma_+^j\rho\sigma_-^i` from block (k-1, k'-1).

    Assembled block row by block row from cached index lists (no duplicate entries), so the peak
    memory stays near the size of the result.
    """
    n = atoms.n
    gm = np.asarray(atoms.gamma_matrix, dtype=float)
    gamma = float(atoms.gamma)
    off = gm - np.diag(np.diag(gm))
    coupling = np.asarray(atoms.dipolar_matrix, dtype=complex) - 0.5j * (2.0 * nbar + 1.0) * off
    ks = _sector_ks(n, d)
    sizes = {k: math.comb(n, k) for k in range(n + 1)}
    dims = [sizes[k] * sizes[k - d] for k in ks]
    offsets = np.concatenate([[0], np.cumsum(dims)]).astype(np.int64)
    dim = int(offsets[-1])

    def hop(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r, c, i, j = _moves(n, k)
        vals = coupling[i, j]
        keep = vals != 0
        return r[keep], c[keep], vals[keep]

    def decay(k: int) -> float:  # -(i/2) gamma a_k is the diagonal of H_k; this returns gamma a_k / 2
        return 0.5 * gamma * ((nbar + 1.0) * k + nbar * (n - k))

    # Preallocated result (the bound is exact for a dense Gamma and nbar > 0), filled block row by block row.
    bound = _sector_nnz_bound(n, d, nbar)
    idx_dtype = np.int32 if max(bound, dim) < 2**31 - 1 else np.int64
    data = np.empty(bound, dtype=complex)
    indices = np.empty(bound, dtype=idx_dtype)
    indptr = np.zeros(dim + 1, dtype=idx_dtype)
    nnz = 0
    inf_norm = 0.0
    for a, k in enumerate(ks):
        kp = k - d
        ck, ckp = sizes[k], sizes[kp]
        # Block row a in chunks of rows p0 <= p < p1 of rho_{k,k'} (block-row index p * ckp + q), so the
        # COO/CSR build copies stay below ~_BUILD_CHUNK_ENTRIES entries (N = 12: 9.9 GB -> 0.8 GB).
        chunk = max(1, _BUILD_CHUNK_ENTRIES // max(1, ckp * (n * n + 1)))
        hops_k, hops_kp = hop(k), hop(kp)
        for p0 in range(0, ck, chunk):
            p1 = min(ck, p0 + chunk)
            r0, n_rows = p0 * ckp, (p1 - p0) * ckp
            rows, cols, vals = [], [], []
            # diagonal: -i(-i decay_k) + i(+i decay_k') = -(decay_k + decay_k')
            diag = np.arange(r0, r0 + n_rows, dtype=np.int64)
            rows.append(diag)
            cols.append(diag + offsets[a])
            vals.append(np.full(n_rows, -(decay(k) + decay(kp)), dtype=complex))
            # -i Hop_k (x) 1
            hr, hc, hv = hops_k
            sel = (hr >= p0) & (hr < p1)
            hr, hc, hv = hr[sel], hc[sel], hv[sel]
            q = np.arange(ckp, dtype=np.int64)[None, :]
            rows.append((hr[:, None] * ckp + q).ravel())
            cols.append((hc[:, None] * ckp + q).ravel() + offsets[a])
            vals.append(np.repeat(-1j * hv, ckp))
            # +i 1 (x) conj(Hop_k')
            hr, hc, hv = hops_kp
            p = np.arange(p0, p1, dtype=np.int64)[:, None] * ckp
            rows.append((p + hr[None, :]).ravel())
            cols.append((p + hc[None, :]).ravel() + offsets[a])
            vals.append(np.tile(1j * hv.conj(), p1 - p0))
            if k + 1 <= n and kp + 1 <= n:  # jumps down from (k+1, k'+1): gamma_ij s-_j rho s+_i
                lr, lc, lj = _lowering(n, k + 1)
                sel = (lr >= p0) & (lr < p1)
                lr, lc, lj = lr[sel], lc[sel], lj[sel]
                rr, rc, ri = _lowering(n, kp + 1)
                g = (nbar + 1.0) * gm[ri[None, :], lj[:, None]].ravel()
                keep = g != 0
                r_, c_ = _kron_entries((lr, lc), (rr, rc), sizes[kp + 1], ckp)
                rows.append(r_[keep])
                cols.append(c_[keep] + offsets[a + 1])
                vals.append(g[keep].astype(complex))
            if nbar > 0 and k >= 1 and kp >= 1:  # jumps up from (k-1, k'-1): gamma_ij s+_j rho s-_i
                lc, lr, lj = _lowering(n, k)  # transposed: rows in sector k, cols in k-1
                sel = (lr >= p0) & (lr < p1)
                lr, lc, lj = lr[sel], lc[sel], lj[sel]
                rc, rr, ri = _lowering(n, kp)
                g = nbar * gm[ri[None, :], lj[:, None]].ravel()
                keep = g != 0
                r_, c_ = _kron_entries((lr, lc), (rr, rc), sizes[kp - 1], ckp)
                rows.append(r_[keep])
                cols.append(c_[keep] + offsets[a - 1])
                vals.append(g[keep].astype(complex))
            # each list is freed once joined: pieces and joined copies of all three never coexist
            chunk_vals = np.concatenate(vals)
            del vals
            chunk_rows = np.concatenate(rows)
            del rows
            chunk_rows -= r0
            chunk_cols = np.concatenate(cols)
            del cols
            block = sp.csr_matrix((chunk_vals, (chunk_rows, chunk_cols)), shape=(n_rows, dim))
            del chunk_vals, chunk_rows, chunk_cols
            row_sums = np.bincount(
                np.repeat(np.arange(n_rows), np.diff(block.indptr)), weights=np.abs(block.data), minlength=1
            )
            inf_norm = max(inf_norm, float(row_sums.max()))
            data[nnz : nnz + block.nnz] = block.data
            indices[nnz : nnz + block.nnz] = block.indices
            first = offsets[a] + r0
            indptr[first + 1 : first + n_rows + 1] = block.indptr[1:] + nnz
            nnz += block.nnz
            del block
    mat = sp.csr_matrix((data[:nnz], indices[:nnz], indptr), shape=(dim, dim), copy=False)
    return mat, inf_norm


# ---------------------------------------------------------------------------------------------
# Krylov exponential integrator
# ---------------------------------------------------------------------------------------------


def _invariant(hess: np.ndarray, mb: int, s: float, beta: float, span: float, tol_rate: float) -> bool:
    r"""Is the Krylov space of dimension ``mb`` invariant to within the tolerance over ``span``?

    First-term error estimate of Sidje (1998): :math:`\beta\, s \left|\int_0^{t} e_{m}^T e^{\tau H_m} e_1
    d\tau\right|`, read off the exponential of the Hessenberg matrix bordered by the residual ``s``.
    """
    aug = np.zeros((mb + 1, mb + 1), dtype=complex)
    aug[:mb, :mb] = hess[:mb, :mb]
    aug[mb, mb - 1] = s
    err = abs(beta * scipy.linalg.expm(span * aug)[mb, 0])
    return err <= 0.5 * tol_rate * span


class _KrylovStats:
    def __init__(self) -> None:
        self.matvecs = 0
        self.steps = 0
        self.rejected = 0


def _krylov_propagate(
    mat: sp.csr_matrix,
    anorm: float,
    v: np.ndarray,
    times: np.ndarray,
    tol_rate: float,
    *,
    m_max: int | None = None,
    stats: _KrylovStats | None = None,
    progress=None,
) -> np.ndarray:
    r""":math:`e^{t A}v` at the sorted ``times`` (>= 0) by adaptive Arnoldi steps.

    Local error control: each step of length :math:`h` must have the a-posteriori error estimate of
    Sidje (1998) below ``1.2 * tol_rate * h`` (so the accumulated error is :math:`\lesssim`
    ``tol_rate * t``). Output times inside a step come from the same Krylov basis, with the same check.
    """
    stats = stats if stats is not None else _KrylovStats()
    dim = v.shape[0]
    out = np.empty((len(times), dim), dtype=complex)
    w = np.array(v, dtype=complex)
    beta = float(np.linalg.norm(w))
    ti = 0
    while ti < len(times) and times[ti] == 0.0:
        out[ti] = w
        ti += 1
    if ti == len(times):
        return out
    if beta == 0.0:
        out[ti:] = 0.0
        return out
    m_max = max(1, min(KRYLOV_DIM if m_max is None else m_max, dim))
    t_final = float(times[-1])
    t_now = 0.0
    anorm = max(anorm, 1e-300)
    # Sidje's initial step guess.
    fact = ((m_max + 1) / math.e) ** (m_max + 1) * math.sqrt(2 * math.pi * (m_max + 1))
    t_new = (1.0 / anorm) * ((fact * tol_rate * t_final) / (4.0 * beta * anorm)) ** (1.0 / m_max)
    t_new = max(t_new, 1e-12 * t_final)
    basis = np.empty((m_max + 1, dim), dtype=complex)
    while ti < len(times):
        stats.steps += 1
        t_step = min(t_final - t_now, t_new)
        hess = np.zeros((m_max + 2, m_max + 2), dtype=complex)
        basis[0] = w / beta
        mb = m_max
        exact = False
        for j in range(m_max):
            p = mat @ basis[j]
            stats.matvecs += 1
            p_norm = float(np.linalg.norm(p))
            # classical Gram-Schmidt, twice (numerically as good as modified GS, BLAS-2 speed)
            hcol = (basis[: j + 1] @ p.conj()).conj()
            p -= hcol @ basis[: j + 1]
            corr = (basis[: j + 1] @ p.conj()).conj()
            p -= corr @ basis[: j + 1]
            hess[: j + 1, j] = hcol + corr
            s = float(np.linalg.norm(p))
            if j + 1 == dim or s == 0.0:
                mb, exact = j + 1, True
                break
            if s <= 1e-6 * p_norm and _invariant(hess, j + 1, s, beta, t_final - t_now, tol_rate):
                # (numerically) invariant subspace, e.g. the Dicke populations reached from |g...g>:
                # the rest of the interval is one step, its error estimate was checked above
                mb, exact = j + 1, True
                break
            hess[j + 1, j] = s
            basis[j + 1] = p / s
        if exact:
            t_step = t_final - t_now
        else:
            hess[m_max + 1, m_max] = 1.0
            avnorm = float(np.linalg.norm(mat @ basis[m_max]))
            stats.matvecs += 1
        xm = 1.0 / mb

        def propagator(tau: float) -> tuple[np.ndarray, float]:
            """Krylov coefficients of exp(tau A) w and their error estimate."""
            if exact:
                f = scipy.linalg.expm(tau * hess[:mb, :mb])
                return beta * f[:, 0], 0.0
            f = scipy.linalg.expm(tau * hess[: mb + 2, : mb + 2])
            phi1 = abs(beta * f[mb, 0])
            phi2 = abs(beta * f[mb + 1, 0] * avnorm)
            if phi1 > 10.0 * phi2:
                err = phi2
            elif phi1 > phi2:
                err = phi1 * phi2 / (phi1 - phi2)
            else:
                err = phi1
            return beta * f[: mb + 1, 0], err

        while True:
            coef, err = propagator(t_step)
            if err > 1.2 * tol_rate * t_step:
                stats.rejected += 1
                t_step = 0.9 * t_step * (t_step * tol_rate / err) ** xm
                if t_step <= 1e-14 * max(t_final, 1.0):
                    raise ConvergenceError(
                        f"Krylov step size underflow at t = {t_now:.6g} (error estimate {err:.3g}); "
                        "the tolerance `tol` may be below round-off."
                    )
                continue
            # the last step may miss t_final by round-off: snap it
            t_end = t_final if t_final - (t_now + t_step) <= 1e-13 * t_final else t_now + t_step
            # dense output at the requested times inside the step, same error criterion
            inside, bad = [], None
            for tj in range(ti, len(times)):
                if times[tj] > t_end:
                    break
                tau = times[tj] - t_now
                if times[tj] == t_end or tau >= t_step:
                    inside.append((tj, coef))
                    continue
                c_tau, e_tau = propagator(tau)
                if e_tau > 1.2 * tol_rate * tau:
                    bad = tau
                    break
                inside.append((tj, c_tau))
            if bad is None:
                break
            stats.rejected += 1
            t_step = bad
        for tj, c in inside:
            out[tj] = c @ basis[: len(c)]
        ti += len(inside)
        w = coef @ basis[: len(coef)]
        beta = float(np.linalg.norm(w))
        t_now = t_end
        if progress is not None:
            progress.update(t_step)
        if beta == 0.0:
            out[ti:] = 0.0
            break
        if exact or err == 0.0:
            t_new = t_final - t_now
        else:
            t_new = 0.9 * t_step * (t_step * tol_rate / err) ** xm
        if ti < len(times) and t_new <= 0.0:
            t_new = t_final - t_now
    return out


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _check_model(atoms: Atoms, bath: Bath) -> float:
    if not isinstance(atoms, Atoms):
        raise ParameterError(f"Argument `atoms` must be a qcharge.Atoms, but is {type(atoms).__name__}.")
    if not isinstance(bath, Bath):
        raise ParameterError(f"Argument `bath` must be a qcharge.Bath, but is {type(bath).__name__}.")
    check_resonant(atoms, bath)
    return bath.nbar


def _check_times(times: ArrayLike) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(times, dtype=float))
    except (TypeError, ValueError):
        raise ParameterError(f"Argument `times` must be a 1-D array of real numbers, but is {times!r}.") from None
    if arr.ndim != 1:
        raise ParameterError(f"Argument `times` must be 1-D, but has shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"Argument `times` must be finite, but contains {arr[~np.isfinite(arr)][0]}.")
    if arr.size and arr.min() < 0:
        raise ParameterError(f"Argument `times` must be >= 0, but contains {arr.min():.6g}.")
    if np.any(np.diff(arr) < 0):
        raise ParameterError("Argument `times` must be sorted in ascending order, but is not.")
    return arr


def check_memory(n_atoms: int, n_times: int = 1, max_memory_gb: float = 2.0) -> None:
    """Raise :class:`ParameterError` (naming ``atoms``) when the full-space solver would exceed the limit.

    Cheap at any N (a few float operations for N > 40), so callers run it before building any state.
    """
    limit = check_real("max_memory_gb", max_memory_gb, minimum=0.0, strict_min=True, allow_inf=True)
    n = check_int("atoms", n_atoms, minimum=1)
    need = memory_estimate_gb(n, n_times=n_times)
    if need > limit:
        raise ParameterError(
            f"Argument `atoms` must be small enough for the full-space method within max_memory_gb = {limit:g} GB, "
            f"but atoms = {n} needs about {_format_gb(n, n_times, need)} GB; raise max_memory_gb if the machine "
            "has it, or use method='dicke' (Dicke limit) or 'permutation' (uniform gamma_ij, Omega_ij)."
        )


def _format_gb(n: int, n_times: int, need: float) -> str:
    """``need`` as text; beyond float range, the larger of the two terms of the estimate as a power of ten."""
    if math.isfinite(need):
        return f"{need:.3g}"
    log_dense = math.log(16.0 * (n_times + 3)) + 2 * n * math.log(2.0)
    log_csr = math.lgamma(2 * n + 1) - 2 * math.lgamma(n + 1) + math.log((n * n + 1.0) * _BYTES_PER_NNZ)
    return f"10^{max(log_dense, log_csr) / math.log(10.0) - 9.0:.1f}"


def _check_state(rho0, atoms: Atoms) -> np.ndarray:
    if isinstance(rho0, InitialState):
        rho0 = rho0.density_matrix(atoms.n, atoms.omega)
    rho = check_density_matrix("rho0", rho0)
    if rho.shape[0] != 2**atoms.n:
        raise ParameterError(
            f"Argument `rho0` must have shape ({2**atoms.n}, {2**atoms.n}) for atoms = {atoms.n}, "
            f"but has shape {rho.shape}."
        )
    return np.asarray(rho, dtype=complex)


def memory_estimate_gb(n_atoms: int, *, n_times: int = 1, krylov_dim: int = KRYLOV_DIM) -> float:
    r"""Estimated peak memory (GB = 1e9 bytes) of :func:`evolve` / :func:`long_time_state` for N atoms.

    An upper bound on the peak resident memory: the CSR Liouvillian of the largest sector
    (:math:`\Delta n = 0`, :math:`\binom{2N}{N}` rows, :math:`N^2+1` entries per row), plus the larger of
    its assembly temporaries (one chunk of a block row) and the Krylov stage (basis, work vectors and the
    sector's outputs at ``n_times``, of this and of the previous sector: the two stages never overlap),
    the sector index maps, the dense :math:`2^N\times 2^N` states (the input, ``n_times`` outputs and two
    more) and the interpreter (0.1 GB). Measured at N = 12, T = omega, from the product thermal state at
    0.5 omega to 2 times: 9.8 GB peak RSS against 11.0 GB. Above N = 40 only the sector CSR and the dense states are counted, in floats (already
    > 1e18 GB; ``inf`` beyond float range), so the estimate is cheap at any N.

    Example:
        >>> round(memory_estimate_gb(10, n_times=4), 2)
        1.11
        >>> memory_estimate_gb(10**9)
        inf
    """
    n = check_int("atoms", n_atoms, minimum=1)
    n_times = check_int("n_times", n_times, minimum=0)
    # 4^N overflows a float beyond N = 511: then the answer is inf
    dense = (n_times + 3) * 16.0 * 4.0**n if n <= 511 else math.inf
    if n > _EXACT_ESTIMATE_MAX_N:
        # The exact count below costs O(N) big binomials (minutes at N = 1e9): count the CSR of the
        # Delta n = 0 sector (C(2N, N) rows, N^2 + 1 entries each, in floats) and the dense states only.
        log_dim0 = math.lgamma(2 * n + 1) - 2 * math.lgamma(n + 1)
        log_csr = log_dim0 + math.log(n * n + 1.0) + math.log(_BYTES_PER_NNZ)
        csr = math.exp(log_csr) if log_csr < 700 else math.inf
        return (csr + dense) / 1e9
    dim0 = math.comb(2 * n, n)
    nnz0 = _sector_nnz_bound(n, 0)
    index = 4 if max(nnz0, dim0) < 2**31 - 1 else 8  # as _sector_liouvillian chooses
    half = n // 2
    # the largest chunk of a block row being assembled (see _sector_liouvillian)
    row_entries = math.comb(n, half) * (n * n + 1)
    block_row = min(math.comb(n, half) * row_entries, max(_BUILD_CHUNK_ENTRIES, row_entries) + row_entries)
    build = block_row * _BYTES_PER_BUILD_ENTRY
    # basis (krylov_dim + 1), w, p and one product; outputs of this sector and of the one before
    krylov = (krylov_dim + 4 + 2 * n_times) * dim0 * 16
    total = (
        nnz0 * (16 + index)
        + index * (dim0 + 1)
        + max(build, krylov)
        + 4 * dim0 * 8
        + dense
        + _BASELINE_BYTES
    )
    return total / 1e9


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def liouvillian(
    atoms: Atoms,
    bath: Bath,
    *,
    delta_n: int | None = None,
    frame: str = "lab",
    max_memory_gb: float = 2.0,
) -> sp.csr_matrix:
    r"""Liouvillian of (1.1) as a sparse CSR matrix.

    Args:
        atoms, bath: the model (``bath.nbar`` must be finite).
        delta_n: ``None`` for the full :math:`4^N\times 4^N` superoperator in **QuTiP's column-stacking
            convention** (``qutip.liouvillian(H, c_ops).full()`` is the same matrix); an integer
            :math:`d` for the sector :math:`\Delta n = d` in the ordering of :func:`sector_indices`
            (what the solver propagates).
        frame: ``'lab'`` (with :math:`H_0 = \omega\hat N`) or ``'rotating'`` (without).
    """
    nbar = _check_model(atoms, bath)
    if math.isinf(nbar):
        raise ParameterError("Argument `bath.temperature` must be finite for a Liouvillian, but is inf (nbar = inf).")
    if frame not in _FRAMES:
        raise ParameterError(f"Argument `frame` must be one of {list(_FRAMES)}, but is {frame!r}.")
    n = atoms.n
    if delta_n is None:
        # all sectors at once: COO (int64 indices) + CSR copy of every entry
        need = sum(_sector_nnz_bound(n, d) for d in range(-n, n + 1)) * (_BYTES_PER_BUILD_ENTRY + 16) / 1e9
        limit = check_real("max_memory_gb", max_memory_gb, minimum=0.0, strict_min=True, allow_inf=True)
        if need > limit:
            raise ParameterError(
                f"Argument `atoms` is too large: the full 4^N Liouvillian for atoms = {n} needs about "
                f"{need:.3g} GB (limit {limit:g} GB); pass `delta_n` for one sector."
            )
    else:
        check_memory(n, 0, max_memory_gb)
    phase = atoms.omega if frame == "lab" else 0.0
    if delta_n is not None:
        d = check_int("delta_n", delta_n, minimum=-n, maximum=n)
        mat, _ = _sector_liouvillian(atoms, nbar, d)
        if phase and d:
            mat = (mat - 1j * phase * d * sp.identity(mat.shape[0], format="csr")).tocsr()
        return mat
    dim = 2**n
    rows, cols, vals = [], [], []
    for d in range(-n, n + 1):
        mat, _ = _sector_liouvillian(atoms, nbar, d)
        if phase and d:
            mat = (mat - 1j * phase * d * sp.identity(mat.shape[0], format="csr")).tocsr()
        r, c = sector_indices(n, d)
        colstack = c * dim + r  # QuTiP: vec stacks columns
        coo = mat.tocoo()
        rows.append(colstack[coo.row])
        cols.append(colstack[coo.col])
        vals.append(coo.data)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(dim * dim, dim * dim)
    )


def _present_sectors(rho0: np.ndarray, n: int, tol: float) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Sectors d >= 0 with a non-negligible part in rho0: (d, rows, cols, vector).

    A part X with trace norm <= 1e-3 * tol is dropped: the evolution is CPTP, hence contractive in
    trace norm, so this changes every later state by at most 1e-3 * tol.
    """
    present = []
    for d in range(0, n + 1):
        rows, cols = sector_indices(n, d)
        vec = rho0[rows, cols]
        if not np.any(vec):
            continue
        # ||X||_1 <= sqrt(rank) ||X||_F, rank <= sum over its blocks of min(rows, columns)
        if d:
            rank = sum(min(math.comb(n, k), math.comb(n, k - d)) for k in _sector_ks(n, d))
            if math.sqrt(rank) * np.linalg.norm(vec) <= 1e-3 * tol:
                continue
        present.append((d, rows, cols, vec))
    return present


def evolve(
    atoms: Atoms,
    bath: Bath,
    rho0: ArrayLike,
    times: ArrayLike,
    *,
    tol: float = 1e-10,
    max_memory_gb: float = 2.0,
    progress: bool = False,
) -> np.ndarray:
    r"""States :math:`\rho(t)` of the master equation (1.1) at ``times``.

    Args:
        atoms: N atoms with :math:`\gamma_{ij}` (PSD) and :math:`\Omega_{ij}`.
        bath: thermal bath (:math:`\bar n` from ``bath.nbar``; T = inf only with all times 0).
        rho0: initial density matrix (:math:`2^N\times 2^N`, QuTiP order) or an :class:`InitialState`.
        times: sorted times :math:`\ge 0` (units of :math:`1/\gamma` for ``atoms.gamma = 1``).
        tol: target absolute error of every state (Frobenius norm of each evolved sector).
        max_memory_gb: refuse (``ParameterError``) when :func:`memory_estimate_gb` exceeds it.
        progress: show a tqdm bar over the evolved sectors.

    Returns:
        Complex array of shape ``(len(times), 2**N, 2**N)``, lab frame.

    Example:
        >>> from qcharge import Atoms, Bath
        >>> from qcharge.states import ground_state
        >>> rho = evolve(Atoms.pair(1.0), Bath(1.0), ground_state(2), [0.0, 50.0])
        >>> round(float(abs(rho[1, 1, 2]) + abs(rho[1, 2, 1])), 6)   # C_l1 = x/(1+x+x^2)
        0.244728
    """
    # Krylov steps on sector vectors and small dense exponentials: up to a Hilbert dimension of
    # SMALL_DIMENSION (N <= 9) BLAS threads cost more than they bring (issue 9: N = 8 was 1.7-2.4x slower).
    with blas_threads_for(_hilbert_dim(atoms)):
        return _evolve(atoms, bath, rho0, times, tol, max_memory_gb, progress)


def _hilbert_dim(atoms) -> int:
    """2^N for a valid Atoms (0 otherwise: the checks inside then raise)."""
    return 2 ** min(int(atoms.n), 62) if isinstance(atoms, Atoms) else 0


def _evolve(atoms, bath, rho0, times, tol, max_memory_gb, progress) -> np.ndarray:
    nbar = _check_model(atoms, bath)
    times = _check_times(times)
    n = atoms.n
    check_memory(n, len(times), max_memory_gb)
    tol = check_real("tol", tol, minimum=0.0, strict_min=True)
    rho0 = _check_state(rho0, atoms)
    dim = 2**n
    out = np.zeros((len(times), dim, dim), dtype=complex)
    if len(times) == 0:
        return out
    if math.isinf(nbar):
        if np.any(times > 0):
            raise ParameterError(
                "Argument `bath.temperature` must be finite for times > 0, but is inf (nbar = inf: infinite rates)."
            )
        out[:] = rho0
        return out
    t_final = float(times[-1])
    tol_rate = tol / max(t_final, 1e-300)
    sectors = _present_sectors(rho0, n, tol)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=t_final * len(sectors), desc=f"lindblad N={n}", unit="1/gamma")
    try:
        for d, rows, cols, vec in sectors:
            mat, anorm = _sector_liouvillian(atoms, nbar, d)
            states = _krylov_propagate(mat, anorm, vec, times, tol_rate, progress=bar)
            del mat
            if d:
                states *= np.exp(-1j * atoms.omega * d * times)[:, None]
                out[:, rows, cols] = states
                out[:, cols, rows] = states.conj()
            else:
                out[:, rows, cols] = states
    finally:
        if bar is not None:
            bar.close()
    # The Krylov result is Hermitian up to ~tol; make it exactly so, one state at a time: the expression on
    # the whole array held three more copies of it (N = 12, 20 times: 16 GB), more than memory_estimate_gb counts.
    for state in out:
        state += state.conj().T
        state *= 0.5
    return out


def long_time_state(
    atoms: Atoms,
    bath: Bath,
    rho0: ArrayLike,
    *,
    tol: float = 1e-10,
    max_memory_gb: float = 2.0,
    max_time: float = 1e6,
    first_checkpoint: float = 10.0,
) -> np.ndarray:
    r"""The long-time state :math:`\lim_{t\to\infty}\rho(t)` reached **from** ``rho0``.

    Not a null-space solve (the kernel is degenerate in the Dicke limit, docs/physics.md §1.3): ``rho0`` is
    propagated sector by sector to checkpoints :math:`t_k = 2^k\,` ``first_checkpoint`` (in units of
    :math:`1/\gamma`) until the change between consecutive checkpoints is :math:`\le` ``tol`` (Frobenius)
    and at most half the previous change; for an exponentially relaxing tail this bounds the distance
    of the returned state to the limit by ``tol``. The residual :math:`\|\mathcal L\rho_\infty\|_F`
    is checked as well.

    Raises:
        ConvergenceError: not converged by ``max_time``, or a :math:`\Delta n \ne 0` coherence survives
            (possible at :math:`\bar n = 0`): the lab-frame state then rotates forever and has no limit.
        ParameterError: bad input (as :func:`evolve`), or infinite bath temperature.
    """
    with blas_threads_for(_hilbert_dim(atoms)):  # as in evolve
        return _long_time_state(atoms, bath, rho0, tol, max_memory_gb, max_time, first_checkpoint)


def _long_time_state(atoms, bath, rho0, tol, max_memory_gb, max_time, first_checkpoint) -> np.ndarray:
    nbar = _check_model(atoms, bath)
    n = atoms.n
    check_memory(n, 2, max_memory_gb)
    tol = check_real("tol", tol, minimum=0.0, strict_min=True)
    max_time = check_real("max_time", max_time, minimum=0.0, strict_min=True)
    first = check_real("first_checkpoint", first_checkpoint, minimum=0.0, strict_min=True)
    rho0 = _check_state(rho0, atoms)
    if math.isinf(nbar):
        raise ParameterError(
            "Argument `bath.temperature` must be finite for a long-time state, but is inf (nbar = inf)."
        )
    rate = max(float(atoms.gamma), 1e-300)
    first /= rate
    max_time /= rate
    dim = 2**n
    out = np.zeros((dim, dim), dtype=complex)
    # Per-checkpoint accuracy: a fraction of tol so that the convergence test is meaningful.
    seg_tol = 0.05 * tol
    for d, rows, cols, vec in _present_sectors(rho0, n, tol):
        mat, anorm = _sector_liouvillian(atoms, nbar, d)
        t_prev, v_prev = 0.0, vec
        last_change = math.inf
        t_next = first
        converged = False
        change = math.inf
        while t_prev < max_time:
            t_next = min(t_next, max_time)
            span = t_next - t_prev
            v_new = _krylov_propagate(mat, anorm, v_prev, np.array([span]), seg_tol / span)[0]
            change = float(np.linalg.norm(v_new - v_prev))
            t_prev, v_prev = t_next, v_new
            # at least two checkpoints, so that the geometric decrease is actually observed
            if change <= tol and change <= 0.5 * last_change and t_prev > first:
                converged = True
                break
            last_change = change
            t_next = 2.0 * t_prev
        residual = float(np.linalg.norm(mat @ v_prev - 1j * atoms.omega * d * v_prev))
        if not converged:
            raise ConvergenceError(
                f"Long-time state (sector Delta n = {d}) not converged by t = {t_prev:.6g}: change between the "
                f"last two checkpoints {change:.3g} > tol = {tol:g} or not decreasing; residual "
                f"||L rho|| = {residual:.3g}. Increase `max_time` or loosen `tol`."
            )
        if d and np.linalg.norm(v_prev) > tol:
            raise ConvergenceError(
                f"No stationary lab-frame limit: a Delta n = {d} coherence of norm {np.linalg.norm(v_prev):.3g} "
                f"survives (dark states at nbar = {nbar:g}, docs/physics.md §1.3) and rotates at frequency "
                f"{atoms.omega * d:g} (residual ||L rho|| = {residual:.3g}); use evolve() at the times of interest."
            )
        if residual > max(tol, 1e-12) * max(anorm, 1.0):
            raise ConvergenceError(
                f"Long-time state (sector Delta n = {d}) has residual ||L rho|| = {residual:.3g} "
                f"> tol * ||L|| = {tol * anorm:.3g} at t = {t_prev:.6g}."
            )
        if d:
            out[rows, cols] = v_prev
            out[cols, rows] = v_prev.conj()
        else:
            out[rows, cols] = v_prev
    out += out.conj().T  # Hermitian to round-off, as in evolve
    out *= 0.5
    return out
