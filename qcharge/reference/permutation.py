r"""Permutation-invariant master equation: uniform :math:`\gamma_{ij}` off the diagonal, uniform :math:`\Omega_{ij}`.

With :math:`\gamma_{ij} = \gamma_{12} + (\gamma-\gamma_{12})\delta_{ij}` and :math:`\Omega_{ij} = \Omega` (i != j),
(1.1) of docs/physics.md commutes with every permutation of the atoms: a collective part
:math:`\gamma_{12}\{(\bar n+1)D[J_-] + \bar n D[J_+]\}` plus a local part
:math:`(\gamma-\gamma_{12})\sum_i\{(\bar n+1)D[\sigma_-^i] + \bar n D[\sigma_+^i]\}`. A permutation-invariant
state then stays in the commutant of :math:`S_N`, of dimension :math:`\binom{N+3}{3}` (the space PIQS spans with
its Dicke basis :math:`|j, m, m'\rangle`), instead of :math:`4^N`.

Basis
-----
We use the *orbit* basis of that space instead of PIQS's: a pair of product states :math:`(s, s')` has a type
per atom, :math:`(s_i, s'_i) \in \{11, 10, 01, 00\}`, and its class is the number of atoms of each type,
:math:`c = (a, b, c, d)`, :math:`a+b+c+d = N`. A permutation-invariant :math:`\rho` has one matrix element
:math:`x_c` per class; we evolve the class weights

.. math::

    y_c = \mathrm{mult}(c)\, x_c,\qquad \mathrm{mult}(c) = \frac{N!}{a!\,b!\,c!\,d!},

so that the populations are :math:`W_k = y_{(k,0,0,N-k)}` and the l1 coherence is a sum without
cancellation, :math:`C_{l1} = \sum_{c:\,b+c>0} |y_c|` (no Johnson-scheme transform, docs/physics.md §2.6, whose
cancellation grows like :math:`2^N`). Excitation-number covariance (docs/physics.md §1.2.1) splits the space by
:math:`\Delta n = b - c`; product thermal states live in :math:`\Delta n = 0`, of dimension
:math:`\lfloor N/2+1\rfloor\lceil N/2+1\rceil` (441 at N = 40: 0.3 s for 21 times); a coherent product
state :math:`\rho_1^{\otimes N}` fills every sector, :math:`\binom{N+3}{3}` classes (12 341 at N = 40: ~1 min).

Generator
---------
Writing (1.1) entry-wise, :math:`(\mathcal L\rho)_{t,t'}` is a sum of terms that change the types of one atom or
of an ordered pair (p, q) of atoms (coefficients with :math:`A = \bar n+1`, :math:`B = \bar n`):

* excitation hop :math:`p \to q` on the left (:math:`\rho_{t-e_p+e_q, t'}`): :math:`-\tfrac{A+B}{2}\gamma_{12} - i\Omega`;
  on the right: :math:`-\tfrac{A+B}{2}\gamma_{12} + i\Omega`;
* jumps down :math:`\rho_{t+e_j, t'+e_i}`: :math:`A\gamma` (i = j), :math:`A\gamma_{12}` (i != j); up
  :math:`\rho_{t-e_j,t'-e_i}`: :math:`B\gamma`, :math:`B\gamma_{12}`;
* diagonal :math:`-\tfrac{\gamma}{2}[A(|t|+|t'|) + B(2N-|t|-|t'|)] - i\omega(|t|-|t'|)`.

Counting the atoms of each type gives the class generator :math:`M_x`; in weights,
:math:`M_y[c, c'] = \mathrm{mult}(c)/\mathrm{mult}(c')\,M_x[c, c']` (bounded by :math:`O(N^2)\gamma`).
Propagation: :func:`scipy.sparse.linalg.expm_multiply` (Al-Mohy & Higham, double precision) from one output time
to the next.

Observables: :math:`E = \omega\sum_k k W_k`; :math:`C_{re} = S(\Delta\rho) - S(\rho)` with
:math:`S(\Delta\rho) = -\sum_k W_k\ln(W_k/\binom Nk)` and the multiplet probabilities
:math:`q_{j,k} = \tfrac{d_J}{\binom Nk}\sum_i y_{k,i} P_i(j)/v_i` (docs/physics.md §2.4-2.6; :math:`|P_i(j)| \le v_i`, so
an absolute error :math:`\delta` of the weights moves each :math:`q_{j,k}` by at most :math:`\delta`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from numpy.typing import ArrayLike
from scipy.sparse.linalg import expm_multiply
from scipy.special import gammaln

from .._checks import check_density_matrix, check_real, check_resonant
from .._threads import blas_threads_for
from ..exceptions import ParameterError
from ..params import Atoms, Bath, InitialState
from ..states import excited_probability

__all__ = [
    "PermutationResult",
    "is_permutation_invariant",
    "uniform_rates",
    "class_basis",
    "class_generator",
    "memory_estimate_gb",
    "solve_permutation",
]

# Atom types (s_i, s'_i): index into the class counts (a, b, c, d).
_T11, _T10, _T01, _T00 = 0, 1, 2, 3
# Stored entries per row of the class generator: 4 + 4 + 4 + 4 pair moves, 2 single jumps, 1 diagonal.
_NNZ_PER_ROW = 19
# Bytes per stored entry while building (COO int64 row/col + complex value + CSR copy).
_BYTES_PER_ENTRY = 8 + 8 + 16 + 16 + 8
# Work limit of one solve, estimated before it starts (_check_work).
_MAX_SECONDS = 600.0
# Largest sector propagated with dense exponentials (N = 88); above, sparse expm_multiply.
_DENSE_MAX = 2025


@dataclass(frozen=True)
class PermutationResult:
    """Observables at ``times`` (lists over times); ``populations[t][k]`` = W_k(t); ``sector_dim``: classes evolved
    (both signs of Delta n); ``coherence_re`` is nan for states with Delta n != 0 coherences (see solve_permutation)."""

    times: list
    coherence_l1: list
    log10_coherence_l1: list
    coherence_re: list
    energy: list
    heat: list
    populations: list
    sector_dim: int
    long_time: dict | None = None


def is_permutation_invariant(atoms: Atoms) -> bool:
    r"""True when :math:`\gamma_{ij}` and :math:`\Omega_{ij}` are uniform off the diagonal (cheap for Dicke atoms)."""
    if atoms.is_dicke:
        return True
    off = ~np.eye(atoms.n, dtype=bool)
    return bool(np.ptp(atoms.gamma_matrix[off]) == 0 and np.ptp(atoms.dipolar_matrix[off]) == 0)


def uniform_rates(atoms: Atoms) -> tuple[float, float, float]:
    r"""(:math:`\gamma`, :math:`\gamma_{12}`, :math:`\Omega`) of permutation-invariant atoms; ParameterError otherwise."""
    if not isinstance(atoms, Atoms):
        raise ParameterError(f"Argument `atoms` must be a qcharge.Atoms, but is {type(atoms).__name__}.")
    if atoms.n == 1:
        return float(atoms.gamma), 0.0, 0.0
    if atoms.is_dicke:  # no N x N work: Dicke atoms may be N = 10^9 (broadcast matrices)
        return float(atoms.gamma), float(atoms.gamma), atoms.dipolar
    if not is_permutation_invariant(atoms):
        off = ~np.eye(atoms.n, dtype=bool)
        g_off, o_off = atoms.gamma_matrix[off], atoms.dipolar_matrix[off]
        raise ParameterError(
            "Argument `atoms` must have uniform off-diagonal gamma_ij and Omega_ij for the permutation-invariant "
            f"solver, but gamma_ij spans [{g_off.min():g}, {g_off.max():g}] and Omega_ij "
            f"[{o_off.min():g}, {o_off.max():g}]; use method='full'."
        )
    return float(atoms.gamma), float(atoms.gamma_matrix[0, 1]), float(atoms.dipolar_matrix[0, 1])


@lru_cache(maxsize=32)
def class_basis(n: int, delta_n: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""Classes (a, b, c, d) of the sector :math:`\Delta n = b - c` = ``delta_n`` >= 0, and their index lookup.

    Returns ``(classes, lookup)``: ``classes`` is an int array (m, 4) ordered by (a, c); ``lookup[a, c]`` is the
    index of the class with those a, c (or -1).

    Example:
        >>> classes, _ = class_basis(2)
        >>> classes.tolist()   # |gg><gg|, the pair coherences (|eg><ge| and |ge><eg|), |ee><ee|, ...
        [[0, 0, 0, 2], [0, 1, 1, 0], [1, 0, 0, 1], [2, 0, 0, 0]]
    """
    rows = []
    for a in range(n + 1):
        for c in range(n + 1):
            b = c + delta_n
            d = n - a - b - c
            if b <= n and d >= 0:
                rows.append((a, b, c, d))
    classes = np.array(rows, dtype=np.int64).reshape(-1, 4)
    lookup = np.full((n + 1, n + 1), -1, dtype=np.int64)
    lookup[classes[:, 0], classes[:, 2]] = np.arange(len(classes))
    classes.setflags(write=False)
    lookup.setflags(write=False)
    return classes, lookup


