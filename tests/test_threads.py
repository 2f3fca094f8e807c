"""BLAS thread caps for small problems (qcharge/_threads.py) and where the solvers apply them."""

from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_info

from qcharge import Atoms, Bath, InitialState
from qcharge._threads import SMALL_DIMENSION, blas_threads_for


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_small_dimension_runs_on_one_thread_and_restores():
    before = _blas_threads()
    with blas_threads_for(16):
        assert _blas_threads() and set(_blas_threads()) == {1}
        with blas_threads_for(16):  # nested: no change, still one thread
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {1}
    assert _blas_threads() == before


def test_large_dimension_keeps_the_default():
    before = _blas_threads()
    with blas_threads_for(SMALL_DIMENSION + 1):
        assert _blas_threads() == before


def test_lindblad_and_permutation_propagate_on_one_thread(monkeypatch):
    # The solvers' inner work must run inside the cap (issue 9: default threading made N = 8 1.7-2.4x slower).
    from qcharge.reference import lindblad, permutation

    seen = []
    real_krylov, real_steps = lindblad._krylov_propagate, permutation._propagate_steps

    def spy_krylov(*args, **kwargs):
        seen.append(("lindblad", max(_blas_threads())))
        return real_krylov(*args, **kwargs)

    def spy_steps(*args, **kwargs):
        seen.append(("permutation", max(_blas_threads())))
        return real_steps(*args, **kwargs)

    monkeypatch.setattr(lindblad, "_krylov_propagate", spy_krylov)
    monkeypatch.setattr(permutation, "_propagate_steps", spy_steps)
    g = np.full((3, 3), 0.9) + 0.1 * np.eye(3)
    atoms = Atoms(3, gamma_matrix=g)
    lindblad.evolve(atoms, Bath(1.0), InitialState("ground").density_matrix(3), [0.0, 1.0])
    lindblad.long_time_state(atoms, Bath(1.0), InitialState("ground").density_matrix(3))
    permutation.solve_permutation(atoms, Bath(1.0), InitialState("ground"), [0.0, 1.0])
    assert {name for name, _ in seen} == {"lindblad", "permutation"}
    assert all(threads == 1 for _, threads in seen)
