"""The body of every error answer, and the ``responses=`` entries that document it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["AUTH_ERRORS", "PROJECT_ERRORS", "ErrorBody", "errors"]


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


AUTH_ERRORS = errors(
    {
        401: "No token, or a token this server does not know (when it requires tokens).",
        403: "The token's role or project scope does not allow this.",
        422: "A parameter or the body is malformed; the message says which and why.",
    }
)
"""Every route that takes a token can answer these; routers pass them as ``responses=``."""

PROJECT_ERRORS = {
    **AUTH_ERRORS,
    **errors({404: "No such project, or no such record in it; the message names it."}),
}
"""What every route under ``/projects/{project}`` can answer (an unknown project is a 404)."""
