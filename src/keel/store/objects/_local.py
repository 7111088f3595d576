"""Object store in a local folder: loose objects and packs; atomic writes, verified reads."""

from __future__ import annotations

import contextlib
import io
import logging
import mmap
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from keel.errors import IntegrityError, InvalidInput, ObjectNotFound, StoreUnavailable

from ._base import ObjectStore, Source, as_stream
from ._copying import LINK_TYPES, clone_or_link, copy_and_hash, hash_fd
from ._durable import fsync_dir, start_writeback, syncfs
from ._hashing import CHUNK_SIZE, check_digest, chunks, hash_bytes, new_hasher
from ._packs import (
    PACK_MAX_BYTES,
    PACK_MAX_OBJECTS,
    PACK_MIN_OBJECTS,
    PACK_THRESHOLD,
    PACKS_DIR,
    BrokenPack,
    Entry,
    PackIndex,
    encode_pack,
    in_tables,
    index_tables,
)

__all__ = ["LocalObjectStore"]

TMP_DIR = "tmp"
_TMP_FLAGS = os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
"""How a temporary file is opened for a copy: as ``open(tmp, "wb+")`` opens it."""
UNHASHED_CHUNK = 1024 * 1024
"""Bytes copied per step from a stream that checks itself (see :meth:`LocalObjectStore.put`)."""

log = logging.getLogger("keel.store")

_FEW = 64
"""A ``put_many`` of fewer sources looks their digests up in the raw pack index files:
cheaper than loading every index (a re-add of 10 changed files among 100,000)."""

# what staging one source gives: (temporary file or None, digest, bytes kept for a pack)
Staged = tuple[str | None, str, bytes | None]


REMOVALS_MARK = "removals"
"""A file in the store's root whose time is when objects were last about to be removed."""


