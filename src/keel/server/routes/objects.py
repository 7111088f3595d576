"""/api/v1/objects: content-addressed objects in and out of the server's object store.

Objects are shared by every project (the same bytes are stored once), so these routes
take a role, not a project: a digest is unguessable, and knowing one is what lets a
client fetch it. Listing and deleting objects need an admin token limited to no project.
"""

from __future__ import annotations

import tempfile

from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from keel.errors import (
    IntegrityError,
    InvalidInput,
    ObjectNotFound,
    PayloadTooLarge,
    PermissionDenied,
)
from keel.store.objects import MISSING_BATCH, ObjectStore, check_digest
from keel.store.objects._hashing import DIGEST_RE, new_hasher

from .._body_limit import streams_body
from .._json import JSONResponse
from ..auth import require
from ..schemas import AUTH_ERRORS, BINARY_ANSWER, binary_answer, errors, raw_body
from ..schemas.objects import DeletedObject, StoredObject
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/objects", tags=["objects"], responses=AUTH_ERRORS)
NOT_HERE = errors({404: "The object is not on this server."})
READ, WRITE = Depends(require("reader")), Depends(require("writer"))
ADMIN = Depends(require("admin"))
SPOOL = 1024 * 1024
"""Upload bytes kept in memory per request before they go to a temporary file."""
READ_CHUNK = 1024 * 1024


def _objects(request: Request) -> ObjectStore:
    return request.app.state.store.objects


@router.post("/missing", response_model=list[str])
def missing(
    request: Request,
    digests: list[str] = Body(..., max_length=MISSING_BATCH),  # noqa: B008
    _: TokenInfo = WRITE,
) -> JSONResponse:
    """The digests of the list that this server does not store (send only those).

    At most 10,000 digests per request, in the order given, without duplicates.
    """
    objects = _objects(request)
    for value in digests:
        if not DIGEST_RE.match(value):
            raise InvalidInput(
                f"{value[:80]!r} is not an object digest. Expected 64 lowercase hex characters "
                "(a blake3 digest); fix or drop it and send the list again."
            )
    wanted = list(dict.fromkeys(digests))
    return JSONResponse([d for d in wanted if not objects.exists(d)])


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

    The body is hashed as it arrives; it becomes visible only if its blake3 digest is
    ``digest`` and it is as long as its ``Content-Length``. Otherwise nothing is stored.
    """
    check_digest(digest)
    limit = request.app.state.max_upload
    declared = _content_length(request)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(_too_large(digest, declared, limit))
    hasher = new_hasher(declared or 0)
    with tempfile.SpooledTemporaryFile(SPOOL) as body:
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(_too_large(digest, size, limit))
                hasher.update(chunk)
                body.write(chunk)
        except ClientDisconnect as exc:
            raise InvalidInput(_incomplete(digest, size, declared)) from exc
        if declared is not None and size != declared:
            raise InvalidInput(_incomplete(digest, size, declared))
        actual = hasher.hexdigest()
        if actual != digest:
            raise InvalidInput(
                f"Object {digest}: the {size} bytes received hash to {actual}, so they are not "
                "this object (damaged in transit, or sent under the wrong digest). Nothing was "
                "stored; send the object's own bytes under their blake3 digest."
            )
        body.seek(0)
        stored = await run_in_threadpool(_objects(request).put, body)
    if stored != digest:  # the store read back other bytes than were checked: a server bug
        raise IntegrityError(f"Object {digest} was stored as {stored}; report this bug.")
    return JSONResponse({"digest": digest, "size": size}, status_code=201)


@router.get(
    "/{digest}",
    response_class=StreamingResponse,
    dependencies=[READ],
    responses={**BINARY_ANSWER, **NOT_HERE},
)
def get_object(digest: str, request: Request) -> StreamingResponse:
    """The object's bytes, verified against ``digest`` before the first one is sent."""
    objects = _objects(request)
    fh = _open(objects, digest)
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
            f"Token {caller.name!r} is limited to the project(s) {', '.join(caller.projects)}; "
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
