"""JSON responses through orjson (fast; NaN-safe because records encode NaN themselves)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSON

__all__ = ["JSONResponse"]


class JSONResponse(_StarletteJSON):
    """Starlette's JSON response rendered by orjson.

    A subclass of Starlette's (not of its bare ``Response``) so that FastAPI documents a
    route's ``response_model`` as its 2xx schema instead of ``{"type": "string"}``. A route
    that returns one of these directly skips FastAPI's validation and serialisation: the
    model only describes the body.
    """

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
