"""Objects in the server's content-addressed store, as the object routes answer them."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["DeletedObject", "StoredBatch", "StoredObject"]


class StoredObject(BaseModel):
    """An object the server now holds."""

    digest: str = Field(description="blake3 of its bytes (64 hex characters).")
    size: int = Field(description="Bytes.")


class StoredBatch(BaseModel):
    """The objects of a batch upload, every one now held."""

    stored: list[StoredObject] = Field(description="Each object of the batch, once, in order.")


class DeletedObject(BaseModel):
    """Whether a delete removed anything."""

    deleted: bool = Field(description="False when the object was not there.")