def memory_estimate_gb(n_atoms: int) -> float:
    """Peak memory (GB) of building and propagating the :math:`\\Delta n = 0` sector (arrays only)."""
    m = (n_atoms // 2 + 1) * ((n_atoms + 1) // 2 + 1)
    dense = 3 * 8 * m * m if m <= _DENSE_MAX else 0  # generator, one cached exponential, expm workspace
    return (m * _NNZ_PER_ROW * _BYTES_PER_ENTRY + 64 * m * 16 + dense) / 1e9


def class_generator(atoms: Atoms, bath: Bath, delta_n: int = 0) -> sp.csr_matrix:
    r"""Generator :math:`M_y` of the class weights of sector ``delta_n`` (lab frame), CSR.

    ``y' = M_y y``; the ordering is that of :func:`class_basis`.
    """
    gamma, g12, om = uniform_rates(atoms)
    nbar = bath.nbar
    if not math.isfinite(nbar):
        raise ParameterError("Argument `bath.temperature` must be finite, but is inf (nbar = inf: infinite rates).")
    n = atoms.n
    classes, lookup = class_basis(n, delta_n)
    m = len(classes)
    big_a, big_b = nbar + 1.0, nbar
    hop = -0.5 * (big_a + big_b) * g12
    log_fact_out = gammaln(classes + 1.0).sum(axis=1)
    rows, cols, vals = [], [], []

    def add(changes: list[tuple[int, int]], count: np.ndarray, coef: complex) -> None:
        # `changes`: per moved atom, its type in the output class -> its type in the input class
        if coef == 0:
            return
        new = classes.copy()
        for old_t, new_t in changes:
            new[:, old_t] -= 1
            new[:, new_t] += 1
        ok = (count > 0) & np.all(new >= 0, axis=1)
        src = lookup[new[ok, 0], new[ok, 2]]
        # mult(out)/mult(in) = prod in! / prod out!
        ratio = np.exp(gammaln(new[ok] + 1.0).sum(axis=1) - log_fact_out[ok])
        rows.append(np.flatnonzero(ok))
        cols.append(src)
        vals.append(coef * count[ok] * ratio)

    def pair(p: tuple[int, int], q: tuple[int, int], coef: complex) -> None:
        count = classes[:, p[0]] * (classes[:, q[0]] - (p[0] == q[0]))
        add([p, q], count.astype(float), coef)

    # excitation hops (left: t-bit of p lowered, of q raised; right: the same on t')
    for p in ((_T11, _T01), (_T10, _T00)):
        for q in ((_T01, _T11), (_T00, _T10)):
            pair(p, q, hop - 1j * om)
    for p in ((_T11, _T10), (_T01, _T00)):
        for q in ((_T10, _T11), (_T00, _T01)):
            pair(p, q, hop + 1j * om)
    # jumps down rho_{t+e_j, t'+e_i}: j's t-bit raised, i's t'-bit raised
    add([(_T00, _T11)], classes[:, _T00].astype(float), big_a * gamma)
    for j in ((_T01, _T11), (_T00, _T10)):
        for i in ((_T10, _T11), (_T00, _T01)):
            pair(j, i, big_a * g12)
    # jumps up rho_{t-e_j, t'-e_i}
    add([(_T11, _T00)], classes[:, _T11].astype(float), big_b * gamma)
    for j in ((_T11, _T01), (_T10, _T00)):
        for i in ((_T11, _T10), (_T01, _T00)):
            pair(j, i, big_b * g12)
    # diagonal
    left = classes[:, _T11] + classes[:, _T10]
    right = classes[:, _T11] + classes[:, _T01]
    diag = -0.5 * gamma * (big_a * (left + right) + big_b * (2 * n - left - right)) - 1j * atoms.omega * (left - right)
    rows.append(np.arange(m))
    cols.append(np.arange(m))
    vals.append(diag.astype(complex))
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m, m), dtype=complex
    )


