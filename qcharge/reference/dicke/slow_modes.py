r"""Certified chain populations from the slow modes: a Rayleigh-Ritz enclosure of :math:`e^{tG}q(0)` (docs/physics.md §2.8).

Why. At intermediate times neither route of :mod:`.thermal_l1` fits: uniformisation costs
:math:`\lambda t \sim L^2\gamma t` steps per chain, and the relaxation bound (the stationary mode alone)
needs :math:`e^{-g_2 t}` below the cancellation of (2.7), i.e. :math:`\gamma t \gtrsim 1`. The chains'
spectra are :math:`0 < \mu_1 \approx \mu_2 < \mu_3 \approx \mu_4 \dots` (pairs split by ~:math:`x^{L/2}`,
:math:`\mu_{2i} \sim iL`), so a handful of slow modes carries everything above :math:`e^{-\mu_r t}`.

How. In :math:`h = q/\pi` coordinates (:math:`\pi_m = x^m`) the generator is the backward operator
:math:`B = G^T`, self-adjoint and :math:`\le 0` in :math:`\langle a,b\rangle_\pi = \sum_m \pi_m a_m b_m`
(detailed balance). For any r columns W (approximate slow eigenvectors; here from inverse iteration in
gmpy2 mpfr, then taken as the exact binary numbers they are), with :math:`M = W^T\Pi W`,
:math:`K = W^T\Pi BW`, :math:`A = M^{-1}K`, :math:`c_0 = M^{-1}W^Tq(0)`, the Galerkin solution
:math:`\hat h(t) = W e^{At}c_0` has error :math:`e(t) = e^{tB}z_0 + \int_0^t e^{(t-s)B} R\,c(s)\,ds`
(:math:`z_0 = h_0 - Wc_0`, :math:`R = BW - WA`), hence, with :math:`\|e^{sB}\|_\pi \le 1`,
:math:`\|c(s)\|_M \le \|c_0\|_M` (K ≤ 0) and P the exact slow spectral projector,

.. math::

    \|e(t)\|_\pi \le (e^{-gt} + \sin\Theta)\|z_0\|_\pi + \|\Pi_W z_0\|_\pi
        + t\,\|R\|_{F,\pi}\,\|c_0\|_M/\sqrt{\lambda_{\min}(M)},

where g is certified by Sylvester's inertia (exactly r eigenvalues :math:`\mu < g`) and
:math:`\sin\Theta \le \|R\|_{F,\pi}/(\sqrt{\lambda_{\min}(M)}\,(g - g'))` (Davis-Kahan), g' a certified
upper bound of the Ritz values (:math:`K + g'M` positive definite, Cholesky in arb). Every quantity is an
arb ball, so :math:`|q_m(t) - \pi_m\hat h_m| \le \sqrt{\pi_m}\,\|e\|_\pi` is rigorous.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

__all__ = ["chain_slow_modes", "slow_mode_count"]

# Most slow modes kept per chain (the Python-level work is ~ iterations x r x L mpfr operations).
MAX_MODES = 128
# A cut between modes r-1 and r must sit in a real gap (not inside a near-degenerate pair).
_MIN_REL_GAP = 1e-3
# Most inverse-iteration sweeps.
_MAX_SWEEPS = 14


def _flint():
    import flint

    return flint


def _float_modes(length: int, nbar: float, count: int):
    """Float64 slowest ``count`` eigenpairs of the symmetrised chain: (mu ascending, u columns)."""
    from scipy.linalg import eigh_tridiagonal

    from .dynamics import _chain_rates

    up, down = _chain_rates(length, nbar)
    off = np.sqrt(up[:-1] * down[1:])
    count = min(count, length)
    lam, vec = eigh_tridiagonal(-(up + down), off, select="i", select_range=(length - count, length - 1))
    order = np.argsort(-lam)
    return -lam[order], vec[:, order]


def slow_mode_count(length: int, nbar: float, gamma_t: float, log_decay: float):
    r"""Smallest r with :math:`\mu_r t \ge` ``log_decay`` and a real gap below :math:`\mu_r`, with the cut g.

    Returns ``(r, g, mu)`` (float estimates; g is certified later) or None if more than ``MAX_MODES``.
    """
    if length == 1:
        return None
    mu, _ = _float_modes(length, nbar, min(length, MAX_MODES + 1))
    for r in range(1, mu.size):
        gap = mu[r] - mu[r - 1]
        g = mu[r - 1] + 0.75 * gap
        if gap > _MIN_REL_GAP * mu[r] and g * gamma_t >= log_decay:
            return r, g, mu[:r]
    return None


def _sylvester_count(length: int, num: int, den: int, g: float, prec: int = 128) -> int:
    r"""Number of eigenvalues :math:`\mu < g` of the chain (positive LDL^T pivots of S + gI, in arb); -1 if unresolved."""
    arb = _flint().arb
    from .certified_l1 import _ArbPrecision

    with _ArbPrecision(prec):
        nb = arb(num) / den
        ga = arb(g)
        positive = 0
        d = None
        for m in range(length):
            upm = nb * ((m + 1) * (length - 1 - m))
            dnm = (nb + 1) * (m * (length - m))
            t = ga - upm - dnm
            if m:
                upp = nb * (m * (length - m))  # up_{m-1}
                t = t - upp * dnm / d
            d = t
            if d > 0:
                positive += 1
            elif not d < 0:
                return -1
    return positive


def _inverse_iteration(length: int, nbar_mp, mu: np.ndarray, u0: np.ndarray, log_tol: float, prec: int):
    r"""High-precision slow eigenvectors of the symmetrised chain S (mpfr, columns), or None.

    Per column its own shift (first the float64 eigenvalue, then the Rayleigh quotient); columns whose
    eigenvalues are closer than 1e-6 relative (the near-degenerate pairs) are orthogonalised together after
    each sweep, so the pair's subspace converges without the two columns collapsing. Stops when every
    cluster's residual :math:`\|SU - U H\|` is below :math:`e^{\text{log\_tol}}`.
    """
    import gmpy2

    ctx = gmpy2.get_context()
    old = ctx.precision
    ctx.precision = prec
    try:
        mpfr = gmpy2.mpfr
        m = np.arange(length)
        nb = nbar_mp
        up = np.array([nb * int((k + 1) * (length - 1 - k)) for k in m], dtype=object)
        dn = np.array([(nb + 1) * int(k * (length - k)) for k in m], dtype=object)
        diag = -(up + dn)
        off = np.array([gmpy2.sqrt(up[k] * dn[k + 1]) for k in range(length - 1)], dtype=object)
        r = mu.size
        u = np.empty((length, r), dtype=object)
        for i in range(r):
            u[:, i] = [mpfr(float(v)) for v in u0[:, i]]
        # Clusters of (nearly) equal eigenvalues.
        clusters, start = [], 0
        for i in range(1, r + 1):
            if i == r or abs(mu[i] - mu[i - 1]) > 1e-6 * max(mu[i], 1.0):
                clusters.append(list(range(start, i)))
                start = i
        shifts = np.array([mpfr(float(-v)) for v in mu], dtype=object)  # eigenvalues of S are -mu

        def apply_s(v):
            out = diag[:, None] * v
            out[1:] += off[:, None] * v[:-1]
            out[:-1] += off[:, None] * v[1:]
            return out

        for _sweep in range(_MAX_SWEEPS):
            # Solve (S - sigma I) x = u per column (Thomas; the indefinite shifted matrix is fine for
            # inverse iteration: an error along the eigenvector is what it amplifies anyway).
            a = diag[:, None] - shifts[None, :]
            cp = np.empty((length, r), dtype=object)
            dp = np.empty((length, r), dtype=object)
            tiny = mpfr(2) ** (-prec) * (1 + abs(diag[0]))
            piv = np.where(a[0] == 0, tiny, a[0])
            cp[0] = off[0] / piv if length > 1 else 0
            dp[0] = u[0] / piv
            for k in range(1, length):
                piv = a[k] - off[k - 1] * cp[k - 1]
                piv = np.where(piv == 0, tiny, piv)  # an exactly singular shift (e.g. mu = 0 taken exactly)
                if k < length - 1:
                    cp[k] = off[k] / piv
                dp[k] = (u[k] - off[k - 1] * dp[k - 1]) / piv
            x = np.empty((length, r), dtype=object)
            x[length - 1] = dp[length - 1]
            for k in range(length - 2, -1, -1):
                x[k] = dp[k] - cp[k] * x[k + 1]
            if not all(gmpy2.is_finite(v) for v in x.ravel()):
                return None  # a breakdown of the unpivoted solve: the caller takes another route
            # Orthonormalise within clusters (modified Gram-Schmidt), normalise the rest.
            for cl in clusters:
                for pos, i in enumerate(cl):
                    for jj in cl[:pos]:
                        x[:, i] = x[:, i] - (x[:, i] * x[:, jj]).sum() * x[:, jj]
                    x[:, i] = x[:, i] / gmpy2.sqrt((x[:, i] * x[:, i]).sum())
            u = x
            su = apply_s(u)
            worst = -math.inf
            for cl in clusters:
                h = np.array([[(u[:, a_] * su[:, b_]).sum() for b_ in cl] for a_ in cl], dtype=object)
                res = su[:, cl] - u[:, cl].dot(h)
                worst = max(worst, float(gmpy2.log(gmpy2.sqrt((res * res).sum()) + mpfr(2) ** (-prec))))
                for pos, i in enumerate(cl):
                    shifts[i] = h[pos, pos]
            if worst <= log_tol:
                return u
        return None
    finally:
        ctx.precision = old


def _mpfr_to_arb(v):
    arb = _flint().arb
    man, exp = v.as_mantissa_exp()
    return arb(int(man)) * arb(2) ** int(exp)


def chain_slow_modes(length: int, nbar: float, q0: list, gamma_t: float, log_target: float, plan):
    r"""One chain's q(gamma t) by the slow-mode enclosure: (values, radii) as arb balls, or None.

    Args:
        length: chain length L; nbar: bath occupation (a binary number, taken exactly); q0: q(0) as arb
            balls; gamma_t: time; log_target: ln of the π-norm error E wanted (the radii are
            :math:`\sqrt{\pi_m}E`); plan: ``(r, g, mu)`` from :func:`slow_mode_count`.
    """
    import gmpy2

    from .certified_l1 import _ArbPrecision

    flint = _flint()
    arb = flint.arb
    r, g, mu = plan
    fr = Fraction(nbar)
    num, den = fr.numerator, fr.denominator
    if _sylvester_count(length, num, den, g) != r:
        return None
    g_ritz = float(mu[-1]) + 0.5 * (g - float(mu[-1]))  # the Ritz values must stay below this
    delta = g - g_ritz
    # Working precision: the error asked for relative to ||h0|| (~ the initial populations' scale), plus
    # the bits the residual needs against 1/t and the gap, plus guard bits.
    xe0 = arb(num) / (num + den)
    h0_norm2 = arb(0)
    inv_pi = arb(1)
    for v in q0:  # ||h0||_pi^2 = sum q0^2 / pi_m
        h0_norm2 += v * v * inv_pi
        inv_pi = inv_pi / xe0
    log_h0 = 0.5 * math.log(max(float(h0_norm2.upper()), 1e-300))
    rel_bits = (log_h0 - log_target) / math.log(2.0)
    prec = int(rel_bits + math.log2(max(gamma_t, 1.0 / delta, 1.0)) + math.log2(length) * 2 + 64)
    prec = max(prec, 128)
    log_tol = log_target - log_h0 - math.log(8.0 * max(gamma_t, 1.0 / delta, 1.0)) - 2.0
    ctx = gmpy2.get_context()
    old = ctx.precision
    ctx.precision = prec + 32
    try:
        nb_mp = gmpy2.mpfr(num) / den
        x_mp = nb_mp / (nb_mp + 1)
    finally:
        ctx.precision = old
    _, u0 = _float_modes(length, nbar, r)
    u = _inverse_iteration(length, nb_mp, np.asarray(mu), u0, log_tol, prec + 32)
    if u is None:
        return None
    aprec = prec + 64
    with _ArbPrecision(aprec):
        ctx.precision = prec + 32
        try:
            # W = U / sqrt(pi) in h coordinates, rounded once in mpfr, then taken exactly.
            sq = [gmpy2.sqrt(x_mp**mm) for mm in range(length)]
            w_rows = [[_mpfr_to_arb(u[mm, i] / sq[mm]) for i in range(r)] for mm in range(length)]
        finally:
            ctx.precision = old
        xe = arb(num) / (num + den)
        pis = [arb(1)]
        for _ in range(length - 1):
            pis.append(pis[-1] * xe)
        nb = arb(num) / den
        w = np.array(w_rows, dtype=object)
        ups = np.array([nb * ((mm + 1) * (length - 1 - mm)) for mm in range(length)], dtype=object)
        dns = np.array([(nb + 1) * (mm * (length - mm)) for mm in range(length)], dtype=object)
        bw = np.empty_like(w)
        for i in range(r):
            col = w[:, i]
            out = np.empty(length, dtype=object)
            out[:] = arb(0)
            out[:-1] = ups[:-1] * (col[1:] - col[:-1])
            out[1:] = out[1:] + dns[1:] * (col[:-1] - col[1:])
            bw[:, i] = out
        pi_col = np.array(pis, dtype=object)
        pw = pi_col[:, None] * w
        mat = flint.arb_mat
        w_m = mat(w.tolist())
        pw_t = mat(pw.T.tolist())
        bw_m = mat(bw.tolist())
        mm_ = pw_t * w_m  # M = W^T Pi W
        kk_ = pw_t * bw_m  # K = W^T Pi B W (symmetric, <= 0)
        q0_m = mat([[v] for v in q0])
        wq = w_m.transpose() * q0_m  # W^T q0 = W^T Pi h0
        try:
            a_m = mm_.solve(kk_)
            c0 = mm_.solve(wq)
        except (ZeroDivisionError, ValueError):
            return None
        # lambda_min(M) >= 1 - ||M - I||_F (M ~ I: the columns are pi-orthonormal up to the residual).
        dev = arb(0)
        for i in range(r):
            for j in range(r):
                e = mm_[i, j] - (1 if i == j else 0)
                dev += e * e
        lam_min = 1 - dev.sqrt()
        if not lam_min > 0:
            return None
        # Ritz values below g': K + g' M positive definite (Cholesky pivots > 0).
        if not _positive_definite([[kk_[i, j] + arb(g_ritz) * mm_[i, j] for j in range(r)] for i in range(r)]):
            return None
        res = bw_m - w_m * a_m  # R = BW - WA
        res_f2 = arb(0)
        for mm in range(length):
            row = arb(0)
            for i in range(r):
                row += res[mm, i] * res[mm, i]
            res_f2 += pis[mm] * row
        res_f = arb(res_f2.upper()).sqrt()
        c0_norm = (c0.transpose() * mm_ * c0)[0, 0]
        c0_norm = arb(c0_norm.upper()).sqrt() if c0_norm.upper() > 0 else arb(0)
        wc0 = w_m * c0
        z_norm2 = arb(0)
        for mm in range(length):
            z = q0[mm] - pis[mm] * wc0[mm, 0]  # pi_m z0_m
            z_norm2 += z * z / pis[mm]
        z_norm = arb(z_norm2.upper()).sqrt()
        proj = wq - mm_ * c0  # W^T Pi z0
        proj2 = arb(0)
        for i in range(r):
            proj2 += proj[i, 0] * proj[i, 0]
        sqrt_lmin = lam_min.sqrt()
        proj_norm = arb(proj2.upper()).sqrt() / sqrt_lmin
        sin_theta = res_f / (sqrt_lmin * arb(delta))
        tt = arb(gamma_t)
        err = (
            ((-arb(g) * tt).exp() + sin_theta) * z_norm + proj_norm + tt * res_f * c0_norm / sqrt_lmin
        )
        err_up = err.upper()
        if not err_up < math.inf:
            return None
        et = (a_m * tt).exp()
        h_t = w_m * (et * c0)
        values = [pis[mm] * h_t[mm, 0] for mm in range(length)]
        radii = [(pis[mm].sqrt() * arb(err_up)).upper() for mm in range(length)]
    return values, radii


def _positive_definite(rows: list) -> bool:
    """Gaussian elimination of a symmetric arb matrix: True iff every pivot is certified > 0 (Sylvester)."""
    a = [list(r) for r in rows]
    n = len(a)
    for k in range(n):
        d = a[k][k]
        if not d > 0:
            return False
        for i in range(k + 1, n):
            f = a[i][k] / d
            for j in range(k + 1, n):
                a[i][j] = a[i][j] - f * a[k][j]
    return True
