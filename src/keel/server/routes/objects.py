"""/api/v1/objects: content-addressed objects in and out of the server's object store.

Objects are shared by every project (the same bytes are stored once), so these routes
take a role, not a project: a digest is unguessable, and knowing one is what lets a
client fetch it. Listing and deleting objects need an admin token limited to no project.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from keel._plural import plural
from keel.errors import (
    IntegrityError,
    InvalidInput,
    ObjectNotFound,
    PayloadTooLarge,
    PermissionDenied,
)
from keel.store.objects import MISSING_BATCH, LocalObjectStore, ObjectStore, check_digest
from keel.store.objects._hashing import DIGEST_RE, hash_bytes
from keel.store.objects._http_batch import (
    BATCH_BYTES_HEADER,
    BATCH_OBJECTS,
    header,
    parse_batch,
)

from .._batch_upload import batch_feed, receive_batch
from .._body_limit import streams_body
from .._json import JSONResponse
from .._upload import CheckedBody
from ..auth import require
from ..schemas import AUTH_ERRORS, binary_answer, errors, raw_body
from ..schemas.objects import DeletedObject, StoredBatch, StoredObject
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/objects", tags=["objects"], responses=AUTH_ERRORS)
NOT_HERE = errors({404: "The object is not on this server."})
READ, WRITE = Depends(require("reader")), Depends(require("writer"))
ADMIN = Depends(require("admin"))
STORED_BYTES = binary_answer(
    "The object's bytes as stored (ETag: its digest); check them against the digest as "
    "they arrive, as keel's clients do."
)
READ_CHUNK = 1024 * 1024
BATCHES_IN_FLIGHT = 8
"""Batch bodies held in memory at once (each at most KEEL_MAX_REQUEST_MB); more wait."""


def _objects(request: Request) -> ObjectStore:
    return request.app.state.store.objects


@router.post("/missing", response_model=list[str])
def missing(
    request: Request,
    digests: list[str] = Body(..., max_length=MISSING_BATCH),  # noqa: B008
    _: TokenInfo = WRITE,
) -> JSONResponse:
    """The digests of the list that this server does not store (send only those).

    At most 10,000 digests per request, in the order given, without duplicates. The
    others count as written again (their time is refreshed), so that 'keel gc --objects'
    keeps them while the client goes on to reference them.
    """
    objects = _objects(request)
    for value in digests:
        if not DIGEST_RE.match(value):
            raise InvalidInput(
                f"{value[:80]!r} is not an object digest. Expected 64 lowercase hex characters "
                "(a blake3 digest); fix or drop it and send the list again."
            )
    # how large a batch this server takes, so that a client sends as large ones as it may
    headers = {BATCH_BYTES_HEADER: str(_batch_limit(request))}
    return JSONResponse(objects.freshen(digests), headers=headers)


@router.post(
    "/batch",
    status_code=201,
    response_model=StoredBatch,
    dependencies=[WRITE],
    responses=errors({413: "The body is larger than KEEL_MAX_REQUEST_MB."}),
    openapi_extra=raw_body(
        "Several objects, each as an ASCII line '<digest> <size>' and a newline, then its "
        f"<size> bytes; at most {BATCH_OBJECTS} objects, and in all at most the bytes the "
        f"{BATCH_BYTES_HEADER} header of POST /objects/missing gives (KEEL_MAX_UPLOAD_MB "
        "with local objects, else KEEL_MAX_REQUEST_MB).",
        headers=False,
    ),
)
@streams_body  # read here, after a place among the batches in flight is free
async def put_batch(request: Request) -> JSONResponse:
    """Store several small objects sent in one body: all of them, or none.

    Every object is checked against its digest before any is stored; one that does not
    match, a malformed or cut-off body stores nothing. A push of many small files sends
    them this way, so each costs a few bytes of framing rather than a request. With local
    objects the body is hashed and written as it arrives (up to KEEL_MAX_UPLOAD_MB) and
    the whole batch is flushed to disk once; otherwise it is held whole (up to
    KEEL_MAX_REQUEST_MB).
    """
    objects = _objects(request)
    limit = _batch_limit(request)
    declared = _content_length(request)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(_batch_too_large(declared, limit))
    if isinstance(objects, LocalObjectStore):
        # read, hashed and written piece by piece in one pass: memory does not grow with
        # the body, so a batch may be as large as an upload
        feed = batch_feed(
            request.stream(),
            declared=declared,
            limit=limit,
            too_large=lambda size: _batch_too_large(size, limit),
        )
        async with _batch_turns(request):
            stored = await run_in_threadpool(receive_batch, objects, feed)
        answer = [{"digest": d, "size": size} for d, size in stored]
        return JSONResponse({"stored": answer}, status_code=201)
    # each batch is held whole until it is checked: at most BATCHES_IN_FLIGHT at once, so
    # many clients pushing together wait for a turn instead of growing the server
    async with _batch_turns(request):
        body = await _receive(request, limit, declared)
        items = parse_batch(body)
        # hashing and storing run off the event loop, which keeps serving other requests
        await run_in_threadpool(_store_batch, _objects(request), items)
    answer = [{"digest": d, "size": len(data)} for d, data in items.items()]
    return JSONResponse({"stored": answer}, status_code=201)


def _batch_limit(request: Request) -> int:
    """Most bytes of one batch body: an upload's limit where the store takes the body as
    it arrives (local objects), else the request limit (the body is held whole)."""
    state = request.app.state
    if isinstance(_objects(request), LocalObjectStore):
        return max(state.max_request, state.max_upload)
    return state.max_request


def _batch_turns(request: Request) -> anyio.Semaphore:
    """The app's places for batch bodies in memory (made on first use, in its event loop)."""
    state = request.app.state
    turns = getattr(state, "batch_turns", None)
    if turns is None:
        turns = state.batch_turns = anyio.Semaphore(BATCHES_IN_FLIGHT)
    return turns


