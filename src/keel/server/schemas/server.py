"""What the server's own routes answer."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["Health"]


class Health(BaseModel):
    """The server answers and can read its store."""

    status: str = Field(examples=["ok"])
    version: str = Field(description="keel's version on the server.")
