"""What deleting, restoring and garbage collection did, as the deletion routes answer it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "CollectedObjects",
    "Deletion",
    "ExperimentDeletion",
    "GcReport",
    "Purged",
    "RunDeletion",
]


class RunDeletion(BaseModel):
    """A run just deleted or restored."""

    id: str
    name: str
    experiment: str = Field(examples=["credit"])
    deleted_at: int | None = Field(description="When it was deleted; null once restored.")


class ExperimentDeletion(BaseModel):
    """An experiment just deleted or restored, and how many runs went (or came back) with it."""

    id: str
    name: str = Field(examples=["credit"])
    runs: int
    deleted_at: int | None = Field(description="When it was deleted; null once restored.")


class Deletion(BaseModel):
    """What deleting a dataset or model version did."""

    kind: str = Field(examples=["dataset_version", "model_version"])
    ref: str = Field(examples=["credit:v2", "credit:3"])
    id: str
    forced: bool
    broke: list[str] = Field(description="What held it and no longer works (a forced delete).")
    objects: list[str] = Field(
        description="Digests it held: unreferenced now unless another record holds them "
        "('keel gc --objects' reclaims those after the grace period)."
    )


class Purged(BaseModel):
    """A run or experiment deleted past the retention period: purged, or kept and why; or
    a deployment's service health rows past ``health_retention_days``, or its prediction
    log or feedback parts past ``predictions_retention_days``, removed."""

    kind: str = Field(examples=["run", "experiment", "service_health", "predictions", "feedback"])
    id: str
    name: str
    project: str
    kept: str | None = Field(description="Why it stays (a model version names it); null: gone.")
    experiment: str | None = Field(None, description="A run's experiment (runs only).")
    rows: int | None = Field(
        None, description="Rows removed: service health rows, or logged predictions or feedback."
    )
    parts: int | None = Field(None, description="Prediction log or feedback parts removed.")


class CollectedObjects(BaseModel):
    """Unreferenced objects removed (or, on a dry run, that would be)."""

    dry_run: bool
    grace_s: float = Field(description="Objects written more recently were kept.")
    removed: list[dict[str, Any]] = Field(description="digest, bytes, age_s.")
    bytes_freed: int
    kept_recent: int = Field(description="Unreferenced objects within the grace period.")
    referenced: int = Field(description="Objects something refers to (never removed).")
    packs_merged: int = Field(0, description="Small pack files merged into full ones.")


class GcReport(BaseModel):
    """What a garbage collection removed (or, on a dry run, would remove)."""

    dry_run: bool
    steps: dict[str, list[Purged]] = Field(
        description="Per step (purged, expired_health, expired_predictions), what it removed "
        "or kept."
    )
    objects: CollectedObjects | None = Field(None, description="Only when objects were asked for.")
