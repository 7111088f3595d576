"""An input part of batch scoring, read while its digest is checked beside the reading.

``ObjectStore.open`` hashes an object whole before handing it over. For a part kept as a
file in a local store, scoring instead starts hashing the file in a thread and reads it
at once; the hash is checked when the reading ends, before anything is recorded, so a
corrupt part still stops the job (every part is still checked in full) but its hashing
no longer delays the first batch. Other stores verify on open, as before.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from keel.errors import IntegrityError

if TYPE_CHECKING:
    from keel.store.objects import ObjectStore

__all__ = ["reading"]


@contextlib.contextmanager
def reading(objects: ObjectStore, digest: str) -> Iterator[tuple[Any, Callable[[], None]]]:
    """The object ``digest`` opened for reading, and a check to call once it has been read.

    The check raises :class:`~keel.errors.IntegrityError` if the object's bytes do not hash
    to ``digest``; leaving the block without calling it (an error while reading) still
    waits for the hashing thread.
    """
    from keel.store.objects import LocalObjectStore

    fh = None
    if isinstance(objects, LocalObjectStore):
        with contextlib.suppress(FileNotFoundError):
            fh = open(objects.path(digest), "rb")  # noqa: SIM115 - closed below
    if fh is None:  # packed, or another kind of store: verified as it is opened
        with objects.open(digest) as verified:
            yield verified, lambda: None
        return
    with fh:
        hashing = _Hashing(fh)
        try:
            yield fh, lambda: hashing.check(digest, objects.root)
        finally:
            hashing.join()


class _Hashing(threading.Thread):
    """The hash of an open file, computed in a thread over its own memory map."""

    def __init__(self, fh: Any) -> None:
        super().__init__(name="keel-predict-verify", daemon=True)
        self._fd = fh.fileno()
        self.actual: str | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        import mmap

        from keel.store.objects import hash_bytes

        try:
            if os.fstat(self._fd).st_size == 0:
                self.actual = hash_bytes(b"")
                return
            with mmap.mmap(self._fd, 0, access=mmap.ACCESS_READ) as mapped:
                self.actual = hash_bytes(mapped)  # type: ignore[arg-type]
        except BaseException as exc:  # raised by check, in the reading thread
            self.error = exc

    def check(self, digest: str, where: object) -> None:
        """Wait for the hash; raise unless it is ``digest``."""
        self.join()
        if self.error is not None:
            raise self.error
        if self.actual != digest:
            raise IntegrityError(
                f"Input part {digest} in the object store {where} is corrupt: its bytes "
                f"hash to {self.actual}. Nothing was recorded. Restore it from a copy "
                "(putting the good bytes again repairs it), or run 'keel fsck' to list "
                "everything affected."
            )
