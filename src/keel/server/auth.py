"""Who is calling: bearer tokens checked against the store, roles enforced per route."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from keel._plural import plural
from keel.errors import PermissionDenied, Unauthenticated
from keel.store import check_project_name

from .tokens import TokenInfo, TokenService

__all__ = ["ANONYMOUS", "require"]

ANONYMOUS = TokenInfo(id="anonymous", name="anonymous", role="admin", created_at=0)
"""The caller when the server runs without authentication (loopback only by default)."""


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from 'keel token create', sent as 'Authorization: Bearer <token>'.",
)
"""Declares the bearer scheme in the OpenAPI document (Swagger's Authorize button, generated
clients); the token is checked here, so a missing one gets keel's own 401 message."""


async def _caller(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER),  # noqa: B008
) -> TokenInfo:
    # A coroutine, as is ``check`` below: FastAPI runs a plain function dependency in a
    # worker thread, a hop per dependency per request; the store is read in one only when
    # the token is not in the service's cache.
    if not request.app.state.auth:
        return ANONYMOUS
    secret = credentials.credentials.strip() if credentials is not None else ""
    if not secret:
        raise Unauthenticated(
            "This server requires a token: send 'Authorization: Bearer <token>' "
            "(set KEEL_TOKEN for the SDK and CLI; create one with 'keel token create')."
        )
    tokens: TokenService = request.app.state.tokens
    caller = tokens.remembered(secret) or await run_in_threadpool(tokens.authenticate, secret)
    request.state.actor = caller.name  # for the request log line
    return caller


def require(role: str) -> Callable[..., TokenInfo]:
    """A dependency that admits callers whose role includes ``role``, and, on a route under
    ``/projects/{project}``, whose token is not scoped to other projects."""

    async def check(
        request: Request,
        caller: TokenInfo = Depends(_caller),  # noqa: B008
    ) -> TokenInfo:
        if not caller.allows(role):
            raise PermissionDenied(
                f"Token {caller.name!r} has role {caller.role!r}; this needs {role!r}. "
                f"Ask an admin for a {role} token."
            )
        project = request.path_params.get("project")
        if project is not None:
            check_project_name(project)
            if not caller.allows_project(project):
                raise PermissionDenied(
                    f"Token {caller.name!r} is limited to the "
                    f"{plural(caller.projects, 'project')} "
                    f"{', '.join(caller.projects)}; this request is for project "
                    f"{project!r}. Use a token created with --project {project}."
                )
        return caller

    return check
