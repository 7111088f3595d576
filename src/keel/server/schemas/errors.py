"""The body of every error answer, and the ``responses=`` entries that document it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["AUTH_ERRORS", "PROJECT_ERRORS", "ErrorBody", "errors", "page_errors"]


class ErrorBody(BaseModel):
    """What keel answers with every 4xx and 5xx status (see ``keel.errors``)."""

    error: str = Field(
        description="The keel.errors class: NotFound, InvalidInput, PermissionDenied, ...",
        examples=["NotFound"],
    )
    message: str = Field(
        description="What was wrong and what to do next.",
        examples=["No model named 'credt' in project 'default'. Did you mean 'credit'?"],
    )
    status: int = Field(description="The HTTP status, repeated.", examples=[404])


def errors(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for these statuses, each with keel's error body.

    Example:
        >>> sorted(errors({404: "No such model."}))
        [404]
    """
    return {status: {"model": ErrorBody, "description": text} for status, text in described.items()}


_AUTH = {
    401: "No token, or a token this server does not know (when it requires tokens).",
    403: "The token's role or project scope does not allow this.",
    422: "A parameter or the body is malformed; the message says which and why.",
}
_PROJECT = {**_AUTH, 404: "No such project, or no such record in it; the message names it."}

AUTH_ERRORS = errors(_AUTH)
"""Every route that takes a token can answer these; routers pass them as ``responses=``."""

PROJECT_ERRORS = errors(_PROJECT)
"""What every route under ``/projects/{project}`` can answer (an unknown project is a 404)."""


def page_errors(not_found: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for a route under ``/projects/{project}`` that answers a page
    (HTML): its errors are still JSON, so they name their media type (FastAPI would file a
    ``model`` under the route's own, text/html)."""
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    described = {**_PROJECT, 404: not_found}
    return {
        status: {"description": text, "content": {"application/json": {"schema": ref}}}
        for status, text in described.items()
    }