async def _receive(request: Request, limit: int, declared: int | None) -> bytearray:
    """The whole body, in one buffer, refused (413) as soon as it goes past ``limit``."""
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(_batch_too_large(len(body), limit))
    except ClientDisconnect as exc:
        raise InvalidInput(
            "The batch was cut off before its end. Nothing was stored; send it again."
        ) from exc
    if declared is not None and len(body) != declared:
        raise InvalidInput(
            f"The batch was cut off: {len(body)} bytes of the {declared} announced by "
            "Content-Length arrived. Nothing was stored; send it again."
        )
    return body


def _batch_too_large(size: int, limit: int) -> str:
    return (
        f"The batch body ({size} bytes or more) is larger than this server's limit of "
        f"{limit // 2**20} MiB per batch. Send fewer objects per batch, or raise "
        "KEEL_MAX_UPLOAD_MB (local objects) or KEEL_MAX_REQUEST_MB on the server."
    )


def _store_batch(objects: ObjectStore, items: dict[str, memoryview]) -> None:
    """Check every object of a batch against its digest, then store them all."""
    for digest, data in items.items():
        actual = hash_bytes(data)
        if actual != digest:
            raise InvalidInput(
                f"Object {digest} of the batch: its {len(data)} bytes hash to {actual}, so they "
                "are not this object. Nothing of the batch was stored; send each object's own "
                "bytes under its blake3 digest."
            )
    if isinstance(objects, LocalObjectStore):  # just checked: not hashed again
        stored = objects.put_many(list(items.values()), digests=list(items))
    else:
        stored = objects.put_many(list(items.values()))
    if stored != list(items):  # the store read back other bytes than were checked: a bug
        raise IntegrityError(
            "The batch was stored under other digests than checked; report this bug."
        )


