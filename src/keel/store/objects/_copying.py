"""Copying a local file into the store: kernel copies, reflinks and hard links, hashed.

Whatever the way, the digest is computed from the bytes that end up in the store's file
(read back from the page cache), never from a separate read of the source, so a source
changed during the copy cannot give a stored object a name its bytes do not have.
"""

from __future__ import annotations

import errno
import mmap
import os
from concurrent.futures import Future, ThreadPoolExecutor

from ._durable import start_writeback
from ._hashing import CHUNK_SIZE, new_hasher

__all__ = ["LINK_TYPES", "clone_or_link", "copy_and_hash", "hash_fd"]

LINK_TYPES = ("copy", "reflink", "hardlink")
"""How a local file may enter a local store (the ``objects_link`` setting)."""

FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)

# errors meaning "this filesystem or kernel cannot do that": fall back to the next way
_UNSUPPORTED = {errno.EXDEV, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENOTTY}
_UNSUPPORTED |= {errno.EPERM, errno.EMLINK, errno.ETXTBSY, errno.EBADF}

_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Linux: map every page in one call


def _read_back(fd: int, offset: int, size: int) -> mmap.mmap | bytes:
    """``size`` bytes of the file ``fd`` from ``offset`` (a multiple of the page size) as
    they lie in the page cache: mapped read-only, to be hashed in place with no copy into
    a buffer; read into one where this filesystem cannot map files."""
    if os.fstat(fd).st_size < offset + size:  # a mapping past the end would fault
        raise OSError(errno.EIO, "the copy in the object store is shorter than written")
    try:
        return mmap.mmap(
            fd, size, flags=mmap.MAP_SHARED | _POPULATE, prot=mmap.PROT_READ, offset=offset
        )
    except OSError:
        data = os.pread(fd, size, offset)
        if len(data) != size:
            raise OSError(errno.EIO, "the copy in the store is shorter than written") from None
        return data


def _release(chunk: mmap.mmap | bytes | None) -> None:
    if isinstance(chunk, mmap.mmap):
        chunk.close()


def copy_and_hash(
    src_fd: int, dst_fd: int, size: int, start: int = 0, *, writeback: bool = False
) -> str | None:
    """Copy ``size`` bytes from ``src_fd`` (from ``start``) to the start of ``dst_fd`` in
    the kernel, hashing what was
    written; the digest, or None if the kernel cannot copy between these two files (the
    caller then copies through user space; nothing was written).

    Each copied chunk is hashed where it lies in the page cache (mapped, not read into a
    buffer: for 2,000 files of 1 GiB that read-back copy was a tenth of ``put_many``'s
    CPU). Chunk ``i + 1`` is copied while chunk ``i`` is hashed in another thread: blake3
    and ``copy_file_range`` both release the GIL. ``writeback``: start writing each copied
    chunk to disk at once (:func:`start_writeback`), for a caller that will flush the
    file, so that its flush finds the disk's work under way instead of all of it to do.
    """
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is None:
        return None
    hasher = new_hasher(size)
    offset = 0
    pending: Future | None = None
    hashing: mmap.mmap | bytes | None = None  # the chunk hashed in the other thread
    pool = ThreadPoolExecutor(max_workers=1) if size > CHUNK_SIZE else None
    try:
        while offset < size:
            want = min(CHUNK_SIZE, size - offset)
            copied = 0
            while copied < want:
                try:
                    at = offset + copied
                    n = copy_range(src_fd, dst_fd, want - copied, start + at, at)
                except OSError as exc:
                    if offset == 0 and copied == 0 and exc.errno in _UNSUPPORTED:
                        return None
                    raise
                if n == 0:
                    raise OSError(errno.EIO, "the source file shrank while it was being stored")
                copied += n
            if writeback:
                start_writeback(dst_fd, offset, want)
            chunk = _read_back(dst_fd, offset, want)
            if pending is not None:
                pending.result()
                _release(hashing)
                pending = hashing = None
            if pool is None:
                try:
                    hasher.update(chunk)
                finally:
                    _release(chunk)
            else:
                hashing, pending = chunk, pool.submit(hasher.update, chunk)
            offset += want
        if pending is not None:
            pending.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        _release(hashing)
    if os.fstat(src_fd).st_size != start + size:
        raise OSError(errno.EIO, "the source file changed size while it was being stored")
    return hasher.hexdigest()


def hash_fd(fd: int) -> str:
    """The digest of the whole file open as ``fd``, read from its start."""
    size = os.fstat(fd).st_size
    hasher = new_hasher(size)
    buffer = bytearray(min(CHUNK_SIZE, max(size, 1)))
    view = memoryview(buffer)
    offset = 0
    while n := os.preadv(fd, [view], offset):
        hasher.update(view[:n])
        offset += n
    return hasher.hexdigest()


def clone_or_link(kind: str, src: str, tmp: str) -> bool:
    """Make ``tmp`` share ``src``'s blocks (``reflink``) or be ``src`` (``hardlink``);
    False when this filesystem cannot (the caller copies instead).

    A reflink is a copy as far as anyone can tell (a later edit of ``src`` does not
    reach the store). A hard link is the same file: the store makes it read-only, and an
    edit in place of ``src`` (by a program that ignores that) would change the object;
    reads verify every object, so such an edit is found, not served.
    """
    if kind == "hardlink":
        try:
            os.link(src, tmp)
        except OSError as exc:
            if exc.errno in _UNSUPPORTED or exc.errno == errno.EACCES:
                return False
            raise
        return True
    if kind == "reflink":
        import fcntl

        src_fd = os.open(src, os.O_RDONLY)
        try:
            dst_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                fcntl.ioctl(dst_fd, FICLONE, src_fd)
            except OSError as exc:
                os.close(dst_fd)
                os.unlink(tmp)
                if exc.errno in _UNSUPPORTED:
                    return False
                raise
            os.close(dst_fd)
        finally:
            os.close(src_fd)
        return True
    return False
