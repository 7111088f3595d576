"""Fewer BLAS threads while a batch job scores: one core is left to reading and writing.

Batch scoring decodes the next batch in one thread and writes the last in another while
the model predicts. OpenBLAS (under NumPy and scikit-learn) starts a thread per core for
each product and keeps them spinning between calls, so on a small machine they take the
cores the reader and writer need: on two cores, the job used a fifth more CPU time with
them than with one BLAS thread (busy machine, relative).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["blas_threads_for_scoring"]


@contextlib.contextmanager
def blas_threads_for_scoring() -> Iterator[None]:
    """Limit BLAS to all cores but one (at least one) inside the block, when threadpoolctl
    (installed with scikit-learn) is there; otherwise change nothing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(max(1, (os.cpu_count() or 1) - 1), user_api="blas"):
        yield
