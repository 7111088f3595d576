"""Request bodies above the configured size are refused (413) before they are read."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._json import JSONResponse

__all__ = ["BodyLimit", "streaming_routes", "streams_body"]

F = TypeVar("F", bound=Callable[..., object])


def streams_body(endpoint: F) -> F:
    """Mark a route that streams its body with a limit of its own (artifact uploads)."""
    endpoint.streams_body = True  # type: ignore[attr-defined]
    return endpoint


def streaming_routes(*routers: APIRouter, prefix: str = "") -> Callable[[Scope], bool]:
    """Whether a request goes to one of the routers' routes marked :func:`streams_body`."""
    marked = [
        (compile_path(prefix + route.path)[0], route.methods)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and getattr(route.endpoint, "streams_body", False)
    ]

    def streams(scope: Scope) -> bool:
        path, root = scope["path"], scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        return any(scope["method"] in methods and regex.match(path) for regex, methods in marked)

    return streams


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 and not kept.

    A declared ``Content-Length`` over the limit is refused before any of the body is
    read; a body without one (chunked) is counted as it arrives and refused as soon as it
    goes over. The routes ``streams(scope)`` picks get their body untouched.

    Args:
        app: the application.
        limit: largest body in bytes.
        streams: whether a request goes to a route that streams its body itself.
    """

    def __init__(self, app: ASGIApp, *, limit: int, streams: Callable[[Scope], bool]) -> None:
        self.app, self.limit, self.streams = app, limit, streams

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.streams(scope):
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send, f"declares {int(declared)} bytes")
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before sending its body: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                chunks.clear()
                await self._refuse(scope, receive, send, f"went past {self.limit} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body: bytes | None = b"".join(chunks)
        chunks.clear()

        async def replay() -> Message:
            nonlocal body
            if body is None:
                return await receive()  # after the body: disconnect notices
            message: Message = {"type": "http.request", "body": body, "more_body": False}
            body = None
            return message

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, what: str) -> None:
        mib = self.limit / 2**20
        message = (
            f"The request body {what}; this server reads at most {self.limit} bytes "
            f"({mib:g} MiB) for {scope['method']} {scope['path'][:200]}. Send less per request "
            "(the SDK splits metric batches), or raise KEEL_MAX_REQUEST_MB on the server."
        )
        response = JSONResponse(
            {"error": "PayloadTooLarge", "message": message, "status": 413},
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)
