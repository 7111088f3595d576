"""Objects in the server's content-addressed store, as the object routes answer them."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["DeletedObject", "StoredObject"]


class StoredObject(BaseModel):
    """An object the server now holds."""

    digest: str = Field(description="blake3 of its bytes (64 hex characters).")
    size: int = Field(description="Bytes.")


class DeletedObject(BaseModel):
    """Whether a delete removed anything."""

    deleted: bool = Field(description="False when the object was not there.")
