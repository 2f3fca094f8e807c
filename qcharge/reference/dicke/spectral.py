r"""Certified finite-time C_l1 at small N from one refined eigendecomposition per chain (docs/physics.md §2.7).

Why. At N <= ``MAX_ATOMS`` every chain is short (L = N - 2j + 1 levels) and every time of a solve needs all
of them: FLINT's dense arb exponential costs O(L^3) per chain and time (~1 ms at L = 11), the big-integer
uniformisation ~L^2 gamma t steps per entry. One eigendecomposition per chain serves every time, and the
sum (2.7) one ball-matrix product per sector for all times.

Enclosure. In the symmetric coordinates :math:`y = q/\sqrt\pi` (:math:`\pi_m = x^m`) the chain generator is
the symmetric tridiagonal S of :mod:`.dynamics`, :math:`\le 0` (detailed balance), so
:math:`\|e^{tS}\|_2 \le 1`. For any V, c and diagonal :math:`D \le 0` (exact binary numbers; here
:math:`c = V^Ty(0)`), :math:`\hat y(t) = Ve^{tD}c` misses y(0) by :math:`z_0 = y(0) - Vc` and has the defect
:math:`\hat y' - S\hat y = -\mathrm{Res}\,e^{tD}c`, :math:`\mathrm{Res} = SV - VD`; by variation of constants

.. math::

    \|\hat y(t) - y(t)\|_2 \le \|z_0\|_2 + \sum_i \|\mathrm{Res}_{:,i}\|_2\,|c_i|\,\min(t, 1/|d_i|)
        =: \varepsilon(t),

so :math:`|q_m(t) - \sqrt{\pi_m}\hat y_m(t)| \le \sqrt{\pi_m}\,\varepsilon(t)`. c, Res and :math:`\hat y` are
arb balls, so this holds whatever V is; V and D are float64 eigenpairs refined to the bits needed (Ogita &
Aishima, Japan J. Indust. Appl. Math. 35, 1007 (2018); the correction is computed in float64, so each step
multiplies the error by ~u), which only makes Res small.

Sum. Per chain :math:`q_j(t) = \mathrm{diag}(\sqrt\pi)V_j e^{tD_j}c_j` for all times is one ball product; per
sector, with :math:`E_{kk} = [P_i(j)]` exact (:func:`.certified_l1._eberlein_matrices`), the rows i >= 1 of
:math:`g_k(t) = E_{kk}\,q_{\cdot,k}(t)` for all times are another; :math:`C_{l1}(t) = \sum|g|` in ball
arithmetic, and the enclosure adds at most :math:`\sum_{k,j} a_{kk,j}\sqrt{\pi_{k-j}}\,\varepsilon_j(t)`
with the exact column sums :math:`a_{kk,j} = \sum_{i\ge1}|P_i(j)|`.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np

__all__ = ["MAX_ATOMS", "float_log_l1", "thermal_l1_spectral"]

# Up to this N every time goes through one eigendecomposition per chain. Measured against the per-time routes
# of .thermal_l1 (T0 = 0.5 to T = 1, 21 times): N = 10 2.9 vs 14 ms, N = 20 8.5 vs 34 ms, N = 40 50 vs 67 ms,
# N = 44 72 vs 73 ms (the O(L^3) ball products of the refinement take over).
MAX_ATOMS = 40
# Refinement steps at most (each adds ~50 bits; a pair float64 cannot split stops it).
_MAX_STEPS = 12
# Arb precision above the bits asked for (the bits already count the cancellation of (2.7)).
_GUARD_BITS = 32
# Float sums of non-negative terms below: relative rounding <= (terms) u, far inside this margin.
_MARGIN = 1.0 + 1e-9


def _flint():
    import flint

    return flint


class ChainSpectrum:
    r"""One chain's eigendecomposition refined to ``bits`` bits, its residual column norms; arb work at
    ``bits + _GUARD_BITS``. ``ok`` is False when the refinement did not converge (a pair float64 cannot split)."""

    def __init__(self, length: int, nbar: float, bits: int) -> None:
        from scipy.linalg import eigh_tridiagonal

        from .certified_l1 import _ArbPrecision
        from .dynamics import _chain_rates

        flint = _flint()
        arb, mat = flint.arb, flint.arb_mat
        self.length, self.bits, self.prec, self.ok = length, int(bits), int(bits) + _GUARD_BITS, False
        fr = Fraction(nbar)
        num, den = fr.numerator, fr.denominator
        with _ArbPrecision(self.prec):
            xe = arb(num) / (num + den)  # the binary nbar's own ratio (the float x differs in the last bit)
            self.sqrt_pi = [xe ** (arb(m) / 2) for m in range(length)]
            if length == 1:
                self.v, self.d, self.res_norms, self.ok = mat([[1]]), [arb(0)], [0.0], True
                self.inv_d, self.scaled_v = [math.inf], mat([[1]])
                return
            up, down = _chain_rates(length, nbar)
            _lam, vec = eigh_tridiagonal(-(up + down), np.sqrt(up[:-1] * down[1:]))
            nb = arb(num) / den
            root = (nb * (nb + 1)).sqrt()
            s = mat(length, length)
            for m in range(length):
                s[m, m] = -(nb * ((m + 1) * (length - 1 - m)) + (nb + 1) * (m * (length - m)))
                if m + 1 < length:
                    s[m, m + 1] = s[m + 1, m] = root * ((m + 1) * (length - 1 - m))
            v = mat(vec.tolist())
            eye = mat(length, length)
            for i in range(length):
                eye[i, i] = 1
            target = 2.0**-self.bits
            for _step in range(_MAX_STEPS):
                vt = v.transpose()
                r = eye - vt * v
                t = vt * (s * v)
                rf = np.array([float(e) for e in r.entries()]).reshape(length, length)
                tf = np.array([float(e) for e in t.entries()]).reshape(length, length)
                lamf = np.diag(tf) / (1.0 - np.diag(rf))
                gaps = lamf[None, :] - lamf[:, None]
                np.fill_diagonal(gaps, 1.0)
                if np.min(np.abs(gaps)) < 1e-12 * float(np.max(np.abs(lamf))):
                    return  # a pair float64 cannot separate: the correction would not be small
                corr = (tf + lamf[None, :] * rf) / gaps
                np.fill_diagonal(corr, 0.5 * np.diag(rf))
                size = float(np.max(np.abs(corr)))
                # Rayleigh quotients of this V: their error is ~size^2 |S|, what the refined V's residual carries
                d = [(t[i, i] / (1 - r[i, i])).mid() for i in range(length)]
                if size <= target:
                    break
                v = (v + v * mat(corr.tolist())).mid()
                if size * 2.0**-48 + size * size <= target:
                    break  # the step just taken reached the target (quadratic convergence from here)
            else:
                return
            d = [di if di < 0 else arb(0) for di in d]  # D <= 0: the stationary mode's quotient is ~0
            res = s * v - v * _diagonal(d)
            gram = res.transpose() * res
            self.res_norms = [math.sqrt(float(gram[i, i].upper())) * _MARGIN for i in range(length)]
            self.inv_d = [math.inf if di == 0 else float((1 / abs(di)).upper()) for di in d]
            self.scaled_v = _diagonal(self.sqrt_pi) * v  # diag(sqrt pi) V: q = scaled_v e^{tD} c
        self.v, self.d, self.ok = v, d, True


def _diagonal(entries: list):
    """A diagonal arb_mat."""
    out = _flint().arb_mat(len(entries), len(entries))
    for i, e in enumerate(entries):
        out[i, i] = e
    return out


def _eberlein_abs_column_sums(mats: tuple, n: int) -> list:
    r"""Per kk the exact :math:`a_{kk,j} = \sum_{i\ge1}|P_i(j)|` (j = 0..kk) as floats rounded up."""
    out = [None]
    for kk in range(1, n // 2 + 1):
        e = mats[kk]
        sums = [sum(abs(int(e[i, j])) for i in range(1, kk + 1)) for j in range(kk + 1)]
        out.append([float(s) * (1 + 2**-52) for s in sums])
    return out


def _chain_weights(n: int, x: float, abs_sums: list) -> np.ndarray:
    r"""Per chain j, :math:`w_j = \sum_{k=1}^{N-1} a_{kk,j}\,x^{(k-j)/2}` (float64, x rounded up by the margin):
    what an error :math:`\varepsilon_j` of the chain's :math:`\hat y` costs the sum (2.7) at most."""
    out = np.zeros(n // 2 + 1)
    root = math.sqrt(x) * _MARGIN
    for k in range(1, n):
        kk = min(k, n - k)
        for j in range(kk + 1):
            out[j] += abs_sums[kk][j] * root ** (k - j)
    return out * _MARGIN


def _bits_needed(nbar: float, x: float, lengths, gamma_t, log_allowed: float, chain_weight, q0_floats, starts) -> int:
    """Bits for the eigenvectors so that the enclosure spends about e^{log_allowed} at every time: per chain its
    weight, ||y0||, ||S|| max(t, 1) (the residual scale); the bound is checked afterwards."""
    log_t = math.log(max(float(np.max(gamma_t)), 1.0))
    total = 0.0
    for j, length in enumerate(lengths):
        y0 = np.asarray(q0_floats[starts[j] : starts[j] + length]) * x ** (-0.5 * np.arange(length))
        total += chain_weight[j] * float(np.sqrt(np.sum(y0 * y0))) * (2.0 * nbar + 1.0) * length**2
    # no guard bits: this overestimates the residual's effect by ~30 bits (measured: N = 40 asked for 80 bits
    # for 1e-12 and got 2e-23); a shortfall is caught afterwards and redone with the missing bits
    return max(int((math.log(total) + log_t - log_allowed) / math.log(2.0)), 53)


@lru_cache(maxsize=8)
def _float_eberlein(n: int) -> tuple:
    """Per kk the rows i >= 1 of the Eberlein matrix as float64 (read-only), for :func:`float_log_l1`."""
    from .certified_l1 import _eberlein_matrices

    mats = _eberlein_matrices(n)
    out = [None]
    for kk in range(1, n // 2 + 1):
        e = np.array([[float(int(mats[kk][i, j])) for j in range(kk + 1)] for i in range(1, kk + 1)])
        e.setflags(write=False)
        out.append(e)
    return tuple(out)


def float_log_l1(n: int, q: np.ndarray) -> np.ndarray:
    r""":math:`\ln C_{l1}` per time from float64 block probabilities q (shape (n_t, J, N+1)) by (2.7) in float64
    (the Eberlein integers rounded to float): a guess that sizes the bits, not a value (its cancellation costs
    ~log10 of the ratio sum|q P| / C_l1 digits: ~8 at N = 40)."""
    mats = _float_eberlein(n)
    total = np.zeros(q.shape[0])
    for k in range(1, n):
        kk = min(k, n - k)
        total += np.abs(q[:, : kk + 1, k] @ mats[kk].T).sum(axis=1)
    with np.errstate(divide="ignore"):
        return np.log(total)


def thermal_l1_spectral(n: int, nbar: float, pe0: float, gamma_t, rel_tol: float, log_guess) -> list:
    r"""Certified C_l1 at each :math:`\gamma t > 0` from a product thermal state, N <= ``MAX_ATOMS``; None per
    time where the bound misses ``rel_tol`` (the caller's other routes), or everywhere if a chain's
    refinement does not converge.

    Args:
        n: atoms; nbar: bath occupation (0 < nbar < inf, taken as the exact binary number); pe0: initial excited
            probability; gamma_t: times (> 0); rel_tol: requested relative bound.
        log_guess: per time an estimate of :math:`\ln C_{l1}` (it sizes the bits; nan: unknown).

    Returns:
        Per time an internal ``_L1`` (:mod:`.certified_l1`) or None.
    """
    from .certified_l1 import _ArbPrecision, _eberlein_matrices, _finish
    from .thermal_l1 import _initial_balls

    flint = _flint()
    arb, mat = flint.arb, flint.arb_mat
    gts = np.asarray(gamma_t, dtype=float)
    guesses = np.asarray(log_guess, dtype=float)
    if n < 2 or not np.all(np.isfinite(guesses)) or not gts.size:
        return [None] * gts.size
    jmax = n // 2
    lengths = [n - 2 * j + 1 for j in range(jmax + 1)]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int)
    mats = _eberlein_matrices(n)
    abs_sums = _eberlein_abs_column_sums(mats, n)
    log_allowed = float(np.min(guesses)) + math.log(rel_tol) - math.log(4.0)
    out: list = [None] * gts.size
    x = nbar / (nbar + 1.0)
    chain_weight = _chain_weights(n, x, abs_sums)
    q0_f = [float(v.mid()) for v in _initial_balls(n, pe0, 64)]
    bits = _bits_needed(nbar, x, lengths, gts, log_allowed, chain_weight, q0_f, starts)
    for _attempt in range(2):
        spectra = [ChainSpectrum(length, nbar, bits) for length in lengths]
        if not all(sp.ok for sp in spectra):
            return out
        prec = bits + _GUARD_BITS
        with _ArbPrecision(prec):
            q0 = _initial_balls(n, pe0, prec)
            times = [arb(float(h)) for h in gts]
            n_t = gts.size
            qt, weights, misses, dropped = [], [], [], []
            zero, cut = arb(0), (prec + 8) * math.log(2.0)
            for j, sp in enumerate(spectra):
                length = lengths[j]
                y0 = mat([[q / p] for q, p in zip(q0[starts[j] : starts[j] + length], sp.sqrt_pi)])
                # V is orthogonal to ~2^-bits: c = V^T y0, and its miss z0 = y0 - V c (propagated with norm <= 1)
                c = sp.v.transpose() * y0
                z0 = y0 - sp.v * c
                # z * z, not z ** 2: arb's power of a ball around 0 is nan
                miss2 = sum((z0[m, 0] * z0[m, 0] for m in range(length)), arb(0))
                misses.append(math.sqrt(float(miss2.upper())) * _MARGIN)
                coef = [c[i, 0] for i in range(length)]
                weights.append(np.array([rn * float(abs(ci).upper()) for rn, ci in zip(sp.res_norms, coef)]))
                # modes with e^{d_i t} <= 2^-(prec + 8) are left out (the float d t shrunk by the margin, so only
                # surely negligible ones): at most 2 |c_i| 2^-(prec + 8) each in ||y|| (V's columns have norm ~1)
                gone = np.outer(gts, [float(di) for di in sp.d]) / _MARGIN <= -cut
                abs_c = np.array([float(abs(ci).upper()) for ci in coef])
                dropped.append(2.0 * (gone @ abs_c) * 2.0 ** -(prec + 8))
                modes = mat(n_t, length, [zero if out_ else (di * tt).exp() * ci for tt, row in zip(times, gone)
                                          for di, ci, out_ in zip(sp.d, coef, row)])
                qt.append((sp.scaled_v * modes.transpose()).entries())  # q_j(t), row-major (L, n_t)
            # per sector g = E_kk q_{.,k}(t) for all times at once; C_l1(t) = sum over rows i >= 1 of |g|
            totals = [arb(0) for _ in range(n_t)]
            as_arb: dict = {}
            for k in range(1, n):
                kk = min(k, n - k)
                if kk not in as_arb:
                    as_arb[kk] = mat(mats[kk])
                b = mat(kk + 1, n_t, [qt[j][(k - j) * n_t + pos] for j in range(kk + 1) for pos in range(n_t)])
                for idx, e in enumerate((as_arb[kk] * b).entries()[n_t:]):
                    totals[idx % n_t] += abs(e)
            # eps_j(t) for every chain and time: (n_times, chains)
            eps = np.stack([np.minimum(gts[:, None], np.asarray(sp.inv_d)[None, :]) @ w + miss + drop
                            for w, sp, miss, drop in zip(weights, spectra, misses, dropped)], axis=1)
            defects = (eps @ chain_weight) * _MARGIN * _MARGIN
            short = 0.0
            for pos in range(gts.size):
                if out[pos] is not None:
                    continue
                # a nan or infinite defect certifies nothing (log(nan) must not read as a zero bound)
                log_defect = math.log(defects[pos]) if defects[pos] > 0 else (-np.inf if defects[pos] == 0 else np.inf)
                res = _finish([(totals[pos], 1)], 0, log_defect)
                if res.rel_bound <= rel_tol:
                    out[pos] = res
                elif np.isfinite(res.rel_bound):
                    short = max(short, math.log2(res.rel_bound / rel_tol))
        if all(r is not None for r in out) or short == 0.0:
            break
        bits += int(short) + 16  # the guess was high for some time: once more with the missing bits
    return out