class LocalObjectStore(ObjectStore):
    """Objects as read-only files under ``root`` (two hex characters of fan-out), and
    small objects of large batches in pack files under ``root/packs``.

    Args:
        root: the folder; created on the first write.
        fsync: flush each object and its folder to disk before it becomes visible, so
            a power cut cannot leave a named object with missing bytes.
        link: how a local file enters the store: ``copy`` (the default), ``reflink``
            (share the file's blocks where the filesystem can, else copy) or ``hardlink``
            (the stored object is the file itself, made read-only; else copy). See
            docs/storage.md.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, fsync: bool = True, link: str = "copy"
    ) -> None:
        if link not in LINK_TYPES:
            raise InvalidInput(
                f"Unknown object link type {link!r}. Use one of: {', '.join(LINK_TYPES)} "
                "(KEEL_OBJECTS_LINK or objects_link in keel.toml)."
            )
        self.root = Path(root).expanduser().resolve()
        self.url = str(self.root)
        self.fsync = fsync
        self.link = link
        self._tmp_ready = False
        self._folders: set[str] = set()  # fan-out folders known to exist (see _make_folder)
        self._packs = PackIndex(os.path.join(self.url, PACKS_DIR))

    # -- writing many objects ----------------------------------------------------------

    def put_many(
        self, sources: list[Source], *, workers: int = 4, digests: list[str] | None = None
    ) -> list[str]:
        """Store many objects with two flushes of the store's filesystem for the whole
        batch, not two per file; small objects of a large batch go into pack files.

        ``digests``, one per source, are trusted as :meth:`put`'s ``digest`` is: only
        for bytes the caller has just hashed itself (the server's batch route), so that
        they are not hashed twice.

        Every object (or pack) is first written under a temporary name; one ``syncfs``
        makes all those bytes durable; only then are they renamed into place (a pack
        before its index, each step made durable by a flush of the packs folder), and a
        second ``syncfs`` makes the names of loose objects durable (a batch that only
        wrote packs needs none). A crash or power cut at any point leaves at most
        temporary files, never a named object or a visible pack whose bytes did not
        reach the disk.
        """
        if digests is not None:
            if len(digests) != len(sources):
                raise InvalidInput(
                    f"put_many got {len(digests)} digests for {len(sources)} sources; give "
                    "one digest per source, or none."
                )
            digests = [check_digest(d) for d in digests]
        if len(sources) < 2:
            return [
                self.put(source, digest=digests[i] if digests else None)
                for i, source in enumerate(sources)
            ]
        with self._writing():
            return self._put_many(sources, workers, digests)

    def _put_many(
        self, sources: list[Source], workers: int, digests: list[str] | None = None
    ) -> list[str]:
        from concurrent.futures import ThreadPoolExecutor

        workers = max(1, workers)
        packer = _Packer(self)
        if len(sources) >= _FEW:  # once: the workers look packed digests up without listing
            self._packs.refresh()
        else:  # a handful (a re-add of a few files): looked for in the raw index files
            packer.tables = index_tables(self._packs.folder)
        # a few dozen sources per task, not one: for 100,000 small files the executor's
        # futures and locks would otherwise cost more than the files
        size = max(1, min(32, len(sources) // (4 * workers)))
        known: list[str | None] = list(digests) if digests else [None] * len(sources)
        batches = [
            list(zip(sources[i : i + size], known[i : i + size], strict=True))
            for i in range(0, len(sources), size)
        ]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(self._stage_batch, batch, packer) for batch in batches]
        staged: list[Staged] = []
        failed = [f.exception() for f in futures if f.exception() is not None]
        for future in futures:
            if future.exception() is None:
                staged += future.result()
        if packer.tables is not None and any(data is not None for _, _, data in staged):
            self._packs.refresh()  # found packed: confirmed (and kept) through the index
        if failed:
            for tmp, _, _ in staged:
                if tmp is not None:
                    _unlink(tmp)
            packer.discard()
            raise failed[0]
        self._publish_staged(staged, packer)
        return [digest for _, digest, _ in staged]

    # -- objects written and verified by the caller (the server's batch uploads) ------

    def staging_path(self) -> str:
        """A new temporary file name inside the store, for :meth:`publish_staged`."""
        return str(self._tmp_path())

    def publish_staged(
        self, files: dict[str, str], small: list[tuple[str, bytes]] | None = None
    ) -> None:
        """Make objects the caller has written and checked itself durable and visible,
        with two flushes of the store's filesystem for all of them, as :meth:`put_many`.

        ``files`` maps each digest to a temporary file from :meth:`staging_path`, written
        but not flushed; ``small`` holds ``(digest, bytes)`` of small objects (packed when
        there are many). The digests are trusted, as :meth:`put`'s ``digest``: the caller
        hashed these very bytes as it wrote them (the server's batch route). The
        temporaries are renamed into place or removed, whatever happens; nothing is
        named before its bytes are durable.
        """
        with self._writing():
            packer = _Packer(self)
            staged: list[Staged] = [(tmp, digest, None) for digest, tmp in files.items()]
            try:
                if small:
                    self._packs.refresh()  # once, as put_many does
                    staged += [self._stage_small(d, data, packer) for d, data in small]
            except BaseException:
                for tmp, _, _ in staged:
                    if tmp is not None:
                        _unlink(tmp)
                packer.discard()
                raise
            self._publish_staged(staged, packer)

    def _publish_staged(self, staged: list[Staged], packer: _Packer) -> None:
        """Publish staged objects durably (:meth:`put_many` and :meth:`publish_staged`):
        the packs and loose objects flushed with one ``syncfs``, then named, then the names
        flushed with another; whatever is left unnamed after a failure is removed."""
        published = 0
        loose: dict[str, str] = {}
        touched: set[str] = set()
        try:
            packs, few = packer.finish()
            for digest, data in few:
                loose[digest] = self._stage_bytes(data, digest)[0]  # type: ignore[assignment]
            wrote = bool(packs or loose) or any(tmp for tmp, _, _ in staged)
            if self.fsync and wrote:
                syncfs(self.url)
            self._publish_packs(packs)
            renamed = False
            for tmp, digest, data in staged:
                if tmp is None and digest in loose:
                    tmp = loose.pop(digest)
                if tmp is not None:
                    renamed = True
                    if not self._publish(tmp, digest, sync=False):
                        os.unlink(tmp)
                elif data is not None:
                    renamed = self._keep_existing(digest, data, touched) or renamed
                published += 1
            if self.fsync and renamed:
                syncfs(self.url)
        finally:
            for tmp, _, _ in staged[published:]:
                if tmp is not None:
                    _unlink(tmp)
            for tmp in loose.values():
                _unlink(tmp)
            packer.discard()

    def _stage_batch(
        self, sources: list[tuple[Source, str | None]], packer: _Packer
    ) -> list[Staged]:
        """:meth:`_stage` each ``(source, digest or None)``; on a failure, remove what was
        staged and raise."""
        staged: list[Staged] = []
        try:
            for source, digest in sources:
                staged.append(self._stage(source, packer, digest))
        except BaseException:
            for tmp, _, _ in staged:
                if tmp is not None:
                    _unlink(tmp)
            raise
        return staged

    def _stage(self, source: Source, packer: _Packer, digest: str | None = None) -> Staged:
        """Write ``source`` to a temporary file (not flushed), or hand a small one to the
        packer, and return what was staged with its digest (``digest`` if given: trusted)."""
        if isinstance(source, bytes | bytearray | memoryview):
            if memoryview(source).nbytes <= PACK_THRESHOLD:
                data = bytes(source)
                return self._stage_small(digest or hash_bytes(data), data, packer)
            return self._stage_bytes(source, digest)
        if isinstance(source, str | os.PathLike):
            data = _read_if_small(source)
            if data is not None:
                return self._stage_small(hash_bytes(data), data, packer)
        stream, owned = as_stream(source)
        try:
            if _file_size(stream) <= PACK_THRESHOLD:
                data = stream.read()
                if len(data) <= PACK_THRESHOLD:
                    return self._stage_small(hash_bytes(data), data, packer)
                return self._stage_bytes(data)
            tmp, digest = self._copy_to_tmp(stream, source)
            self._make_folder(digest)
            return tmp, digest, None
        finally:
            if owned:
                stream.close()

    def _make_folder(self, digest: str) -> None:
        """Make the fan-out folder of a staged loose object now, in the staging worker.

        Publishing renames every object of a batch in one thread, after the batch's
        first flush; a ``mkdir`` there (256 of them into an empty store) waited on the
        filesystem's journal, one after the other: about 80 ms of a 2,000-file add on a
        busy machine. Made here, they overlap the other workers' copies, and the batch's
        first flush makes them durable with the bytes. Remembered per store, so a folder
        is made once; :meth:`_publish` still makes one that has gone (gc) meanwhile, and
        reports a failure (a full or read-only disk) as its own ``mkdir`` would.
        """
        name = digest[:2]
        if name in self._folders:
            return
        try:
            os.mkdir(f"{self.url}{os.sep}{name}")
        except FileExistsError:
            pass
        except OSError:
            return  # left to _publish, which raises it with the batch cleaned up
        self._folders.add(name)

    def _stage_small(self, digest: str, data: bytes, packer: _Packer) -> Staged:
        """A small object: kept for a pack unless it is already stored (checked again
        when the batch is published, so a gc meanwhile cannot lose it)."""
        tables = packer.tables
        if (
            self._packs.get(digest, refresh=False) is not None
            or (tables is not None and in_tables(tables, digest))
            or (
                digest[:2] in packer.fans  # no stat where no loose object can be
                and os.path.isfile(f"{self.url}{os.sep}{digest[:2]}{os.sep}{digest[2:]}")
            )
        ):
            return None, digest, data
        packer.add(digest, data)
        return None, digest, None  # the packer holds the bytes until its pack is written

    def _stage_bytes(
        self, data: bytes | bytearray | memoryview, digest: str | None = None
    ) -> Staged:
        tmp = str(self._tmp_path())
        try:
            with open(tmp, "wb") as out:
                out.write(data)
        except BaseException:
            _unlink(tmp)
            raise
        return tmp, digest or hash_bytes(data), None

    def _keep_existing(self, digest: str, data: bytes, touched: set[str]) -> bool:
        """A staged small object found already stored: refresh its time so gc keeps it
        (a pack's once per batch, in ``touched``), or, if that copy is gone or corrupt,
        store these bytes loose (flushed, its name not yet: True then)."""
        if os.path.isfile(self._file(digest)):
            if self._intact(digest, len(data)) and self._touch(digest):
                return False
        elif self._packed_intact(digest, touched, refresh=False):
            return False
        tmp, _, _ = self._stage_bytes(data, digest)
        try:
            if self.fsync:
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
            self._publish(tmp, digest, sync=False)
        finally:
            _unlink(tmp)
        return True

    def _packed_intact(self, digest: str, touched: set[str], *, refresh: bool = True) -> bool:
        """Whether ``digest`` is in a pack with the right bytes; if so, its pack is touched
        (once per ``touched``) so that gc keeps it. False if absent, corrupt, or gone."""
        entry = self._packs.get(digest, refresh=refresh)
        if entry is None:
            return False
        try:
            if hash_bytes(self._packs.read(entry)) != digest:
                return False
            if entry.pack not in touched:
                os.utime(self._packs.index_path(entry.pack))
                touched.add(entry.pack)
        except (FileNotFoundError, BrokenPack):
            return False  # gc took the pack meanwhile, or it is broken: write a copy
        return True

    def _copy_to_tmp(
        self, stream: BinaryIO, source: Source, *, flush: bool = False
    ) -> tuple[str, str]:
        """Copy a stream to a temporary file in the store; its digest. ``flush``: fsync
        the file before it is closed (``put``'s durable write: no second open to flush it);
        else it is not flushed (``put_many`` flushes the whole batch at once).

        A local file is linked or cloned when ``link`` asks for it and the filesystem
        can, else copied by the kernel (``copy_file_range``), hashed as it is written;
        other streams are read, hashed and written chunk by chunk.
        """
        tmp = str(self._tmp_path())
        try:
            linkable = self.link != "copy" and isinstance(source, str | os.PathLike)
            if linkable and clone_or_link(self.link, os.fspath(source), tmp):
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    digest = hash_fd(fd)
                    if flush:
                        os.fsync(fd)
                    return tmp, digest
                finally:
                    os.close(fd)
            # a bare descriptor: the kernel copies into it, and a buffered file object
            # (an fstat, an isatty ioctl and lseeks per file) is made only for the
            # chunked fallback
            fd = os.open(tmp, _TMP_FLAGS, 0o666)
            try:
                size = _regular_size(stream)
                digest = None
                if size is not None:
                    start = stream.tell()
                    digest = copy_and_hash(
                        stream.fileno(), fd, size - start, start, writeback=self.fsync
                    )
                if digest is None:
                    hint = _size_hint(stream)
                    hasher = new_hasher(hint)
                    with open(fd, "wb", closefd=False) as out:
                        for chunk in chunks(stream, hint):
                            hasher.update(chunk)
                            out.write(chunk)
                    digest = hasher.hexdigest()
                if flush:
                    os.fsync(fd)
            finally:
                os.close(fd)
            return tmp, digest
        except BaseException:
            _unlink(tmp)
            raise

    # -- packs -----------------------------------------------------------------------

    def _stage_pack(self, objects: list[tuple[str, bytes]]) -> tuple[str, str, str]:
        """Write a pack and its index to temporary files: (name, pack, index).

        Not flushed; with ``fsync``, the disk starts writing them at once
        (:func:`start_writeback`), so that the batch's flush waits for little more than
        the last pack while the other files are still being read.
        """
        name, pack, index = encode_pack(objects)
        base = str(self._tmp_path())[: -len(".part")]
        tmp_pack, tmp_index = f"{base}.pack.part", f"{base}.idx.part"
        try:
            for path, data in ((tmp_pack, pack), (tmp_index, index)):
                with open(path, "wb") as out:
                    out.write(data)
                    if self.fsync:
                        out.flush()
                        start_writeback(out.fileno())
        except BaseException:
            _unlink(tmp_pack)
            _unlink(tmp_index)
            raise
        return name, tmp_pack, tmp_index

    def _publish_packs(self, packs: list[tuple[str, str, str]]) -> None:
        """Rename flushed packs into place, then (after their folder is flushed) their
        indexes, which make them visible."""
        if not packs:
            return
        folder = self._packs.folder
        made = not os.path.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        if self.fsync and made:
            fsync_dir(self.url)  # the new folder's own name
        for name, tmp_pack, _ in packs:
            os.chmod(tmp_pack, 0o444)
            os.replace(tmp_pack, self._packs.pack_path(name))
        if self.fsync:
            fsync_dir(folder)
        for name, _, tmp_index in packs:
            os.chmod(tmp_index, 0o444)
            os.replace(tmp_index, self._packs.index_path(name))
        if self.fsync:
            fsync_dir(folder)
        self._packs.refresh()

    def _write_pack_now(self, objects: list[tuple[str, bytes]]) -> None:
        """Write one durable pack outside a batch (gc keeps the live objects of a pack)."""
        staged = self._stage_pack(objects)
        try:
            if self.fsync:
                for path in staged[1:]:
                    with open(path, "rb+") as fh:
                        os.fsync(fh.fileno())
            self._publish_packs([staged])
        finally:
            _unlink(staged[1])
            _unlink(staged[2])

    def check_packs(self) -> list[dict[str, str]]:
        """What is wrong with the packs (for ``keel fsck``): an index that cannot be read,
        a pack missing, truncated or whose bytes do not hash to its name; each names it."""
        problems = []
        for name, entries in sorted(self._packs.packs().items()):
            reason = self._packs.check(name, entries)
            if reason is not None:
                problems.append(_pack_problem(name, reason, self._packs.pack_path(name)))
        for name, reason in sorted(self._packs.broken.items()):
            problems.append(_pack_problem(name, reason, self._packs.index_path(name)))
        return problems

    # -- writing one object ------------------------------------------------------------

    def path(self, digest: str) -> Path:
        """Where the object with ``digest`` lives if it is loose (whether or not it
        exists); an object in a pack has no file of its own."""
        return Path(self._file(digest))

    def _file(self, digest: str) -> str:
        """:meth:`path` as a string: cheaper, for the many-objects loops."""
        check_digest(digest)
        return f"{self.url}{os.sep}{digest[:2]}{os.sep}{digest[2:]}"

    def put(self, source: Source, *, digest: str | None = None) -> str:
        """Store ``source`` (written to a temporary file, flushed, then renamed) and
        return its digest.

        Args:
            source: the bytes, a path or a readable stream.
            digest: the source's digest when the caller checks the bytes itself as they are
                read (the server's upload body, whose last read fails unless the bytes
                hash to it), so that they are not hashed twice. It is trusted: a wrong one
                stores bytes under a name that is not theirs, so pass it only from such a
                verifying source; a failing read still leaves nothing behind.
        """
        if digest is not None:
            check_digest(digest)
        if isinstance(source, bytes | bytearray | memoryview):
            digest = digest or hash_bytes(source)
            with self._writing():
                size = memoryview(source).nbytes
                stored = self._intact(digest, size) and self._touch(digest)
                if not stored and size <= PACK_THRESHOLD:
                    stored = self._packed_intact(digest, set())
                if not stored:
                    self._write(digest, lambda fh: fh.write(source))
            return digest
        stream, owned = as_stream(source)
        try:
            with self._writing():
                # the temporary file is flushed before it is closed (no second open)
                if digest is None:
                    tmp, digest = self._copy_to_tmp(stream, source, flush=self.fsync)
                else:
                    tmp = self._copy_unhashed(stream, flush=self.fsync)
                try:
                    renamed = self._publish(tmp, digest)
                except BaseException:
                    _unlink(tmp)
                    raise
                if not renamed:  # the same bytes were already stored
                    _unlink(tmp)
                return digest
        finally:
            if owned:
                stream.close()

    def _copy_unhashed(self, stream: BinaryIO, *, flush: bool = False) -> str:
        """Copy a stream that checks its own bytes to a temporary file (fsynced before it
        is closed if ``flush``)."""
        tmp = str(self._tmp_path())
        try:
            with open(tmp, "wb") as out:
                # no hashing, so no use for large chunks: a small buffer per upload
                for chunk in chunks(stream, min(_size_hint(stream), UNHASHED_CHUNK)):
                    out.write(chunk)
                if flush:
                    out.flush()
                    os.fsync(out.fileno())
        except BaseException:
            _unlink(tmp)
            raise
        return tmp

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Turn the filesystem's refusals (read-only, full, not a folder) into StoreUnavailable.

        Errors naming a file outside the store (an unreadable source file) pass through.
        """
        try:
            yield
        except OSError as exc:
            name = exc.filename
            if name is not None and not str(name).startswith(self.url):
                raise
            raise StoreUnavailable(
                f"Cannot write to the object store {self.root}: {exc.strerror or exc}"
                f"{f' ({name})' if name else ''}. Check that the folder exists, is writable "
                "and has free space (KEEL_OBJECTS says where it is)."
            ) from exc

    def _intact(self, digest: str, size: int) -> bool:
        """Whether the object is stored loose with the right bytes (size first, then its
        hash).

        A corrupt copy is not kept because its name is right: storing the good bytes
        again must repair it, so an existing object is re-hashed before it is trusted.
        """
        final = self._file(digest)
        try:
            if os.stat(final).st_size != size:
                return False
            with open(final, "rb") as fh:
                return _hash_open_file(fh) == digest
        except FileNotFoundError:
            return False

    def _write(self, digest: str, write: Callable[[BinaryIO], object]) -> None:
        tmp = self._tmp_path()
        try:
            with open(tmp, "wb") as out:
                write(out)
                self._flush(out)
            self._publish(tmp, digest)
        finally:
            tmp.unlink(missing_ok=True)

    def _tmp_path(self) -> Path:
        tmp_dir = self.root / TMP_DIR
        if self._tmp_ready:
            return tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            self._tmp_ready = True
        except OSError as exc:
            raise StoreUnavailable(
                f"Cannot write to the object store {self.root}: {exc.strerror}. "
                "Check that the folder exists and is writable."
            ) from exc
        return tmp_dir / f"{uuid.uuid4().hex}.part"

    def _flush(self, fh: BinaryIO) -> None:
        if self.fsync:
            fh.flush()
            os.fsync(fh.fileno())

    def _publish(self, tmp: str | Path, digest: str, *, sync: bool = True) -> bool:
        """Rename ``tmp`` to the object's name; False if the object was already there."""
        final = self._file(digest)
        if os.path.isfile(final):
            if self._intact(digest, os.stat(tmp).st_size) and self._touch(digest):
                return False  # same bytes already stored: content addressing makes this a no-op
            log.warning("object %s in %s is corrupt; replaced by good bytes", digest, self.url)
        os.chmod(tmp, 0o444)
        try:
            os.replace(tmp, final)
        except FileNotFoundError:  # the first object of its fan-out folder (a rare case)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)
        if self.fsync and sync:
            fsync_dir(os.path.dirname(final))
        return True

    # -- reading -----------------------------------------------------------------------

    def open(self, digest: str) -> BinaryIO:
        check_digest(digest)
        try:
            fh = open(self._file(digest), "rb")  # noqa: SIM115 - returned to the caller
        except FileNotFoundError:
            return io.BytesIO(self._read_packed(digest))
        try:
            actual = _hash_open_file(fh)
            if actual != digest:
                raise self._corrupt(digest, actual)
            fh.seek(0)
        except BaseException:
            fh.close()
            raise
        return fh

    def _read_packed(self, digest: str) -> bytes:
        """The verified bytes of an object that is not loose: from its pack, else (gc may
        be moving it) after waiting a moment, else ObjectNotFound."""
        data, entry = self._packed_bytes(digest)
        if entry is None:
            if not self._back_from_gc(digest):
                raise self._missing(digest)
            with contextlib.suppress(FileNotFoundError), open(self._file(digest), "rb") as fh:
                data = fh.read()
                actual = hash_bytes(data)
                if actual != digest:
                    raise self._corrupt(digest, actual)
                return data
            data, entry = self._packed_bytes(digest)
            if entry is None:
                raise self._missing(digest)
        actual = hash_bytes(data)
        if actual != digest:
            raise IntegrityError(
                f"Object {digest} in pack {entry.pack} of {self.url} is corrupt: its bytes "
                f"hash to {actual}. Restore it from a copy (putting the good bytes again "
                "repairs it), or run 'keel fsck' to list everything affected."
            )
        return data

    def _packed_bytes(self, digest: str) -> tuple[bytes, Entry | None]:
        """The raw bytes of a packed object and where they were, or (b"", None)."""
        entry = None
        for _ in range(3):  # a gc may repack between the lookup and the read
            entry = self._packs.get(digest)
            if entry is None:
                return b"", None
            try:
                return self._packs.read(entry), entry
            except FileNotFoundError:
                self._packs.refresh()
            except BrokenPack as exc:
                raise self._unreadable(digest, str(exc)) from exc
        name = entry.pack if entry is not None else "?"
        raise self._unreadable(digest, f"pack {name} is missing, its index is there")

    def _unreadable(self, digest: str, why: str) -> IntegrityError:
        return IntegrityError(
            f"Object {digest} in {self.url} cannot be read: {why}. Run 'keel fsck' to list "
            "everything affected, and restore the objects from a copy."
        )

    def _missing(self, digest: str) -> ObjectNotFound:
        return ObjectNotFound(
            f"Object {digest} is not in the object store {self.root}. "
            "It was never stored here, or it was deleted; run 'keel fsck' to check the store."
        )

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self._file(digest)) or self._packs.get(digest) is not None

    def verify(self, digest: str) -> bool:
        try:
            with open(self._file(digest), "rb") as fh:
                return _hash_open_file(fh) == digest
        except FileNotFoundError:
            pass
        try:
            data, entry = self._packed_bytes(digest)
        except IntegrityError:
            return False  # a truncated pack
        if entry is None:
            if self._back_from_gc(digest):
                return self.verify(digest)
            raise self._missing(digest)
        return hash_bytes(data) == digest

    def delete(self, digest: str) -> bool:
        try:
            self.path(digest).unlink()
            loose = True
        except FileNotFoundError:
            loose = False
        packed = self._packs.get(digest) is not None and bool(
            self._drop_packed({digest}, cutoff=None)
        )
        return loose or packed

    def digests(self) -> Iterator[str]:
        seen: set[str] = set()
        if self.root.is_dir():
            for fan in sorted(self.root.iterdir()):
                if len(fan.name) != 2 or not fan.is_dir():
                    continue
                for entry in os.scandir(fan):
                    digest = fan.name + entry.name
                    seen.add(digest)
                    yield digest
        for digest in self._packs.digests():
            if digest not in seen:
                yield digest

    def sizes(self, digests: list[str]) -> list[int]:
        """The sizes of objects just stored (by :meth:`put_many`): a packed one's from the
        pack index, without a ``stat``; any other as :meth:`size` gives it.

        Raises:
            ObjectNotFound: one of them is not in the store.
        """
        packed = self._packs.get
        found = []
        for digest in digests:
            entry = packed(digest, refresh=False)
            found.append(entry.length if entry is not None else self.size(digest))
        return found

    def size(self, digest: str) -> int:
        # a loose copy first, as reads take it: the size must be that of the bytes a read
        # gives (a server announces it before sending them)
        try:
            return os.stat(self._file(digest)).st_size
        except FileNotFoundError:
            pass
        entry = self._packs.get(digest)
        if entry is None and self._back_from_gc(digest):
            return self.size(digest)
        if entry is None:
            raise ObjectNotFound(f"Object {digest} is not in the object store {self.root}.")
        return entry.length

    def _touch(self, digest: str) -> bool:
        """Mark an existing object as just written (its modification time is the last put,
        which ``keel gc --objects`` respects); False if it vanished meanwhile (gc took it),
        so the caller writes it again."""
        try:
            os.utime(self._file(digest))
        except FileNotFoundError:
            return False
        return True

    def removals_started(self) -> int | None:
        try:
            return os.stat(self.root / REMOVALS_MARK).st_mtime_ns
        except FileNotFoundError:
            return 0

    def mark_removal(self) -> None:
        """Touch the store's removal mark (made durable: a writer trusting its stat cache
        must never see an older mark than the removals that followed it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / REMOVALS_MARK, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.utime(fd)
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        if self.fsync:
            fsync_dir(self.root)

    def freshen(self, digests: Iterable[str]) -> list[str]:
        """Refresh the time of every stored object among ``digests`` (a packed one's pack,
        once per pack) so that ``keel gc --objects`` keeps it through its grace period;
        the digests not stored, in order, once each (the caller puts them again).

        gc moves an object (or a pack's index) aside before it reads its time: a refresh
        that comes first makes gc put it back; one that comes after finds nothing, and the
        object is reported missing, so a writer never references bytes gc is removing.
        """
        wanted = list(dict.fromkeys(digests))
        entries = self._packs.get_many(wanted) if wanted else []
        touched: set[str] = set()
        packs = {e.pack for e in entries if e is not None}
        lost = {pack for pack in packs if not self._touch_pack(pack, touched)}
        rest = [d for d, e in zip(wanted, entries, strict=True) if e is None or e.pack in lost]
        missing: list[str] = []
        for digest in rest:
            if self._touch(digest):
                continue
            entry = self._packs.get(digest)  # packs written (or rewritten by gc) meanwhile
            if entry is None or not self._touch_pack(entry.pack, touched):
                missing.append(digest)
        return missing

    def _touch_pack(self, pack: str, touched: set[str]) -> bool:
        """Refresh a pack's time (once per ``touched``); False if gc took it meanwhile."""
        if pack in touched:
            return True
        try:
            os.utime(self._packs.index_path(pack))
        except FileNotFoundError:
            return False
        touched.add(pack)
        return True

    def modified(self, digest: str) -> float | None:
        """When the object was last put (seconds since the epoch); None if it is absent.

        A packed object's time is its pack's: putting any object of a pack again keeps
        the whole pack from gc for the grace period.
        """
        try:
            return os.stat(self._file(digest)).st_mtime
        except FileNotFoundError:
            pass
        entry = self._packs.get(digest)
        if entry is None:
            return None
        try:
            return os.stat(self._packs.index_path(entry.pack)).st_mtime
        except FileNotFoundError:
            return None

    def _back_from_gc(self, digest: str, wait_s: float = 0.5) -> bool:
        """Whether a missing object reappears: gc moves an object (or a pack's index)
        aside for a moment while it checks whether a writer touched it, and moves it back
        if one did. Only while a gc has something aside is it worth waiting for."""
        tmp_dir = self.root / TMP_DIR
        deadline = time.monotonic() + wait_s
        while any(tmp_dir.glob("*.gc.part")) and time.monotonic() < deadline:
            if os.path.isfile(self._file(digest)) or self._packs.get(digest) is not None:
                return True
            time.sleep(0.005)
        return os.path.isfile(self._file(digest)) or self._packs.get(digest) is not None

    # -- garbage collection ------------------------------------------------------------

    def delete_if_older(self, digest: str, cutoff: float) -> bool:
        """Delete the object unless it was put at or after ``cutoff``; True if deleted.

        The object is first moved aside (one atomic rename), then its time is read: a
        writer that stored the same bytes before the rename has touched it, and it is
        moved back; one that stores them after the rename finds no object and writes a
        new copy. Either way a writer never loses what it just put.
        """
        return digest in self.delete_many_if_older([digest], cutoff)

    def delete_many_if_older(self, digests: list[str], cutoff: float) -> set[str]:
        """:meth:`delete_if_older` for many objects at once; the digests deleted (every
        copy, loose and packed, is gone). Packs are rewritten once for all of them."""
        gone = set()
        doomed = set()
        for digest in digests:
            loose = self._delete_loose_if_older(digest, cutoff)
            if loose is not False:
                doomed.add(digest)
                if loose:
                    gone.add(digest)
        packed = self._drop_packed(doomed, cutoff) if doomed else set()
        dropped = set()
        for digest in doomed:
            if digest in packed or (digest in gone and self._packs.get(digest) is None):
                dropped.add(digest)
        return dropped

    def _delete_loose_if_older(self, digest: str, cutoff: float) -> bool | None:
        """True if the loose copy was deleted, None if there was none, False if kept."""
        final = self._file(digest)
        aside = str(self._tmp_path()).replace(".part", ".gc.part")
        try:
            os.rename(final, aside)
        except FileNotFoundError:
            return None
        if os.stat(aside).st_mtime >= cutoff:
            if os.path.exists(final):  # a writer stored it again meanwhile
                os.unlink(aside)
            else:
                os.replace(aside, final)
            return False
        os.unlink(aside)
        return True

    def _drop_packed(self, doomed: set[str], cutoff: float | None) -> set[str]:
        """Remove ``doomed`` objects from every pack holding them (unless the pack was
        put at or after ``cutoff``); the digests no pack holds any more.

        A pack with other objects is rewritten without the doomed ones first, so those
        are never invisible; then its index is moved aside (the atomic commit point), its
        time read again as :meth:`delete_if_older` does, and the old pack removed.
        """
        kept: set[str] = set()
        hit_any: set[str] = set()
        for name, entries in self._packs.packs().items():
            hit = {d for d, _, _ in entries if d in doomed}
            if not hit:
                continue
            hit_any |= hit
            index = self._packs.index_path(name)
            try:
                if cutoff is not None and os.stat(index).st_mtime >= cutoff:
                    kept |= hit
                    continue
                live = [(d, off, n) for d, off, n in entries if d not in doomed]
                if live:
                    self._write_pack_now(
                        [(d, self._packs.read(Entry(name, off, n))) for d, off, n in live]
                    )
            except FileNotFoundError:
                continue  # another gc removed this pack meanwhile
            except BrokenPack as exc:
                log.warning("pack %s kept: %s; run 'keel fsck'", name, exc)
                kept |= hit
                continue
            aside = str(self._tmp_path()).replace(".part", ".gc.part")
            try:
                os.rename(index, aside)
            except FileNotFoundError:
                continue
            if cutoff is not None and os.stat(aside).st_mtime >= cutoff:
                if os.path.exists(index):
                    os.unlink(aside)
                else:
                    os.replace(aside, index)
                kept |= hit
                continue
            if not os.path.exists(index):  # else a writer just wrote the same pack again
                _unlink(self._packs.pack_path(name))
            os.unlink(aside)
            self._packs.forget(name)
        if hit_any and self.fsync:
            fsync_dir(self._packs.folder)
        self._packs.refresh()
        return {d for d in hit_any - kept if self._packs.get(d, refresh=False) is None}

    def repack(self, *, below: int = PACK_MAX_BYTES // 4) -> int:
        """Merge packs holding fewer than ``below`` bytes into full ones (many small
        ``keel data add``s each leave one); the number of packs merged away.

        The merged pack is written and made durable first, then each old pack's index is
        moved aside and the pack removed: every object stays readable throughout (a reader
        holding an old location looks again), and a pack with a corrupt or missing object
        is left as it is for ``keel fsck`` to report.
        """
        merged: list[str] = []
        objects: list[tuple[str, bytes]] = []
        seen: set[str] = set()
        for name, entries in sorted(self._packs.packs().items()):
            if sum(n for _, _, n in entries) >= below:
                continue
            try:
                with open(self._packs.pack_path(name), "rb") as fh:
                    data = fh.read()
            except FileNotFoundError:
                continue
            found = [(d, data[off : off + n]) for d, off, n in entries]
            if any(hash_bytes(chunk) != d for d, chunk in found):
                continue  # keep a damaged pack as evidence; fsck names it
            merged.append(name)
            for digest, chunk in found:
                if digest not in seen:
                    seen.add(digest)
                    objects.append((digest, chunk))
        if len(merged) < 2:
            return 0
        with self._writing():
            group: list[tuple[str, bytes]] = []
            size = 0
            for digest, chunk in objects:
                group.append((digest, chunk))
                size += len(chunk)
                if size >= PACK_MAX_BYTES or len(group) >= PACK_MAX_OBJECTS:
                    self._write_pack_now(group)
                    group, size = [], 0
            if group:
                self._write_pack_now(group)
            for name in merged:
                aside = str(self._tmp_path()).replace(".part", ".gc.part")
                try:
                    os.rename(self._packs.index_path(name), aside)
                except FileNotFoundError:
                    continue
                if not os.path.exists(self._packs.index_path(name)):  # not written again
                    _unlink(self._packs.pack_path(name))
                os.unlink(aside)
                self._packs.forget(name)
            if self.fsync:
                fsync_dir(self._packs.folder)
        return len(merged)

    def stale_temporaries(self) -> list[Path]:
        """Partial writes left behind by a crashed process (never visible as objects):
        temporary files, and packs whose index was never written."""
        tmp_dir = self.root / TMP_DIR
        found = sorted(tmp_dir.glob("*.part")) if tmp_dir.is_dir() else []
        folder = Path(self._packs.folder)
        if folder.is_dir():
            for pack in sorted(folder.glob("*.pack")):
                if not pack.with_suffix(".idx").exists():
                    found.append(pack)
        return found


class _Packer:
    """Collects the small objects of one batch into packs, written as they fill up.

    The first :data:`PACK_MIN_OBJECTS` objects wait: a batch with fewer writes them
    loose (one pack per handful of files would only add files).
    """

    def __init__(self, store: LocalObjectStore) -> None:
        self.store = store
        self.fans = _fan_folders(store.url)
        """The store's fan-out folders when the batch began: an object whose folder is
        not among them was not stored loose (one stored meanwhile by another process is
        packed again, a harmless second copy), so no ``stat`` asks."""
        self.tables: list[bytes] | None = None
        """The raw pack index tables a batch of a few sources looks digests up in
        (:func:`~._packs.in_tables`), rather than loading every index; None: loaded."""
        self._lock = threading.Lock()
        self._pending: list[tuple[str, bytes]] = []
        self._pending_bytes = 0
        self._seen: set[str] = set()
        self._staged: list[tuple[str, str, str]] = []

    def add(self, digest: str, data: bytes) -> None:
        with self._lock:
            if digest in self._seen:
                return
            self._seen.add(digest)
            self._pending.append((digest, data))
            self._pending_bytes += len(data)
            if self._pending_bytes < PACK_MAX_BYTES and len(self._pending) < PACK_MAX_OBJECTS:
                return
            full, self._pending, self._pending_bytes = self._pending, [], 0
        self._stage(full)

    def _stage(self, objects: list[tuple[str, bytes]]) -> None:
        staged = self.store._stage_pack(objects)
        with self._lock:
            self._staged.append(staged)

    def finish(self) -> tuple[list[tuple[str, str, str]], list[tuple[str, bytes]]]:
        """Stage what is left: the (name, pack, index) temporaries to publish, and the
        objects too few to pack (the caller writes them loose)."""
        rest, self._pending = self._pending, []
        if rest and (self._staged or len(rest) >= PACK_MIN_OBJECTS):
            self._stage(rest)
            rest = []
        return self._staged, rest

    def discard(self) -> None:
        """Remove the temporaries of packs not published (after a failure)."""
        for _, tmp_pack, tmp_index in self._staged:
            _unlink(tmp_pack)
            _unlink(tmp_index)


def _pack_problem(name: str, reason: str, where: str) -> dict[str, str]:
    return {
        "check": "packs",
        "problem": "broken pack",
        "object": name,
        "detail": f"{reason} ({where}); its objects cannot be read: restore them from a copy",
    }


def _fan_folders(root: str) -> frozenset[str]:
    """The names of the two-character folders of loose objects under ``root``."""
    try:
        return frozenset(n for n in os.listdir(root) if len(n) == 2)
    except (FileNotFoundError, NotADirectoryError):
        return frozenset()


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _read_if_small(path: str | os.PathLike[str]) -> bytes | None:
    """The bytes of the regular file at ``path`` if it holds at most
    :data:`PACK_THRESHOLD` of them, else None (larger, not a regular file, or unreadable:
    the stream path then copies it or reports the error).

    One ``open``, ``fstat`` and ``read`` per file, no ``Path`` or buffered reader: for
    100,000 small files those are most of the per-file cost. A read that returns the
    size ``fstat`` gave (of the one byte more asked for) has the whole file; any other
    (the file changed meanwhile) is followed by reads to the end.
    """
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > PACK_THRESHOLD:
            return None
        first = os.read(fd, info.st_size + 1)
        if len(first) == info.st_size:
            return first
        parts, total = [first], len(first)
        while chunk := os.read(fd, PACK_THRESHOLD + 1):
            parts.append(chunk)
            total += len(chunk)
            if total > PACK_THRESHOLD:  # it grew since the fstat: too big to pack now
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(parts) if total <= PACK_THRESHOLD else None


def _file_size(stream: BinaryIO) -> int:
    """Bytes left in a file-backed stream; large if unknown (not packed then)."""
    size = _regular_size(stream)
    if size is None:
        return PACK_THRESHOLD + 1
    try:
        return size - stream.tell()
    except (OSError, ValueError):
        return PACK_THRESHOLD + 1


def _regular_size(stream: BinaryIO) -> int | None:
    """The size of the regular file behind ``stream``, or None (pipe, socket, memory)."""
    import stat

    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _size_hint(stream: BinaryIO) -> int:
    """The size of a file-backed stream, to size buffers and threads; large if unknown."""
    try:
        return max(64 * 1024, os.fstat(stream.fileno()).st_size)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return CHUNK_SIZE


def _hash_open_file(fh: BinaryIO) -> str:
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        return hash_bytes(b"")
    with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        hasher = new_hasher(size)
        hasher.update(mapped)
        return hasher.hexdigest()
