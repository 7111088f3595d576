"""Runs, their artifacts and experiments, as the tracking routes answer them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["Artifact", "Experiment", "MetricHistoryPoint", "MetricValue", "Run", "RunCount"]

MetricValue = float | str
"""A number, or "NaN", "Infinity" or "-Infinity" (JSON has no literal for them)."""


class Artifact(BaseModel):
    """A file stored with a run."""

    name: str = Field(examples=["model/model.skops"])
    kind: str = Field(examples=["file", "model"])
    digest: str = Field(description="blake3 of the bytes.")
    size: int = Field(description="Bytes.")
    created_at: int = Field(description="Milliseconds since the epoch.")


class Run(BaseModel):
    """Everything recorded about a run: params, tags, the latest value of each metric,
    artifacts, and the code and environment it ran with."""

    id: str
    experiment: str = Field(examples=["credit"])
    experiment_id: str
    name: str
    status: str = Field(examples=["RUNNING", "FINISHED", "FAILED", "KILLED"])
    created_at: int = Field(description="Milliseconds since the epoch.")
    started_at: int | None
    ended_at: int | None
    parent_id: str | None
    error: str | None = Field(description="Why a FAILED run failed.")
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, MetricValue] = Field(
        description='Latest value of each metric; "NaN", "Infinity" or "-Infinity" as strings.'
    )
    artifacts: list[Artifact]
    code: dict[str, Any] | None = Field(description="Commit, branch, dirty files, entry point.")
    environment: dict[str, Any] | None = Field(description="Python, platform and packages.")
    deleted_at: int | None = Field(
        description="When the run (or its experiment) was deleted; null while it is live."
    )


class Experiment(BaseModel):
    """An experiment and how many runs it holds."""

    id: str
    name: str = Field(examples=["credit"])
    created_at: int = Field(description="Milliseconds since the epoch.")
    run_count: int
    deleted_at: int | None = Field(description="When it was deleted; null while it is live.")


MetricHistoryPoint = tuple[str, MetricValue, int, int]
"""[key, value, step, timestamp_ms]: one point of a metric's history."""


class RunCount(BaseModel):
    """How many runs a search matches (its order, size and offset aside)."""

    total: int