@router.post(
    "/fetch",
    response_class=StreamingResponse,
    dependencies=[READ],
    responses={
        **binary_answer(
            "Each object as a line '<digest> <size>' and a newline, then its bytes as stored, "
            "in the order asked; check each against its digest as it arrives."
        ),
        **NOT_HERE,
    },
)
def fetch_batch(
    request: Request,
    digests: list[str] = Body(..., min_length=1, max_length=BATCH_OBJECTS),  # noqa: B008
) -> StreamingResponse:
    """Several objects in one answer (at most 1,000 digests a request; a repeat is sent
    once): a pull of many small files asks for them this way instead of one GET each.

    Every object is looked up before the first byte is sent, so an absent one is a 404
    naming it, not a cut-off answer.
    """
    objects = _objects(request)
    wanted = list(dict.fromkeys(digests))
    sizes = []
    for digest in wanted:
        if not DIGEST_RE.match(digest):
            raise InvalidInput(
                f"{digest[:80]!r} is not an object digest. Expected 64 lowercase hex "
                "characters (a blake3 digest); fix or drop it and ask again."
            )
        try:
            sizes.append(objects.size(digest))
        except ObjectNotFound:
            raise _not_here(digest) from None

    return StreamingResponse(_frames(objects, wanted, sizes), media_type="application/octet-stream")


def _frames(objects: ObjectStore, digests: list[str], sizes: list[int]) -> Iterator[bytes]:
    """Each object's header line and bytes, gathered into pieces of about READ_CHUNK:
    the response takes each piece from this generator with a hop to a worker thread, so a
    piece per small object (and one per header) cost more than sending the bytes."""
    pending: list[bytes] = []
    held = 0
    for digest, size in zip(digests, sizes, strict=True):
        pending.append(header(digest, size))
        with _open_stored(objects, digest) as fh:
            left = size
            while left > 0:
                chunk = fh.read(min(READ_CHUNK, left))
                if not chunk:  # shorter than its size a moment ago: end the answer there
                    yield b"".join(pending)
                    return
                left -= len(chunk)
                pending.append(chunk)
                held += len(chunk)
                if held >= READ_CHUNK:
                    yield pending[0] if len(pending) == 1 else b"".join(pending)
                    pending, held = [], 0
    if pending:
        yield b"".join(pending)


@router.put(
    "/{digest}",
    status_code=201,
    response_model=StoredObject,
    dependencies=[WRITE],
    responses=errors({413: "The object is larger than KEEL_MAX_UPLOAD_MB."}),
    openapi_extra=raw_body("The object's bytes (blake3 digest: digest).", headers=False),
)
@streams_body  # bounded by KEEL_MAX_UPLOAD_MB below, not by KEEL_MAX_REQUEST_MB
async def put_object(digest: str, request: Request) -> JSONResponse:
    """Store the raw request body as the object ``digest`` (at most KEEL_MAX_UPLOAD_MB).

    The body goes straight into the store (written once), hashed as it arrives; it becomes
    visible only if its blake3 digest is ``digest`` and it is as long as its
    ``Content-Length``. Otherwise nothing is stored.
    """
    check_digest(digest)
    limit = request.app.state.max_upload
    declared = _content_length(request)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(_too_large(digest, declared, limit))
    # the store reads the body from the connection and writes it once; the body is
    # checked as it arrives and a wrong one fails the store's read, so nothing is stored
    body = CheckedBody(
        request.stream(),
        digest,
        declared=declared,
        limit=limit,
        incomplete=lambda size: _incomplete(digest, size, declared),
        too_large=lambda size: _too_large(digest, size, limit),
    )
    stored = await run_in_threadpool(_put_checked, _objects(request), body)
    if stored != digest:  # the store read other bytes than were checked: a server bug
        raise IntegrityError(f"Object {digest} was stored as {stored}; report this bug.")
    size = body.size
    return JSONResponse({"digest": digest, "size": size}, status_code=201)


def _put_checked(objects: ObjectStore, body: CheckedBody) -> str:
    """Store an upload; a local store takes the digest the body checks as it is read,
    so each byte is hashed once (a body that is not the object fails its last read)."""
    if isinstance(objects, LocalObjectStore):
        return objects.put(body, digest=body.digest)
    return objects.put(body)


