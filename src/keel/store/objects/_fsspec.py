"""Object store on any fsspec filesystem (S3, GCS, Azure, SFTP, memory, ...)."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from typing import Any, BinaryIO

from keel.errors import ObjectNotFound, StoreUnavailable

from ._base import ObjectStore, Source, as_stream
from ._hashing import CHUNK_SIZE, check_digest, chunks, hash_bytes, new_hasher

__all__ = ["FsspecObjectStore"]

SPOOL_IN_MEMORY = CHUNK_SIZE
"""Objects up to this size are staged in memory, larger ones in a local temporary file."""

REFRESH_S = 300.0
"""A stored copy older than this is rewritten when the same bytes are put again."""


class FsspecObjectStore(ObjectStore):
    """Objects at ``<url>/ab/cdef...`` on an fsspec filesystem.

    Data is hashed while it is staged locally, then uploaded under its final name.

    Args:
        url: where the objects live, e.g. ``s3://bucket/prefix``.
        atomic_put: the filesystem makes an upload visible only once complete (true of
            object stores such as S3); otherwise uploads go to a staging name and are
            moved into place.
        storage_options: passed to fsspec (credentials, endpoint_url, ...).
    """

    def __init__(self, url: str, *, atomic_put: bool = False, **storage_options: Any) -> None:
        import fsspec

        self.url = url.rstrip("/")
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url, **storage_options)
        except (ImportError, ValueError) as exc:
            raise StoreUnavailable(
                f"Cannot open the object store {url}: {exc}. "
                "Install the filesystem's package (for S3: pip install 'keelml[s3]')."
            ) from exc
        self.root = self.root.rstrip("/")
        self.atomic_put = atomic_put

    def path(self, digest: str) -> str:
        """The filesystem path of an object."""
        check_digest(digest)
        return f"{self.root}/{digest[:2]}/{digest[2:]}"

    def put(self, source: Source) -> str:
        if isinstance(source, bytes | bytearray | memoryview):
            digest = hash_bytes(source)
            if not self._intact(digest, memoryview(source).nbytes) or self._stale(digest):
                self._upload(digest, lambda path: self.fs.pipe_file(path, bytes(source)))
            return digest
        stream, owned = as_stream(source)
        try:
            with tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY) as staged:
                hasher = new_hasher()
                for chunk in chunks(stream):
                    hasher.update(chunk)
                    staged.write(chunk)
                digest = hasher.hexdigest()
                if not self._intact(digest, staged.tell()) or self._stale(digest):
                    staged.seek(0)
                    self._upload(digest, lambda path: self._copy_to(staged, path))
                return digest
        finally:
            if owned:
                stream.close()

    def _intact(self, digest: str, size: int) -> bool:
        """Whether the object is stored with the right bytes (size first, then its hash).

        A corrupt copy must not survive storing the good bytes again, so an existing
        object of the right size is downloaded and re-hashed (a cost paid only when the
        same bytes are stored twice).
        """
        try:
            if int(self.fs.size(self.path(digest))) != size:
                return False
            return self.verify(digest)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StoreUnavailable(f"Cannot read object {digest} in {self.url}: {exc}.") from exc

    def _copy_to(self, staged: BinaryIO, path: str) -> None:
        with self.fs.open(path, "wb", block_size=CHUNK_SIZE) as out:
            for chunk in chunks(staged):
                out.write(chunk)

    def _upload(self, digest: str, write) -> None:
        final = self.path(digest)
        try:
            if self.atomic_put:
                write(final)
                return
            staging = f"{self.root}/tmp/{uuid.uuid4().hex}.part"
            write(staging)
            self.fs.mv(staging, final)
        except OSError as exc:
            raise StoreUnavailable(f"Cannot write object {digest} to {self.url}: {exc}.") from exc

    def open(self, digest: str) -> BinaryIO:
        local = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
        try:
            hasher = new_hasher()
            with self._open_raw(digest) as remote:
                for chunk in chunks(remote):
                    hasher.update(chunk)
                    local.write(chunk)
            actual = hasher.hexdigest()
            if actual != digest:
                raise self._corrupt(digest, actual)
            local.seek(0)
        except BaseException:
            local.close()
            raise
        return local  # type: ignore[return-value]

    def _open_raw(self, digest: str) -> BinaryIO:
        try:
            return self.fs.open(self.path(digest), "rb", block_size=CHUNK_SIZE, cache_type="none")
        except FileNotFoundError as exc:
            raise ObjectNotFound(
                f"Object {digest} is not in the object store {self.url}. "
                "It was never stored here, or it was deleted; run 'keel fsck' to check the store."
            ) from exc

    def exists(self, digest: str) -> bool:
        return bool(self.fs.exists(self.path(digest)))

    def verify(self, digest: str) -> bool:
        hasher = new_hasher()
        with self._open_raw(digest) as remote:
            for chunk in chunks(remote):
                hasher.update(chunk)
        return hasher.hexdigest() == digest

    def modified(self, digest: str) -> float | None:
        """When the object was last written (seconds since the epoch); None if absent."""
        path = self.path(digest)
        try:
            self.fs.invalidate_cache(path)
            when = self.fs.modified(path)
        except FileNotFoundError:
            return None
        except (NotImplementedError, OSError, ValueError):
            return 0.0  # unknown: gc treats it as old, after its own (longer) grace period
        return when.timestamp() if hasattr(when, "timestamp") else float(when)

    def _stale(self, digest: str) -> bool:
        """Whether a stored copy is older than :data:`REFRESH_S`: storing the same bytes
        again then rewrites it, so its time says it was just put (what ``keel gc
        --objects`` respects; object stores cannot touch a file in place)."""
        import time

        when = self.modified(digest)
        return when is not None and time.time() - when > REFRESH_S

    def delete(self, digest: str) -> bool:
        path = self.path(digest)
        if not self.fs.exists(path):  # object stores delete missing keys without complaint
            return False
        try:
            self.fs.rm_file(path)
        except FileNotFoundError:
            return False
        finally:
            self.fs.invalidate_cache(path)
        return True

    def digests(self) -> Iterator[str]:
        prefix = len(self.root) + 1
        try:
            paths = self.fs.find(self.root)
        except FileNotFoundError:
            return
        for path in paths:
            rel = path[prefix:] if path.startswith(self.root) else path
            fan, _, rest = rel.partition("/")
            if len(fan) == 2 and rest and "/" not in rest:
                yield fan + rest

    def size(self, digest: str) -> int:
        try:
            return int(self.fs.size(self.path(digest)))
        except FileNotFoundError as exc:
            raise ObjectNotFound(f"Object {digest} is not in the object store {self.url}.") from exc
