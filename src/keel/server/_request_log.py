"""One INFO line per request: method, path, status, duration, who asked, and a request id.

The id is the caller's ``X-Request-ID`` when it is a plain token (letters, digits, ``.``,
``_``, ``-``; at most 64), else a new one; either way it is sent back in the response's
``X-Request-ID`` so a client's report can be matched with the server's log line. The
caller is the token owner the authentication dependency put in the request state.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestLog"]

log = logging.getLogger("keel.server.requests")

_PLAIN_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


class RequestLog:
    """ASGI middleware logging each HTTP request on ``keel.server.requests``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if log.isEnabledFor(logging.INFO):
                _log(scope, status, request_id, started)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _PLAIN_ID.match(value):
            return value.decode()
    return uuid.uuid4().hex[:16]


def _log(scope: Scope, status: int, request_id: str, started: float) -> None:
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    actor = (scope.get("state") or {}).get("actor")
    client = scope.get("client")
    level = logging.WARNING if status >= 500 else logging.INFO
    log.log(
        level,
        "%s %s %d %.1f ms%s",
        scope["method"],
        scope["path"],
        status,
        duration_ms,
        f" ({actor})" if actor else "",
        extra={
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": duration_ms,
            "actor": actor,
            "request_id": request_id,
            "client": client[0] if client else None,
        },
    )
    if log.isEnabledFor(logging.DEBUG) and scope.get("query_string"):
        log.debug("request %s query: %s", request_id, scope["query_string"].decode("latin-1"))
