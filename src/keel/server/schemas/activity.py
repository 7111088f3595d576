"""A project's recent activity, and who the caller is, as the activity routes answer them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["ActivityEvent", "Caller"]


class ActivityEvent(BaseModel):
    """One audit event: who did what to which object, and when."""

    at: int = Field(description="Milliseconds since the epoch.")
    actor: str = Field(examples=["alice"])
    action: str = Field(examples=["register", "delete", "approve"])
    object_kind: str = Field(examples=["model", "dataset", "run", "deployment"])
    object_id: str
    details: dict[str, Any] | None


class Caller(BaseModel):
    """The calling token: what the dashboard reads to show only what its role may do."""

    name: str = Field(examples=["alice"])
    role: str = Field(examples=["reader", "writer", "approver", "admin"])
    projects: list[str] = Field(description="The projects it may use; empty: every project.")
    auth: bool = Field(description="Whether this server checks tokens.")
