"""Pipelines, their runs, step runs and logs, and the approvals runs wait for, as the
pipeline and approval routes answer them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "Pipeline",
    "PipelineApproval",
    "PipelineDefinition",
    "PipelineRun",
    "PipelineRunDetail",
    "QueuedRun",
    "StepLog",
    "StepRun",
]


class Pipeline(BaseModel):
    """A pipeline as listed: its steps, params and triggers, and its last run."""

    name: str = Field(examples=["retrain"])
    id: str
    entrypoint: str | None = Field(
        description="module:function the agent imports.", examples=["credit.flows:retrain"]
    )
    steps: list[str] = Field(description="Step names.", examples=[["gather", "fit", "check"]])
    params: dict[str, Any] = Field(description="Declared params: name -> type and default.")
    triggers: list[Any] = Field(description="What queues a run: schedules, datasets, files.")
    created_at: int = Field(description="Milliseconds since the epoch.")
    last_run: str | None = Field(description="The newest run's id; null before the first.")
    last_status: str | None = Field(examples=["succeeded", "failed"])
    last_run_at: int | None = Field(description="When the newest run was made (epoch ms).")


class PipelineDefinition(BaseModel):
    """A pipeline as recorded: its spec (what ``Pipeline.spec()`` gives)."""

    id: str
    name: str = Field(examples=["retrain"])
    spec: dict[str, Any] | None = Field(
        description="entrypoint, steps (name, inputs, outputs, ...), params, triggers."
    )
    created_at: int = Field(description="Milliseconds since the epoch.")


class PipelineRun(BaseModel):
    """One run of a pipeline: why it ran, with which params, and how it went."""

    id: str
    pipeline: str = Field(examples=["retrain"])
    status: str = Field(
        examples=["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
    )
    trigger: dict[str, Any] = Field(
        description="Why it runs: {'kind': 'manual' | 'schedule' | 'dataset' | 'files' | "
        "'alert', ...}."
    )
    params: dict[str, Any] | None = Field(description="The typed params, defaults filled in.")
    options: dict[str, Any] | None = Field(description="executor, cache, max_workers.")
    error: str | None = Field(description="Why a failed run failed.")
    created_at: int = Field(description="Milliseconds since the epoch.")
    started_at: int | None
    ended_at: int | None


class StepRun(BaseModel):
    """One attempt at a step of a run: its inputs, outputs, cache use and error."""

    id: str
    step: str = Field(examples=["fit"])
    status: str = Field(examples=["running", "succeeded", "failed", "waiting"])
    attempt: int
    cache_key: str | None
    cached_from: str | None = Field(description="The step run whose outputs a cache hit reused.")
    code_hash: str | None
    params: dict[str, Any] | None = Field(description="The constant arguments it was called with.")
    inputs: dict[str, Any] | None = Field(description="Per argument: the upstream ref and digest.")
    outputs: dict[str, Any] | None = Field(description="Per output: kind, ref and digest.")
    error: str | None = Field(description="The failing attempt's traceback.")
    log_digest: str | None = Field(description="The captured output, an object's digest.")
    created_at: int = Field(description="Milliseconds since the epoch.")
    started_at: int | None
    ended_at: int | None
    run_id: str | None = Field(
        description="The tracking run the step started (keel.start_run in it), if any."
    )


class PipelineRunDetail(PipelineRun):
    """A run with its step runs (each step's latest attempt last)."""

    steps: list[StepRun]


class StepLog(BaseModel):
    """A step run's captured output: stdout, stderr, logging and any traceback."""

    step: str = Field(examples=["fit"])
    attempt: int
    status: str
    log: str


class QueuedRun(BaseModel):
    """The id of a run queued for the agent."""

    id: str


class PipelineApproval(BaseModel):
    """A decision a pipeline step asked for (``keel.approval``), and who made it.

    ``status`` is pending, approved, rejected or expired (a pending one past its timeout).
    """

    id: str
    title: str = Field(examples=["promote credit:7"])
    status: str = Field(examples=["pending", "approved", "rejected", "expired"])
    pipeline: str = Field(examples=["retrain"])
    pipeline_run_id: str
    step: str = Field(examples=["promote"])
    requested_at: int = Field(description="Milliseconds since the epoch.")
    timeout_at: int | None = Field(description="When it expires undecided; null: never.")
    decided_by: str | None = Field(description="The approver's token name.")
    decided_at: int | None
    comment: str | None