def _initial_sectors(n: int, initial, omega: float) -> dict[int, np.ndarray]:
    r"""Class weights per sector :math:`\Delta n \ge 0` of :math:`\rho_1^{\otimes N}` (sectors that are exactly 0 dropped).

    ``initial``: an :class:`InitialState` (ground, excited, thermal: only :math:`\Delta n = 0`) or a 2x2 one-atom
    density matrix :math:`\rho_1` (basis :math:`|g\rangle, |e\rangle`); :math:`y_c = \mathrm{mult}(c)\,
    \rho_{1,ee}^a\rho_{1,eg}^b\rho_{1,ge}^c\rho_{1,gg}^d`.
    """
    if isinstance(initial, InitialState):
        if initial.kind == "ground":
            pe = 0.0
        elif initial.kind == "excited":
            pe = 1.0
        elif initial.kind == "thermal":
            pe = excited_probability(initial.temperature, omega)
        else:
            raise ParameterError(
                "Argument `initial` must be 'ground', 'excited', 'thermal' or a 2x2 one-atom density matrix "
                f"(permutation-invariant product states) for the permutation-invariant solver, but is {initial.kind!r}; "
                "use method='full'."
            )
        rho1 = np.diag([1.0 - pe, pe]).astype(complex)
    else:
        rho1 = np.asarray(check_density_matrix("initial", initial), dtype=complex)
        if rho1.shape != (2, 2):
            raise ParameterError(
                f"Argument `initial` must be an InitialState or a 2x2 one-atom density matrix, but has shape {rho1.shape}."
            )
    out = {}
    # a diagonal rho_1 (product thermal) has only Delta n = 0, and there only the b = c = 0 classes
    for d in range(n + 1) if rho1[1, 0] != 0 else (0,):
        classes, _ = class_basis(n, d)
        log_y = gammaln(n + 1.0) - gammaln(classes + 1.0).sum(axis=1)  # multinomial, in logs
        phase = np.ones(len(classes), dtype=complex)
        zero = np.zeros(len(classes), dtype=bool)
        for col, base in enumerate((rho1[1, 1], rho1[1, 0], rho1[0, 1], rho1[0, 0])):
            e = classes[:, col]
            if base == 0:
                zero |= e > 0  # 0^0 = 1
            else:
                log_y = log_y + e * math.log(abs(base))
                phase = phase * np.exp(1j * e * np.angle(base))
        if np.max(np.where(zero, -np.inf, log_y)) > 700:
            raise ParameterError(
                f"Argument `initial` must keep the class weights within float range for atoms = {n}, but its "
                f"coherences give weights of ~10^{np.max(log_y[~zero]) / math.log(10):.0f}."
            )
        y = np.where(zero, 0.0, np.exp(np.where(zero, 0.0, log_y)) * phase)
        if d == 0 or np.any(y != 0):
            out[d] = y
    return out


