"""Objects in a keel server's object store, through its ``/api/v1/objects`` routes.

A push hashes locally first and asks the server once which digests it lacks, so bytes
the server already holds never cross the network. Uploads and downloads stream in
chunks; the server checks every upload against its digest before storing it, and this
client checks every download before handing it out.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from keel.errors import (
    IntegrityError,
    NotFound,
    ObjectNotFound,
    PayloadTooLarge,
    StoreUnavailable,
)

from ._base import ObjectStore, Source, as_stream
from ._hashing import CHUNK_SIZE, check_digest, chunks, hash_bytes, new_hasher
from ._http_batch import BATCH_BYTES_HEADER, BATCH_OBJECTS, header

__all__ = ["MISSING_BATCH", "HttpObjectStore"]

API = "/api/v1/objects"
MISSING_BATCH = 10_000
"""Most digests one ``POST /objects/missing`` takes (about 660 KB of JSON)."""
SPOOL = 1024 * 1024
"""Bytes of a non-seekable stream kept in memory while it waits to be sent."""
SEND_CHUNK = 1024 * 1024
BATCH_OBJECT_MAX = 1024 * 1024
"""Objects up to this size travel in batches (``POST /objects/batch``), larger ones alone."""
BATCH_BYTES = 3 * 1024 * 1024
"""Most bytes of one batch for a server that does not say how large a batch it takes:
below the default request limit (4 MiB)."""
STREAM_BATCH_BYTES = 8 * 1024 * 1024
"""Most bytes of one batch (objects of any size up to it) for a server whose answer to
``/objects/missing`` says it takes more (it writes a batch as it arrives): a push of
large files then costs a request and a flush of the server's disk per 8 MiB, not per
object."""
PIPELINE_BYTES = 32 * 1024 * 1024
"""Newly hashed bytes after which a push asks the server which it lacks and sends them,
while it hashes the rest."""
PULL_WORKERS = 8
"""Downloads in flight at once in :meth:`HttpObjectStore.get_many` (each mostly waits on
the server's per-request cost, so more threads than cores pay off)."""


@dataclass
class _Staged:
    """A source hashed and ready to send: its digest, size and how to read it again."""

    digest: str
    size: int
    data: bytes | None = None
    path: Path | None = None
    stream: BinaryIO | None = None
    start: int = 0
    owned: bool = False

    def body(self) -> bytes | Iterator[bytes]:
        if self.data is not None:
            return self.data
        if self.path is not None:
            return _read_file(self.path, self.size)
        assert self.stream is not None
        self.stream.seek(self.start)
        return _read(self.stream, self.size)

    def read(self) -> bytes:
        """Every byte of the source (for a small object sent in a batch)."""
        body = self.body()
        return body if isinstance(body, bytes) else b"".join(body)

    def close(self) -> None:
        if self.owned and self.stream is not None:
            self.stream.close()


class HttpObjectStore(ObjectStore):
    """The object store of a keel server at ``url`` (``http(s)://host:port``).

    Args:
        url: the server's address (what ``KEEL_URI`` would be).
        token: bearer token; pushing needs a writer, reading a reader token.
        timeout: seconds to wait for any one read or write on the connection.
        remember_files: keep a stat cache of pushed files (see :mod:`._http_known`), so
            that pushing an unchanged file again does not read it.

    Example::

        >>> import keel                                              # doctest: +SKIP
        >>> objects = keel.Client("http://127.0.0.1:8080").objects   # doctest: +SKIP
        >>> digest = objects.put(b"hello")                           # doctest: +SKIP
    """

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 300.0,
        remember_files: bool = True,
    ) -> None:
        from keel._remote import RemoteClient

        self.url = url.rstrip("/")
        self.client = RemoteClient(self.url, token=token, timeout=timeout)
        self._batches = True  # until the server turns a batch away
        self._fetches = True  # until the server turns a fetch away
        self._batch_bytes = BATCH_BYTES  # until the server says it takes more
        self._batch_refused = False  # a large batch was refused: the server is not believed
        self.remember_files = remember_files

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def missing(self, digests: Iterable[str]) -> list[str]:
        """The digests the server does not store, in order, each once."""
        wanted = list(dict.fromkeys(check_digest(d) for d in digests))
        lacking: list[str] = []
        for i in range(0, len(wanted), MISSING_BATCH):
            batch = wanted[i : i + MISSING_BATCH]
            response = self.client.request("POST", f"{API}/missing", json=batch)
            lacking += orjson.loads(response.content)
            self._learn_batch_bytes(response.headers.get(BATCH_BYTES_HEADER))
        return lacking

    def freshen(self, digests: Iterable[str]) -> list[str]:
        """The digests the server does not store; the server refreshes the others' time
        as it answers (see :meth:`ObjectStore.freshen`)."""
        return self.missing(digests)

    def _learn_batch_bytes(self, said: str | None) -> None:
        """Send batches as large as the server says it takes (up to
        :data:`STREAM_BATCH_BYTES`, with room for framing), once it says so."""
        if said and said.isdigit() and self._batches and not self._batch_refused:
            room = int(said) - BATCH_OBJECTS * 100
            self._batch_bytes = max(BATCH_BYTES, min(STREAM_BATCH_BYTES, room))

    def put(self, source: Source) -> str:
        return self.put_many([source], workers=1)[0]

    def put_many(self, sources: list[Source], *, workers: int = 4) -> list[str]:
        """Hash every source, ask the server which it lacks, send only those.

        Sending starts while the later sources are still being hashed: every
        :data:`PIPELINE_BYTES` of newly hashed bytes, the server is asked which of them it
        lacks and those go out (files the stat cache knows unchanged are asked about at
        the end, all at once). Digests come back in the order of ``sources``; the same
        bytes are sent once.
        """
        paths = [str(s) for s in sources if isinstance(s, str | os.PathLike)]
        known = _known_files(self.url, paths) if paths and self.remember_files else None
        staged: list[_Staged] = []
        try:
            cached = known.digests() if known is not None else {}
            # unchanged files cost a dict look-up: only the others go to the thread pool
            # (whose per-task cost would be most of an unchanged re-push)
            hits = {i: _Staged(*cached[str(s)], path=Path(s)) for i, s in _cached(sources, cached)}
            misses = [s for i, s in enumerate(sources) if i not in hits]
            with _Sender(self, workers) as sender:
                fresh = _map(self._stage, misses, workers)  # in order, as they are hashed
                pending: list[_Staged] = []
                hashed = 0
                for i in range(len(sources)):
                    item = hits[i] if i in hits else next(fresh)
                    staged.append(item)
                    pending.append(item)
                    if i not in hits:
                        hashed += item.size
                    if hashed >= PIPELINE_BYTES:
                        sender.offer(pending)
                        pending, hashed = [], 0
                sender.offer(pending)
            if known is not None:  # every object is on the server now
                known.record(
                    {str(s): (i.digest, i.size) for s, i in zip(sources, staged, strict=True)}
                )
        finally:
            for item in staged:
                item.close()
            if known is not None:
                known.close()
        return [s.digest for s in staged]

    def _stage(self, source: Source) -> _Staged:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            return _Staged(hash_bytes(data), len(data), data=data)
        stream, owned = as_stream(source)  # raises the store's errors for bad paths and types
        if owned:  # a path: hashed now, read again from the file when sent
            with stream:
                digest, size = _hash(stream)
            return _Staged(digest, size, path=Path(source))  # type: ignore[arg-type]
        if stream.seekable():
            start = stream.tell()
            digest, size = _hash(stream)
            return _Staged(digest, size, stream=stream, start=start)
        spool = tempfile.SpooledTemporaryFile(SPOOL)  # noqa: SIM115 - closed by _Staged.close
        try:
            hasher, size = new_hasher(), 0
            for chunk in chunks(stream):
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
        except BaseException:
            spool.close()
            raise
        return _Staged(hasher.hexdigest(), size, stream=spool, owned=True)  # type: ignore[arg-type]

    def _send_group(self, group: list[_Staged]) -> None:
        """Send one object with a PUT, or several small ones in one batch request."""
        if len(group) == 1 or not self._batches:
            for item in group:
                self._send(item)
            return
        heads = [header(item.digest, item.size) for item in group]
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(sum(len(h) + i.size for h, i in zip(heads, group, strict=True))),
        }
        try:
            self.client.request(
                "POST", f"{API}/batch", content=_batch_body(heads, group), headers=headers
            )
        except (NotFound, PayloadTooLarge):
            if self._batch_bytes > BATCH_BYTES:  # took less than it said: batches as before
                self._batch_refused = True
                self._batch_bytes = BATCH_BYTES
                for smaller in _groups(group, BATCH_BYTES):
                    self._send_group(smaller)
                return
            # a server without the batch route, or with a request limit below BATCH_BYTES
            self._batches = False
            for item in group:
                self._send(item)

    def _send(self, item: _Staged) -> None:
        # Content-Length lets the server refuse an oversized object before reading it and
        # tell a cut-off upload from a complete one
        headers = {"Content-Length": str(item.size), "Content-Type": "application/octet-stream"}
        self.client.request("PUT", f"{API}/{item.digest}", content=item.body(), headers=headers)

    def open(self, digest: str) -> BinaryIO:
        out = tempfile.SpooledTemporaryFile(CHUNK_SIZE)  # noqa: SIM115 - returned
        try:
            self._download(digest, out)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out  # type: ignore[return-value]

    def get(self, digest: str, dest: str | os.PathLike[str]) -> Path:
        """Download a verified object straight to ``dest`` (atomically) and return the path."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                self._download(digest, out)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def get_many(
        self,
        jobs: list[tuple[str, str | os.PathLike[str]]],
        *,
        workers: int = PULL_WORKERS,
        sizes: dict[str, int] | None = None,
    ) -> list[Path]:
        """Download each ``(digest, dest)`` on up to ``workers`` threads; the paths, in order.

        Each object is verified as it streams in and written atomically (as :meth:`get`);
        the same bytes wanted at several paths are fetched once and copied. Objects that
        ``sizes`` (digest -> bytes, e.g. from a manifest) says are small are asked for
        several to a request (``POST /objects/fetch``). On a failure the downloads not
        yet started are cancelled and the first error is raised.
        """
        first: dict[str, Path] = {}
        copies: list[tuple[Path, Path]] = []
        for digest, dest in jobs:
            check_digest(digest)
            if digest in first:
                copies.append((first[digest], Path(dest)))
            else:
                first[digest] = Path(dest)
        tasks = [
            (self._fetch_group, group)
            for group in _fetch_groups(list(first.items()), sizes if self._fetches else None)
        ]
        if workers < 2 or len(tasks) < 2:
            for fn, arg in tasks:
                fn(arg)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(fn, arg) for fn, arg in tasks]
                try:
                    for future in futures:
                        future.result()
                except BaseException:
                    for future in futures:
                        future.cancel()
                    raise
        for src, dest in copies:
            _copy_atomically(src, dest)
        return [Path(dest) for _, dest in jobs]

    def _fetch_group(self, group: list[tuple[str, Path]]) -> None:
        """Download one object with a GET, or several small ones with one request."""
        if len(group) == 1 or not self._fetches:
            for digest, dest in group:
                self.get(digest, dest)
            return
        written: list[Path] = []
        try:
            with self.client.stream("POST", f"{API}/fetch", json=[d for d, _ in group]) as response:
                # the pieces as they come off the socket: iter_bytes(size) would copy every
                # byte twice more to cut them to one size
                frames = _Frames(response.iter_bytes(), self.url)
                for digest, dest in group:
                    written.append(self._receive(frames, digest, dest))
        except ObjectNotFound:  # the server's message names the absent object
            raise
        except NotFound:  # a server without the route: one GET each
            self._fetches = False
            for digest, dest in group:
                if dest not in written:
                    self.get(digest, dest)

    def _receive(self, frames: _Frames, digest: str, dest: Path) -> Path:
        """The next object of a fetch answer, checked and written atomically to ``dest``."""
        size = frames.header(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
        try:
            hasher = new_hasher(0)  # one thread: the downloads run side by side already
            with os.fdopen(fd, "wb") as out:
                for piece in frames.take(size):
                    hasher.update(piece)
                    out.write(piece)
            actual = hasher.hexdigest()
            if actual != digest:
                raise self._corrupt(digest, actual)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def _download(self, digest: str, out: BinaryIO | None) -> str:
        """Stream the object into ``out`` (or nowhere) and raise unless it hashes to
        ``digest``; returns the digest the bytes have."""
        check_digest(digest)
        hasher = new_hasher(0)  # one thread: get_many runs downloads side by side already
        try:
            with self.client.stream("GET", f"{API}/{digest}") as response:
                for chunk in response.iter_bytes():  # as they come, not copied to one size
                    hasher.update(chunk)
                    if out is not None:
                        out.write(chunk)
        except NotFound as exc:
            raise self._not_found(digest) from exc
        actual = hasher.hexdigest()
        if out is not None and actual != digest:
            raise self._corrupt(digest, actual)
        return actual

    def exists(self, digest: str) -> bool:
        try:
            self._head(digest)
        except ObjectNotFound:
            return False
        return True

    def verify(self, digest: str) -> bool:
        try:
            return self._download(digest, None) == digest
        except IntegrityError:  # the server found the stored bytes corrupt before sending
            return False

    def delete(self, digest: str) -> bool:
        """Remove an object from the server (an admin token limited to no project)."""
        return bool(self.client.json("DELETE", f"{API}/{check_digest(digest)}")["deleted"])

    def digests(self) -> Iterator[str]:
        """Every digest the server stores (an admin token limited to no project)."""
        with self.client.stream("GET", API) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield line.strip()

    def size(self, digest: str) -> int:
        return int(self._head(digest).headers["content-length"])

    def _head(self, digest: str) -> Any:
        try:
            return self.client.request("HEAD", f"{API}/{check_digest(digest)}")
        except NotFound as exc:
            raise self._not_found(digest) from exc

    def _not_found(self, digest: str) -> ObjectNotFound:
        return ObjectNotFound(
            f"Object {digest} is not in the object store {self.url}. Push it first "
            "(put or put_many), or check the digest."
        )


class _Sender:
    """The sending half of :meth:`HttpObjectStore.put_many`: asks the server which of the
    staged objects offered it lacks and sends them on ``workers`` threads, each digest
    once; leaving the block waits for every send and raises the first failure.

    The asking runs on a thread of its own, one part after another, so the caller goes
    on hashing (and offering) while the server answers, and the sending threads get the
    next part as soon as the answer arrives.
    """

    def __init__(self, store: HttpObjectStore, workers: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.store = store
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers))
        self.asker = ThreadPoolExecutor(max_workers=1)
        self.asks: list[Any] = []
        self.futures: list[Any] = []
        self.offered: set[str] = set()

    def offer(self, items: list[_Staged]) -> None:
        """Send those of ``items`` the server lacks (and not already on their way)."""
        for future in [*self.asks, *self.futures]:  # a failure stops the push now
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        new = [i for i in items if i.digest not in self.offered]
        if not new:
            return
        self.offered.update(i.digest for i in new)
        self.asks.append(self.asker.submit(self._ask_and_send, new))

    def _ask_and_send(self, new: list[_Staged]) -> None:
        lacking = set(self.store.missing(i.digest for i in new))
        sends = {i.digest: i for i in new if i.digest in lacking}
        for group in _groups(list(sends.values()), self.store._batch_bytes):
            self.futures.append(self.pool.submit(self.store._send_group, group))

    def __enter__(self) -> _Sender:
        return self

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        try:
            if error is not None:
                for future in self.asks:
                    future.cancel()
            self.asker.shutdown(wait=True)  # every part asked about: no more sends appear
            if error is not None:
                for future in self.futures:
                    future.cancel()
            for future in [*self.asks, *self.futures]:
                if not future.cancelled():
                    exc = future.exception()
                    if exc is not None and error is None:
                        raise exc
        finally:
            self.asker.shutdown(wait=True)
            self.pool.shutdown(wait=True)


def _cached(sources: list[Source], cached: dict[str, tuple[str, int]]) -> Iterator[tuple[int, Any]]:
    """``(index, source)`` of the file sources the stat cache knows unchanged."""
    if not cached:
        return
    for i, source in enumerate(sources):
        if isinstance(source, str | os.PathLike) and str(source) in cached:
            yield i, source


def _fetch_groups(
    fetches: list[tuple[str, Path]], sizes: dict[str, int] | None
) -> list[list[tuple[str, Path]]]:
    """Downloads grouped: objects of unknown or large size alone, small ones together in
    groups of at most :data:`BATCH_BYTES` and :data:`BATCH_OBJECTS`."""
    if not sizes:
        return [[job] for job in fetches]
    groups: list[list[tuple[str, Path]]] = []
    batch: list[tuple[str, Path]] = []
    total = 0
    for job in fetches:
        size = sizes.get(job[0])
        if size is None or size > BATCH_OBJECT_MAX:
            groups.append([job])
            continue
        if batch and (total + size > BATCH_BYTES or len(batch) == BATCH_OBJECTS):
            groups.append(batch)
            batch, total = [], 0
        batch.append(job)
        total += size
    if batch:
        groups.append(batch)
    return groups


class _Frames:
    """The objects of a ``POST /objects/fetch`` answer, read as the bytes arrive.

    The pieces received are handed on as views, not copied: only a header that straddles
    two pieces is joined.
    """

    def __init__(self, chunks: Iterator[bytes], url: str) -> None:
        self._chunks = chunks
        self._piece = memoryview(b"")
        self.url = url

    def _more(self) -> None:
        chunk = next(self._chunks, None)
        if chunk is None:
            raise StoreUnavailable(
                f"The answer of the keel server at {self.url} ended before every object "
                "asked for arrived. Nothing partial was kept; try again."
            )
        self._piece = memoryview(bytes(self._piece) + chunk if self._piece else chunk)

    def header(self, digest: str) -> int:
        """The size of the next object, which must be ``digest``."""
        while (end := bytes(self._piece[:100]).find(b"\n")) < 0:
            if len(self._piece) >= 100:
                break
            self._more()
        line = bytes(self._piece[: max(end, 0)]).decode("ascii", "replace")
        name, _, size = line.partition(" ")
        if end < 0 or name != digest or not size.isdigit():
            raise StoreUnavailable(
                f"The keel server at {self.url} answered {line[:90]!r} where object {digest} "
                "was expected. Try again; if it persists, report it."
            )
        self._piece = self._piece[end + 1 :]
        return int(size)

    def take(self, size: int) -> Iterator[memoryview]:
        """The next ``size`` bytes, piece by piece (views valid until the next call)."""
        left = size
        while left > 0:
            if not self._piece:
                self._more()
            piece = self._piece[:left]
            self._piece = self._piece[len(piece) :]
            left -= len(piece)
            yield piece


def _known_files(url: str, paths: list[str]) -> Any:
    from ._http_known import KnownFiles

    try:
        return KnownFiles(url, paths)
    except OSError:  # no cache folder: every file is read
        return None


def _groups(items: list[_Staged], batch_bytes: int = BATCH_BYTES) -> list[list[_Staged]]:
    """Objects to send, grouped: each large one alone, small ones together in batches of
    at most ``batch_bytes`` and :data:`BATCH_OBJECTS` (largest first, so the batches
    come out even). Objects up to :data:`BATCH_OBJECT_MAX` are small, or up to
    ``batch_bytes`` when it is above :data:`BATCH_BYTES` (a server that writes batches as
    they arrive)."""
    largest = BATCH_OBJECT_MAX if batch_bytes <= BATCH_BYTES else batch_bytes
    groups: list[list[_Staged]] = []
    batch: list[_Staged] = []
    size = 0
    for item in sorted(items, key=lambda i: i.size, reverse=True):
        if item.size > largest:
            groups.append([item])
            continue
        if batch and (size + item.size > batch_bytes or len(batch) == BATCH_OBJECTS):
            groups.append(batch)
            batch, size = [], 0
        batch.append(item)
        size += item.size + 100
    if batch:
        groups.append(batch)
    return groups


def _batch_body(heads: list[bytes], group: list[_Staged]) -> Iterator[bytes]:
    """A batch body piece by piece: each object's header line, then its bytes as read
    (never the whole batch in memory)."""
    for head, item in zip(heads, group, strict=True):
        body = item.body()
        if isinstance(body, bytes):
            yield head + body
            continue
        yield head
        yield from body


def _map(fn: Any, items: list[Any], workers: int) -> Iterator[Any]:
    """``map`` over threads when there is more than one item and worker (hashing and
    sockets release the GIL)."""
    if workers < 2 or len(items) < 2:
        return map(fn, items)
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=workers)

    def results() -> Iterator[Any]:
        with pool:
            yield from pool.map(fn, items)

    return results()


def _copy_atomically(src: Path, dest: Path) -> None:
    import shutil

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
            shutil.copyfileobj(fh, out, CHUNK_SIZE)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _hash(stream: BinaryIO) -> tuple[str, int]:
    hint = _size_hint(stream)
    hasher, size = new_hasher(hint), 0
    for chunk in chunks(stream, hint):
        hasher.update(chunk)
        size += len(chunk)
    return hasher.hexdigest(), size


def _read(stream: BinaryIO, size: int) -> Iterator[bytes]:
    left = size
    while left > 0:
        chunk = stream.read(min(SEND_CHUNK, left))
        if not chunk:
            return  # shorter than hashed: the server sees a short body and stores nothing
        left -= len(chunk)
        yield chunk


def _read_file(path: Path, size: int) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        yield from _read(fh, size)


def _size_hint(stream: BinaryIO) -> int:
    """A file's size, so that hashing a small file does not allocate a large buffer."""
    try:
        return max(4096, os.fstat(stream.fileno()).st_size)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return CHUNK_SIZE
