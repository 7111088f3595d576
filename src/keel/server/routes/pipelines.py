"""/api/v1/projects/{project}/pipelines: pipelines and their runs over HTTP.

Reading needs a reader token; recording a pipeline, submitting, resuming and cancelling a
run need a writer. The server never runs a pipeline in a request: a submitted or resumed run
is queued for the server's agent. Runs live under ``/pipelines/-/runs`` (``-`` is never a
pipeline's name).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from keel.errors import InvalidInput
from keel.pipelines import PipelineService

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors
from ..schemas.pipelines import (
    Pipeline,
    PipelineDefinition,
    PipelineRun,
    PipelineRunDetail,
    QueuedRun,
    StepLog,
)
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(
    prefix="/projects/{project}/pipelines", tags=["pipelines"], responses=PROJECT_ERRORS
)
READ, WRITE = Depends(require("reader")), Depends(require("writer"))
NAME = Path(max_length=200, description="The pipeline's name.", examples=["retrain"])
RUN = Path(max_length=64, description="A pipeline run's id.")
NOT_FOUND = errors({404: "No such project, pipeline or run."})


def _pipelines(request: Request, project: str) -> PipelineService:
    return PipelineService(request.app.state.store, project=project)


class PipelineSpecBody(BaseModel):
    spec: dict[str, Any] = Field(description="What Pipeline.spec() gives.")


class PipelineRunCreate(BaseModel):
    params: dict[str, Any] = Field(default_factory=dict, description="The run's params.")
    trigger: dict[str, Any] | None = Field(None, description="Why it runs: {'kind': ...}.")
    options: dict[str, Any] | None = Field(None, description="executor, cache.")


@router.get("", response_model=list[Pipeline])
def list_pipelines(project: str, request: Request, caller: TokenInfo = READ) -> JSONResponse:
    """Every pipeline: steps, params, triggers, its last run."""
    return JSONResponse(_pipelines(request, project).list())


@router.get("/-/runs", response_model=list[PipelineRun], responses=NOT_FOUND)
def list_runs(
    project: str,
    request: Request,
    pipeline: str | None = Query(None, max_length=200, description="One pipeline's only."),
    status: str | None = Query(None, max_length=20, description="Runs in this status only."),
    limit: int = Query(50, ge=1, le=1000, description="At most this many, newest first."),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """Runs newest first."""
    runs = _pipelines(request, project).runs(pipeline, status=status, limit=limit)
    return JSONResponse(runs)


@router.get("/-/runs/{run_id}", response_model=PipelineRunDetail, responses=NOT_FOUND)
def get_run(
    project: str, request: Request, run_id: str = RUN, caller: TokenInfo = READ
) -> JSONResponse:
    """One run with its step runs."""
    return JSONResponse(_pipelines(request, project).run(run_id))


@router.get("/-/runs/{run_id}/logs", response_model=list[StepLog], responses=NOT_FOUND)
def get_logs(
    project: str,
    request: Request,
    run_id: str = RUN,
    step: str | None = Query(None, max_length=200, description="One step's only."),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """Each step run's captured output and traceback."""
    return JSONResponse(_pipelines(request, project).logs(run_id, step))


@router.post("/-/runs/{run_id}/resume", response_model=PipelineRunDetail, responses=NOT_FOUND)
def resume_run(
    project: str, request: Request, run_id: str = RUN, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Queue a failed, waiting or cancelled run for the agent to resume."""
    return JSONResponse(_pipelines(request, project).requeue(run_id))


@router.post("/-/runs/{run_id}/cancel", response_model=PipelineRunDetail, responses=NOT_FOUND)
def cancel_run(
    project: str, request: Request, run_id: str = RUN, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Cancel a queued, waiting or running run."""
    return JSONResponse(_pipelines(request, project).cancel(run_id))


@router.get("/{name}", response_model=PipelineDefinition, responses=NOT_FOUND)
def get_pipeline(
    project: str, request: Request, name: str = NAME, caller: TokenInfo = READ
) -> JSONResponse:
    """One pipeline with its spec."""
    return JSONResponse(_pipelines(request, project).get(name))


@router.put("/{name}", response_model=PipelineDefinition)
def record_pipeline(
    project: str,
    body: PipelineSpecBody,
    request: Request,
    name: str = NAME,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Record a pipeline's spec (as running it from an SDK does). Its entrypoint must be a
    module:function the server's agent can import, never a file path: a token cannot make
    the server run a file."""
    entry = str(body.spec.get("entrypoint", ""))
    if entry.rpartition(":")[0].endswith(".py") or "/" in entry or "\\" in entry:
        raise InvalidInput(
            f"Pipeline {name!r}: through a server the entrypoint must be module:function "
            f"(importable where the agent runs), not a file. Got {entry[:200]!r}."
        )
    return JSONResponse(_pipelines(request, project).record(name, body.spec))


@router.post("/{name}/runs", status_code=201, response_model=QueuedRun, responses=NOT_FOUND)
def submit_run(
    project: str,
    body: PipelineRunCreate,
    request: Request,
    name: str = NAME,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Queue a run for the server's agent; its id."""
    run_id = _pipelines(request, project).submit(
        name, body.params, trigger=body.trigger, options=body.options
    )
    return JSONResponse({"id": run_id}, status_code=201)