@router.get(
    "/{digest}",
    response_class=StreamingResponse,
    dependencies=[READ],
    responses={**STORED_BYTES, **NOT_HERE},
)
def get_object(digest: str, request: Request) -> StreamingResponse:
    """The object's bytes, streamed as stored (``ETag``: its digest).

    The store checked the bytes against ``digest`` when it wrote them; the client checks
    them again as they arrive (every keel client does) and ``keel fsck`` finds bit rot,
    so the server does not read and hash a whole object before sending its first byte.
    """
    objects = _objects(request)
    fh = _open_stored(objects, digest)
    try:
        size = objects.size(digest)
    except BaseException:
        fh.close()
        raise

    def chunks():
        with fh:
            yield from iter(lambda: fh.read(READ_CHUNK), b"")

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{digest}"'},
    )


@router.head(
    "/{digest}",
    response_class=Response,
    dependencies=[READ],
    responses={200: {"description": "Stored; Content-Length is its size."}, **NOT_HERE},
)
def head_object(digest: str, request: Request) -> Response:
    """200 with the object's size as ``Content-Length`` if it is stored, 404 if not."""
    try:
        size = _objects(request).size(check_digest(digest))
    except ObjectNotFound:
        raise _not_here(digest) from None
    return Response(
        headers={"Content-Length": str(size), "ETag": f'"{digest}"'},
        media_type="application/octet-stream",
    )


@router.get(
    "",
    response_class=StreamingResponse,
    responses=binary_answer("Every digest stored, one per line.", "text/plain"),
)
def list_objects(request: Request, caller: TokenInfo = ADMIN) -> StreamingResponse:
    """Every digest stored, one per line (unscoped admin tokens only: this lists every
    project's objects)."""
    _unscoped(caller, "list every object")
    objects = _objects(request)
    return StreamingResponse(
        (f"{digest}\n" for digest in objects.digests()), media_type="text/plain"
    )


@router.delete("/{digest}", response_model=DeletedObject)
def delete_object(digest: str, request: Request, caller: TokenInfo = ADMIN) -> JSONResponse:
    """Remove an object (unscoped admin tokens only: every project may refer to it).
    The caller makes sure no record refers to it."""
    _unscoped(caller, "delete an object")
    return JSONResponse({"deleted": _objects(request).delete(check_digest(digest))})


def _open_stored(objects: ObjectStore, digest: str):
    """The object's file as stored, unhashed, when the store keeps it as a plain file
    (the local store); otherwise the store's own verified open."""
    check_digest(digest)
    if isinstance(objects, LocalObjectStore):
        try:
            return open(objects.path(digest), "rb")
        except OSError:  # absent, being collected, or kept another way: ask the store
            pass
    return _open(objects, digest)


def _open(objects: ObjectStore, digest: str):
    check_digest(digest)
    try:
        return objects.open(digest)
    except ObjectNotFound:
        raise _not_here(digest) from None
    except IntegrityError:
        # the store's message names its location on the server's disk: not the client's business
        raise IntegrityError(
            f"Object {digest} on this server is corrupt: its bytes no longer hash to its "
            "digest. Push the object again to repair it, or ask an admin to run 'keel fsck'."
        ) from None


def _not_here(digest: str) -> ObjectNotFound:
    return ObjectNotFound(
        f"Object {digest} is not on this server. Push it first (client.objects.put), or check "
        "the digest."
    )


def _unscoped(caller: TokenInfo, what: str) -> None:
    if caller.projects:
        raise PermissionDenied(
            f"Token {caller.name!r} is limited to the {plural(caller.projects, 'project')} "
            f"{', '.join(caller.projects)}; "
            f"objects are shared by every project, so to {what} use an admin token created "
            "without --project."
        )


def _content_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else None


def _incomplete(digest: str, size: int, declared: int | None) -> str:
    return (
        f"Object {digest}: received {size} bytes of the {declared} announced by "
        "Content-Length. Nothing was stored; send it again."
    )


def _too_large(digest: str, size: int, limit: int) -> str:
    return (
        f"Object {digest} ({size} bytes or more) is larger than this server's limit of "
        f"{limit // 2**20} MiB. Raise KEEL_MAX_UPLOAD_MB on the server, or split the data "
        "into smaller objects."
    )
