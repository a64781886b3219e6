"""The BLAS thread pool of an API process.

For OpenBLAS (pthreads, as NumPy ships it) the limit is process-wide. With more threads than
the cores a process really has, OpenBLAS threads that wait for a busy core spin instead of
working: a Hopfield recall (a units-long product per unit update) ran 4-20× slower through
HTTP with OpenBLAS's default thread count than with one (benchmarks/hopfield_recall.py).
"""

from __future__ import annotations


def limit_blas_threads(threads: int) -> None:
    """Let BLAS use at most `threads` threads in this process."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(threads, user_api="blas")
