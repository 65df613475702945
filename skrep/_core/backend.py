"""Threading policy and block sizes shared by the core.

BLAS threading: the unit x unit decompositions (``eigh``, ``svd``) of a few
hundred units run faster on one BLAS thread than on two on a busy 2-core
machine; measured at 512 units, one thread took 0.18 s against 0.23-0.37 s
for two, and from 1024 units on two threads win. The limit is process-wide
while it holds (threadpoolctl's limits are), so it is held only around the
decompositions. The exception is the last decomposition of a CCA fit, of
a Gram matrix of the whitened cross-product, which runs alone and takes the
threads as the caller set them (see ``skrep._core.cca._result_from_cross``).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from threadpoolctl import ThreadpoolController

__all__ = [
    "SINGLE_THREAD_MAX_UNITS",
    "block_rows",
    "decomposition_threads",
    "blas_threads",
    "concurrent_pairs",
    "in_two_lanes",
    "one_blas_thread",
]

#: Up to this many units per view, decompositions run on one BLAS thread.
SINGLE_THREAD_MAX_UNITS = 768

#: Rows per block when a pass over the data copies blocks (centring, casting
#: to float64): large enough for BLAS to run at full speed, small enough that
#: the float64 copy of a block stays a few tens of megabytes.
BLOCK_BYTES = 32 * 2**20

_controller = None


def decomposition_threads(n_units):
    """Context limiting BLAS to one thread for decompositions of few units.

    Parameters
    ----------
    n_units : int
        The size of the (square) matrices about to be decomposed.

    Returns
    -------
    context : context manager
        ``threadpoolctl`` limit up to :data:`SINGLE_THREAD_MAX_UNITS` units,
        a no-op beyond.
    """
    if n_units > SINGLE_THREAD_MAX_UNITS:
        return nullcontext()
    return one_blas_thread()


def _blas_controller():
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def one_blas_thread():
    """Context limiting BLAS to one thread (process-wide while it holds).

    Returns
    -------
    context : context manager
    """
    return _blas_controller().limit(limits=1, user_api="blas")


def in_two_lanes(first, second):
    """Run ``first()`` here and ``second()`` on another thread, one BLAS thread each.

    For two independent pieces of NumPy work (NumPy releases the GIL in
    BLAS and LAPACK), so that together they use two cores without
    oversubscribing them.

    Returns
    -------
    results : tuple
        ``(first(), second())``.
    """
    with one_blas_thread(), ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(second)
        result = first()
        return result, pending.result()


def blas_threads():
    """Return the number of threads BLAS uses now (the most over its libraries).

    Returns
    -------
    n_threads : int
    """
    infos = _blas_controller().select(user_api="blas").info()
    return max((info["num_threads"] for info in infos), default=1)


def concurrent_pairs(n_units):
    """Whether two views' decompositions should run on two threads at once.

    Only where the caller lets BLAS run two threads or more: two lanes use
    two cores, which a caller that limited BLAS to one thread (a joblib
    worker, for one) has not allowed. Up to :data:`SINGLE_THREAD_MAX_UNITS`
    units each decomposition runs on one BLAS thread anyway
    (:func:`decomposition_threads`); beyond, only where BLAS has exactly
    two threads, so that two single-threaded decompositions use every core
    (on 2 cores at 2048 units the pair of eigendecompositions took 1.28 s
    this way against 1.55 s one after the other on both threads). On more
    cores one decomposition on all of them is faster.

    Parameters
    ----------
    n_units : int
        The size of the larger view.

    Returns
    -------
    bool
    """
    threads = blas_threads()
    return threads >= 2 and (n_units <= SINGLE_THREAD_MAX_UNITS or threads == 2)


def block_rows(n_columns):
    """Rows per float64 block of ``n_columns`` columns (at least 256).

    Parameters
    ----------
    n_columns : int
        Width of a block.

    Returns
    -------
    rows : int
    """
    return max(256, BLOCK_BYTES // (8 * max(n_columns, 1)))
