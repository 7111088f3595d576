"""Prediction log parts and logged requests, as the prediction routes answer them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Erased", "Feedback", "HashKey", "LoggedRequest", "PartCreated", "PredictionPart"]


class HashKey(BaseModel):
    """The project's key for hashed log columns."""

    key: str = Field(description="Hex-encoded bytes.")


class PartCreated(BaseModel):
    """The id of a recorded part."""

    id: str


class PredictionPart(BaseModel):
    """One Parquet part of a deployment's prediction or feedback log."""

    id: str
    deployment: str = Field(examples=["credit-scoring"])
    kind: str = Field(examples=["predictions", "feedback"])
    digest: str = Field(description="The Parquet object: fetch it from /api/v1/objects.")
    rows: int
    first_at: int = Field(description="Earliest row (epoch ms).")
    last_at: int = Field(description="Latest row (epoch ms).")
    created_at: int = Field(description="Milliseconds since the epoch.")


class Feedback(BaseModel):
    """A ground-truth label logged for a request."""

    label: Any
    at_ms: int


class LoggedRequest(BaseModel):
    """One served request as logged: its inputs, predictions and the feedback on it."""

    request_id: str
    at_ms: int = Field(description="When it was served (epoch ms).")
    deployment: str
    model_version: str = Field(examples=["credit:4"])
    route: str | None
    key: str | None = Field(description="The entity key, when one was logged.")
    latency_ms: float | None
    inputs: list[Any] = Field(description="Each row's inputs, as served.")
    predictions: list[Any]
    probabilities: list[Any] | None = Field(None, description="When the model gives them.")
    feedback: list[Feedback]


class Erased(BaseModel):
    """How many logged rows an erasure removed."""

    rows_removed: int
