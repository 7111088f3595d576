"""Making written bytes durable: a narrow ``syncfs`` of one filesystem, folder fsyncs, and
an early start of the disk writes that a later flush will wait for."""

from __future__ import annotations

import ctypes
import functools
import os

__all__ = ["fsync_dir", "start_writeback", "syncfs"]

SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writing dirty pages, do not wait


@functools.cache
def _libc() -> ctypes.CDLL | None:
    """The C library the interpreter already runs on (``dlopen(NULL)``), or None.

    ``ctypes.util.find_library("c")`` would run ``ldconfig -p`` in a child process on
    Linux (a fork and exec, once per process: every ``keel`` command paid it on its first
    durable write) to name a library that is loaded already.
    """
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


@functools.cache
def _libc_syncfs():
    """libc's ``syncfs(int fd)``, or None where libc has none (macOS, musl without it)."""
    try:
        function = _libc().syncfs  # type: ignore[union-attr]
    except AttributeError:
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


@functools.cache
def _libc_sync_file_range():
    """libc's ``sync_file_range(fd, offset, nbytes, flags)``, or None where it has none."""
    try:
        function = _libc().sync_file_range  # type: ignore[union-attr]
    except AttributeError:
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def start_writeback(fd: int, offset: int = 0, size: int = 0) -> bool:
    """Ask the kernel to start writing ``size`` bytes of ``fd`` from ``offset`` to disk now
    (``size`` 0: to the end), without waiting for them.

    This makes nothing durable by itself: a batch is durable only after its ``syncfs`` or
    ``fsync``. It lets the disk work while the next files are copied, so the final flush
    waits for little more than the last file (git's ``core.fsyncMethod=batch`` does the
    same). Whether the kernel took the request; where ``sync_file_range(2)`` is missing or
    refuses (a pipe, another system), nothing happens and the flush does all the work.
    """
    function = _libc_sync_file_range()
    return function is not None and function(fd, offset, size, SYNC_FILE_RANGE_WRITE) == 0


def syncfs(path: str | os.PathLike[str]) -> None:
    """Flush every dirty page and metadata change of the filesystem holding ``path``.

    ``os.sync()`` flushes every filesystem of the machine (other users' writes, network
    mounts); ``syncfs(2)`` flushes only this one, which is all a batch of objects written
    under ``path`` needs. Python 3.11 has no ``os.syncfs``, so libc's is called through
    ctypes; where it is missing or fails, ``os.sync()`` does the same job more broadly.
    """
    native = getattr(os, "syncfs", None)  # Python 3.12+ on Linux
    function = None if native is not None else _libc_syncfs()
    if native is None and function is None:
        os.sync()
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        if native is not None:
            native(fd)
        elif function(fd) != 0:
            os.sync()  # EBADF/ENOSYS in odd sandboxes: fall back to the broad flush
    finally:
        os.close(fd)


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the names in the folder ``path`` durable (renames into it, new files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
