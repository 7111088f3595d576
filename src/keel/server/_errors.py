"""Errors at the server edge: the exception class decides the status, never a 500 for a
client's mistake."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from keel.errors import KeelError

from ._json import JSONResponse

__all__ = ["install_error_handlers"]

log = logging.getLogger("keel.server")


def _body(name: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": name, "message": message, "status": status}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KeelError)
    async def keel_error(request: Request, exc: KeelError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return _body(type(exc).__name__, exc.message, exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:10]:
            where = ".".join(str(part) for part in err.get("loc", ()))
            problems.append(f"{where}: {err.get('msg')}")
        message = "Invalid request: " + "; ".join(problems) + ". See /docs for the schema."
        return _body("InvalidInput", message, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        name = {404: "NotFound", 405: "InvalidInput", 401: "Unauthenticated"}.get(
            exc.status_code, "KeelError"
        )
        return _body(name, str(exc.detail), exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("%s %s crashed", request.method, request.url.path)
        return _body("KeelError", f"Internal error: {type(exc).__name__}. See the server log.", 500)
