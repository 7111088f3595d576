"""Raw bodies: the OpenAPI entries of routes that take or answer bytes, not JSON.

Such routes read ``request.stream()`` themselves (so FastAPI sees no body parameter) or
answer a ``StreamingResponse``; these entries document what travels instead.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BINARY_ANSWER", "CONTENT_DIGEST", "binary_answer", "raw_body"]

OCTETS = "application/octet-stream"
BINARY = {"type": "string", "format": "binary"}


def raw_body(description: str, *, media_type: str = OCTETS, headers: bool = True) -> dict:
    """``openapi_extra=`` for a route whose body is raw bytes (an upload).

    Args:
        description: what the bytes are.
        media_type: the body's content type.
        headers: also document the optional ``Content-Digest`` header the route checks.
    """
    extra: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {media_type: {"schema": dict(BINARY)}},
        }
    }
    if headers:
        extra["parameters"] = [dict(CONTENT_DIGEST)]
    return extra


def binary_answer(description: str, media_type: str = OCTETS) -> dict[int, dict[str, Any]]:
    """``responses=`` entry for a 200 whose body is bytes (or text) of ``media_type``."""
    schema = {"type": "string"} if media_type.startswith("text/") else dict(BINARY)
    return {200: {"description": description, "content": {media_type: {"schema": schema}}}}


BINARY_ANSWER = binary_answer("The bytes, verified against their digest before the first is sent.")

CONTENT_DIGEST = {
    "name": "Content-Digest",
    "in": "header",
    "required": False,
    "description": "sha-256=:<base64>: (RFC 9530): the server refuses a body that does not "
    "match it, storing nothing.",
    "schema": {"type": "string"},
    "example": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:",
}
