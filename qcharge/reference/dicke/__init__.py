r"""Dicke-limit solver by J-multiplets (docs/physics.md §1.3 and §2): any N, product thermal initial states.

In the Dicke limit :math:`\gamma_{ij} = \gamma` the master equation (1.1) commutes with :math:`J^2`, with
:math:`J_z` up to a shift, and with every permutation of the atoms. A product thermal initial state
:math:`\rho_0 = \sum_k w_k \Pi_k`, :math:`w_k = p_{e0}^k p_{g0}^{N-k}`, therefore stays of the form

.. math::

    \rho(t) = \sum_{j=0}^{\lfloor N/2\rfloor} \sum_{k=j}^{N-j} c_{j,k}(t)\, \Pi_{j,k},
    \qquad q_{j,k}(t) = d_J\, c_{j,k}(t),

with :math:`J = N/2 - j`, :math:`k` the excitation number and :math:`\Pi_{j,k}` the rank-:math:`d_J`
projector on {total spin J, :math:`J_z = k - N/2`}. Everything is a function of the block probabilities
:math:`q_{j,k}`: each multiplet is a birth-death chain (2.8), the long-time state is (2.1), energies and
entropies are positive sums (done in float64 with log-sum-exp), and the l1 coherence is the Johnson-scheme
sum (2.7), which cancels massively and is evaluated with exact integers and a certified error bound.

Units: :math:`\hbar = k_B = 1`; energies in units of :math:`\omega`; the rates are :math:`\gamma(\bar n+1)`
and :math:`\gamma\bar n`, so with the default :math:`\gamma = 1` the times are :math:`\gamma t`.

One job per module: :mod:`.combinatorics` (d_J, Eberlein tables, anchored log weights), :mod:`.long_time`
(closed forms 2.1-2.2), :mod:`.dynamics` (the birth-death chains), :mod:`.certified_l1` (the exact-integer /
arb engine for C_l1), :mod:`.dense` (dense matrices for small N), :mod:`.solve` (:func:`solve_dicke`).
"""

from __future__ import annotations

from .certified_l1 import certified_coherence_l1
from .combinatorics import eberlein_matrix, multiplet_degeneracies
from .dense import dicke_density_matrix
from .dynamics import block_probabilities
from .long_time import long_time_block_probabilities, long_time_observables
from .solve import DickeResult, solve_dicke

__all__ = [
    "DickeResult",
    "solve_dicke",
    "long_time_block_probabilities",
    "block_probabilities",
    "certified_coherence_l1",
    "dicke_density_matrix",
    "long_time_observables",
    "multiplet_degeneracies",
    "eberlein_matrix",
]
