"""Fewer BLAS threads while a batch job scores: one core is left to reading and writing.

Batch scoring decodes the next batch in one thread and writes the last in another while
the model predicts. OpenBLAS (under NumPy and scikit-learn) starts a thread per core for
each product and keeps them spinning between calls, so on a small machine they take the
cores the reader and writer need: on two cores, the job used a fifth more CPU time with
them than with one BLAS thread (busy machine, relative).

On Linux the OpenBLAS libraries loaded in the process are found in ``/proc/self/maps`` and
set through their own ``openblas_set_num_threads``: threadpoolctl finds them by resolving
the path of every loaded library (about 290 with scikit-learn and SciPy), which took about
0.09 s of CPU time just before the first batch (busy machine). Elsewhere, or when no
OpenBLAS is loaded (another BLAS), threadpoolctl does it, when it is installed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
from collections.abc import Iterator

__all__ = ["blas_threads_for_scoring", "openblas_libraries"]

_PREFIXES = ("libopenblas", "libscipy_openblas", "openblas")
_SYMBOLS = [(p, s) for p in ("", "scipy_") for s in ("", "64_", "_64")]
_PATH = re.compile(rb"\s(/\S+\.so(?:\.[\w.]+)?)$", re.MULTILINE)


@contextlib.contextmanager
def blas_threads_for_scoring() -> Iterator[None]:
    """Limit BLAS to all cores but one (at least one) inside the block; the counts each
    library had are set back after it."""
    limit = max(1, (os.cpu_count() or 1) - 1)
    libraries = openblas_libraries()
    if not libraries:
        with _threadpoolctl(limit):
            yield
        return
    before = [get() for get, _ in libraries]
    for _, set_threads in libraries:
        set_threads(limit)
    try:
        yield
    finally:
        for (_, set_threads), count in zip(libraries, before, strict=True):
            set_threads(count)


def openblas_libraries() -> list[tuple[ctypes._CFuncPtr, ctypes._CFuncPtr]]:
    """The ``(get, set)`` thread-count functions of each OpenBLAS loaded in this process
    (Linux only: an empty list elsewhere)."""
    if not sys.platform.startswith("linux"):
        return []
    try:
        with open("/proc/self/maps", "rb") as fh:
            maps = fh.read()
    except OSError:
        return []
    found = []
    for raw in dict.fromkeys(_PATH.findall(maps)):
        path = os.fsdecode(raw)
        if not os.path.basename(path).startswith(_PREFIXES):
            continue
        try:
            library = ctypes.CDLL(path)  # already loaded: the same handle
        except OSError:
            continue
        for prefix, suffix in _SYMBOLS:
            get = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
            set_threads = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
            if get is not None and set_threads is not None:
                get.restype, set_threads.argtypes = ctypes.c_int, [ctypes.c_int]
                found.append((get, set_threads))
                break
    return found


@contextlib.contextmanager
def _threadpoolctl(limit: int) -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limit, user_api="blas"):
        yield