@lru_cache(maxsize=8)
def _dual_tables(n: int) -> tuple[np.ndarray, ...]:
    r"""Per k: the float matrix :math:`\tfrac{d_J}{\binom Nk} P_i(j)/v_i` (shape (D+1, D+1), [j, i]), exact before rounding."""
    tables = []
    degs = [math.comb(n, j) - (math.comb(n, j - 1) if j else 0) for j in range(n // 2 + 1)]
    for k in range(n + 1):
        kk = min(k, n - k)
        theta = [(kk - j) * (n - kk - j) - j for j in range(kk + 1)]
        p_prev, p_cur = [0] * (kk + 1), [1] * (kk + 1)
        table = [p_cur]
        for i in range(kk):  # docs/physics.md (2.6), exact integer division
            a_i = kk * (n - kk) - (kk - i) * (n - kk - i) - i * i
            b_im1 = (kk - i + 1) * (n - kk - i + 1) if i else 0
            p_prev, p_cur = p_cur, [((theta[j] - a_i) * p_cur[j] - b_im1 * p_prev[j]) // (i + 1) ** 2 for j in range(kk + 1)]
            table.append(p_cur)
        ck = math.comb(n, k)
        out = np.empty((kk + 1, kk + 1))
        for i in range(kk + 1):
            v_i = math.comb(k, i) * math.comb(n - k, i)
            for j in range(kk + 1):
                out[j, i] = float(degs[j] * table[i][j] / (ck * v_i)) if degs[j] else 0.0
        tables.append(out)
    return tuple(tables)


def _observables(n: int, sectors: dict[int, np.ndarray], omega: float, with_re: bool) -> dict:
    """C_l1 (every sector; -d is the conjugate of d), energy and populations (d = 0), C_re (d = 0 only)."""
    classes, lookup = class_basis(n, 0)
    y = sectors[0]
    l1 = float(np.abs(y[classes[:, _T10] > 0]).sum()) + sum(2.0 * float(np.abs(v).sum()) for d, v in sectors.items() if d)
    k = np.arange(n + 1)
    w = y[lookup[k, 0]].real
    energy = omega * float(k @ w)
    return {
        "coherence_l1": l1,
        "log10_coherence_l1": math.log10(l1) if l1 > 0 else -math.inf,
        "coherence_re": _relative_entropy_coherence(n, y.real) if with_re else math.nan,
        "energy": energy,
        "populations": w.tolist(),
    }


def _relative_entropy_coherence(n: int, y: np.ndarray) -> float:
    r""":math:`C_{re} = S(\Delta\rho) - S(\rho)` of a :math:`\Delta n = 0` state from its class weights."""
    _, lookup = class_basis(n, 0)
    k = np.arange(n + 1)
    w = np.clip(y[lookup[k, 0]], 0.0, None)  # round-off negatives clipped
    lc = gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_diag = -float(np.sum(np.where(w > 0, w * (np.log(w) - lc), 0.0)))
    degs = np.array([math.comb(n, j) - (math.comb(n, j - 1) if j else 0) for j in range(n // 2 + 1)], dtype=float)
    s_rho = 0.0
    tables = _dual_tables(n)
    for kk in range(n + 1):
        d = min(kk, n - kk)
        i = np.arange(d + 1)  # classes (kk - i, i, i, .): half-distance i inside sector kk
        q = np.clip(tables[kk] @ y[lookup[kk - i, i]], 0.0, None)
        with np.errstate(divide="ignore", invalid="ignore"):
            s_rho -= float(np.sum(np.where(q > 0, q * (np.log(q) - np.log(degs[: d + 1])), 0.0)))
    return s_diag - s_rho


def solve_permutation(
    atoms: Atoms,
    bath: Bath,
    initial: InitialState | ArrayLike,
    times: ArrayLike,
    *,
    long_time: bool = False,
    max_memory_gb: float = 2.0,
) -> PermutationResult:
    r"""Observables of (1.1) with uniform :math:`\gamma_{ij} = \gamma_{12}` (i != j) and uniform :math:`\Omega`.

    Args:
        atoms: permutation-invariant atoms (:func:`uniform_rates`), any :math:`\gamma_{12}` with Γ PSD.
        bath: thermal bath (finite temperature, resonant).
        initial: ``ground``, ``excited`` or ``thermal``, or a 2x2 one-atom density matrix :math:`\rho_1` for
            :math:`\rho_1^{\otimes N}` (e.g. a spin-coherent state: coherences of every :math:`\Delta n`, all
            :math:`O(N^3)` classes evolved). ``coherence_re`` needs the multiplet spectrum and is given for
            :math:`\Delta n = 0` states only (``nan`` otherwise).
        times: sorted times :math:`\ge 0` (units of :math:`1/\gamma` for ``atoms.gamma = 1``).
        long_time: also return the :math:`t\to\infty` observables (the Gibbs state: Γ must have full rank).
        max_memory_gb: refuse (ParameterError naming ``atoms``) when :func:`memory_estimate_gb` exceeds it.

    Example:
        >>> import numpy as np
        >>> from qcharge import Atoms, Bath, InitialState
        >>> g = np.full((2, 2), 0.8) + 0.2 * np.eye(2)
        >>> res = solve_permutation(Atoms(2, gamma_matrix=g), Bath(1.0), InitialState(), [0.0, 1.0])
        >>> res.sector_dim, round(res.coherence_l1[0], 12)
        (4, 0.0)
    """
    uniform_rates(atoms)
    if not isinstance(bath, Bath):
        raise ParameterError(f"Argument `bath` must be a qcharge.Bath, but is {type(bath).__name__}.")
    check_resonant(atoms, bath)
    times_arr = np.atleast_1d(np.asarray(times, dtype=float))
    for t in times_arr:
        check_real("times", t, minimum=0.0)
    if np.any(np.diff(times_arr) < 0):
        raise ParameterError(f"Argument `times` must be in ascending order, but is {times_arr.tolist()}.")
    limit = check_real("max_memory_gb", max_memory_gb, minimum=0.0, strict_min=True, allow_inf=True)
    n = atoms.n
    need = memory_estimate_gb(n)
    if need > limit:
        raise ParameterError(
            f"Argument `atoms` must be small enough for the permutation-invariant solver within max_memory_gb = "
            f"{limit:g} GB, but atoms = {n} needs about {need:.3g} GB."
        )
    sectors = _initial_sectors(n, initial, atoms.omega)
    with_re = set(sectors) == {0}
    if len(times_arr) and times_arr[-1] > 0:
        _check_work(atoms, bath, sectors, float(times_arr[-1]), len(np.unique(np.diff(times_arr))))
    obs0 = _observables(n, sectors, atoms.omega, with_re)
    results = []
    if len(times_arr):
        evolved = {
            d: _propagate(class_generator(atoms, bath, d), y0, times_arr, real=d == 0)
            if times_arr[-1] > 0
            else [y0] * len(times_arr)
            for d, y0 in sectors.items()
        }
        results = [_observables(n, {d: v[i] for d, v in evolved.items()}, atoms.omega, with_re) for i in range(len(times_arr))]
    long = _long_time(atoms, bath, obs0["energy"]) if long_time else None
    return PermutationResult(
        times=times_arr.tolist(),
        coherence_l1=[r["coherence_l1"] for r in results],
        log10_coherence_l1=[r["log10_coherence_l1"] for r in results],
        coherence_re=[r["coherence_re"] for r in results],
        energy=[r["energy"] for r in results],
        heat=[r["energy"] - obs0["energy"] for r in results],
        populations=[r["populations"] for r in results],
        sector_dim=sum(len(y0) * (2 if d else 1) for d, y0 in sectors.items()),
        long_time=long,
    )


def _propagate(gen: sp.csr_matrix, y0: np.ndarray, times: np.ndarray, *, real: bool) -> list[np.ndarray]:
    r"""Class weights at ``times`` (sorted, last > 0) from ``y0`` under the sector generator ``gen``.

    ``real=True`` (sector :math:`\Delta n = 0`): the generator is real up to the :math:`\pm i\Omega` hops, whose
    action on the reachable states :math:`\sum c_{j,k}\Pi_{j,k}` cancels exactly
    (:math:`H_\Omega = \Omega(J_+J_- - \hat N)` commutes with them, docs/physics.md §1.3), so the real part is propagated.
    Up to ``_DENSE_MAX`` classes: dense :func:`scipy.linalg.expm` of each distinct step, reused for equal
    steps (a grid costs one exponential); above, sparse :func:`scipy.sparse.linalg.expm_multiply`.
    """
    # Dense exponentials of <= _DENSE_MAX classes: one BLAS thread below SMALL_DIMENSION (issue 9).
    with blas_threads_for(gen.shape[0]):
        return _propagate_steps(gen, y0, times, real)


def _propagate_steps(gen: sp.csr_matrix, y0: np.ndarray, times: np.ndarray, real: bool) -> list[np.ndarray]:
    if real:
        gen, y = gen.real.tocsr(), y0.real.copy()
    else:
        y = y0.astype(complex)
    out = []
    cache: dict[float, np.ndarray] = {}
    dense = gen.toarray() if gen.shape[0] <= _DENSE_MAX else None
    t_prev = 0.0
    for t in times:
        dt = float(t - t_prev)
        if dt > 0:
            if dense is None:
                y = expm_multiply(dt * gen, y)
            else:
                # linspace steps differ in their last bits: reuse a cached step and correct the rest
                near = next((h for h in cache if abs(dt - h) <= 1e-9 * h), None)
                if near is None:
                    cache[dt] = scipy.linalg.expm(dt * dense)
                    near = dt
                y = cache[near] @ y
                if dt != near:
                    y = expm_multiply((dt - near) * gen, y)
            t_prev = float(t)
        out.append(y.copy())
    return out


def _check_work(atoms: Atoms, bath: Bath, sectors: dict, t_final: float, n_steps: int) -> None:
    """Refuse (ParameterError naming ``atoms``) a solve that would take far more than minutes, before it starts.

    Dense sectors cost ~30 m^3 flops per distinct step (scaling and squaring, ~5 Gflop/s); sparse ones
    ~2 nnz ||A||_1 t flops (Taylor degree ~ ||tA||_1, Al-Mohy & Higham; ~0.2 Gflop/s measured, overhead-bound);
    the Johnson-scheme tables for C_re ~N^3/12 big-integer operations (~1e6/s). Rates measured on one core.
    """
    seconds = (atoms.n**3 / 12) / 1e6 if 0 in sectors and set(sectors) == {0} else 0.0
    for d, y0 in sectors.items():
        m = len(y0)
        complex_factor = 1 if d == 0 else 4
        if m <= _DENSE_MAX:
            seconds += 30.0 * m**3 * max(n_steps, 1) * complex_factor / 5e9
        else:
            gen = class_generator(atoms, bath, d)
            norm = float(abs(gen).sum(axis=0).max())
            seconds += 2.0 * gen.nnz * norm * t_final * complex_factor / 2e8
    if seconds > _MAX_SECONDS:
        raise ParameterError(
            f"Argument `atoms` must be small enough for the permutation-invariant solver to reach t = {t_final:g} "
            f"within ~{_MAX_SECONDS / 60:.0f} min, but atoms = {atoms.n} needs about {seconds:.2g} s; use fewer atoms "
            "or shorter times (the superradiant time scale is 1/(N gamma))."
        )


def _long_time(atoms: Atoms, bath: Bath, energy0: float) -> dict:
    r"""Long-time observables: the Gibbs state when Γ has full rank (docs/physics.md §1.2.2).

    Uniform Γ has eigenvalues :math:`\gamma - \gamma_{12}` ((N-1)-fold) and :math:`\gamma + (N-1)\gamma_{12}`.
    """
    gamma, g12, _ = uniform_rates(atoms)
    n = atoms.n
    if n > 1 and not (g12 < gamma and gamma + (n - 1) * g12 > 0):
        raise ParameterError(
            f"Argument `atoms` must have a full-rank gamma matrix for the permutation solver's long-time state, but "
            f"gamma12 = {g12:g} (gamma = {gamma:g}, N = {n}) leaves dark states; use method='dicke' (gamma12 = gamma) "
            "or evolve to long times."
        )
    energy = n * atoms.omega * excited_probability(bath.temperature, atoms.omega)
    return {
        "coherence_l1": 0.0,
        "log10_coherence_l1": -math.inf,
        "coherence_re": 0.0,
        "energy": energy,
        "heat": energy - energy0,
    }
