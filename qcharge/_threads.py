r"""Cap BLAS / OpenMP threads for small problems (a context manager the solvers wrap their work in).

Multi-threaded BLAS on small matrices spends more time synchronising threads than computing: the
full-space solver at N = 8 ran 1.7-2.4x slower in wall time and used 4x the CPU with default OpenBLAS
threading (issue 9). Below ``SMALL_DIMENSION`` the work runs on one thread; above, the library default
stays. Uses threadpoolctl (a dependency); it changes the limit only inside the ``with`` block. The
library scan (~1-2 ms, more than a whole N = 10 Dicke solve) is done once per process: the controller is
cached after numpy's and scipy's BLAS are loaded.
"""

from __future__ import annotations

import contextlib
import functools

__all__ = ["SMALL_DIMENSION", "blas_threads_for"]

# Matrix dimension below which one BLAS thread is faster than several (dense products of d x d with
# d <= 512 take < 0.1 ms per call on one core, less than a thread hand-off).
SMALL_DIMENSION = 512


def blas_threads_for(dimension: int):
    """Context manager: one BLAS thread if ``dimension <= SMALL_DIMENSION``, else no change.

    Example:
        >>> import numpy as np
        >>> with blas_threads_for(16):
        ...     float(np.eye(16).sum())
        16.0
    """
    if dimension > SMALL_DIMENSION:
        return contextlib.nullcontext()
    blas = _blas_controller()
    if all(lib.num_threads == 1 for lib in blas.lib_controllers):
        return contextlib.nullcontext()  # already single-threaded (OPENBLAS_NUM_THREADS=1, or inside a cap)
    return blas.limit(limits=1)


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """The BLAS libraries of numpy and scipy (numpy and scipy wheels each bundle their own OpenBLAS)."""
    import importlib

    from threadpoolctl import ThreadpoolController

    importlib.import_module("scipy.linalg")  # loads scipy's BLAS so that the scan sees it

    return ThreadpoolController().select(user_api="blas")
