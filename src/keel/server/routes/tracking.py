"""/api/v1/projects/{project}/runs and /experiments: tracking over HTTP."""

from __future__ import annotations

import tempfile
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from keel.errors import PayloadTooLarge
from keel.tracking import RunQuery, RunStatus, SqlTracking

from .._body_limit import streams_body
from .._json import JSONResponse
from ..auth import require

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}", tags=["tracking"])
READ, WRITE = Depends(require("reader")), Depends(require("writer"))


def _tracking(request: Request, project: str) -> SqlTracking:
    return SqlTracking(request.app.state.store, project=project)


class RunCreate(BaseModel):
    experiment: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=200)
    parent_id: str | None = None
    params: dict[str, str] | None = None
    tags: dict[str, str] | None = None
    code: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None


class StatusUpdate(BaseModel):
    status: Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
    error: str | None = None


class Batch(BaseModel):
    metrics: list[tuple[str, float, int, int]] = Field(
        default_factory=list,
        description='Points as [key, value, step, timestamp_ms]; value may be "NaN", '
        '"Infinity" or "-Infinity".',
    )
    params: dict[str, str] | None = None
    tags: dict[str, str] | None = None


class Input(BaseModel):
    kind: str = Field(min_length=1, max_length=50, examples=["dataset_version"])
    id: str = Field(min_length=1, max_length=200)


class Search(BaseModel):
    experiments: list[str] = Field(default_factory=list)
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    max_results: int = Field(1000, ge=1, description="At most KEEL_MAX_SEARCH_RESULTS.")


@router.post("/runs", status_code=201, dependencies=[WRITE])
def create_run(project: str, body: RunCreate, request: Request) -> JSONResponse:
    """Create a RUNNING run (and its experiment, if new)."""
    record = _tracking(request, project).create_run(
        body.experiment,
        name=body.name,
        parent_id=body.parent_id,
        params=body.params,
        tags=body.tags,
        code=body.code,
        environment=body.environment,
    )
    return JSONResponse(record.to_dict(), status_code=201)


@router.get("/runs/{run_id}", dependencies=[READ])
def get_run(project: str, run_id: str, request: Request) -> JSONResponse:
    """A run with its params, tags, latest metrics and artifacts."""
    return JSONResponse(_tracking(request, project).get_run(run_id).to_dict())


@router.patch("/runs/{run_id}", dependencies=[WRITE])
def set_status(project: str, run_id: str, body: StatusUpdate, request: Request) -> JSONResponse:
    """End a run (FINISHED, FAILED, KILLED) or resume it (RUNNING)."""
    record = _tracking(request, project).set_status(run_id, body.status, error=body.error)
    return JSONResponse(record.to_dict())


@router.post("/runs/{run_id}/batch", status_code=204, dependencies=[WRITE])
def log_batch(project: str, run_id: str, body: Batch, request: Request) -> None:
    """Record metric points, params (immutable) and tags in one request."""
    _tracking(request, project).log_batch(
        run_id, metrics=body.metrics, params=body.params, tags=body.tags
    )


@router.post("/runs/{run_id}/inputs", status_code=204, dependencies=[WRITE])
def log_input(project: str, run_id: str, body: Input, request: Request) -> None:
    """Record that the run consumed a record (a dataset version), for lineage."""
    _tracking(request, project).log_input(run_id, body.kind, body.id)


@router.get("/runs/{run_id}/metrics/{key:path}", dependencies=[READ])
def metric_history(project: str, run_id: str, key: str, request: Request) -> JSONResponse:
    """Every point of one metric: [key, value, step, timestamp_ms], by step."""
    from keel.tracking._records import encode_value

    points = _tracking(request, project).metric_history(run_id, key)
    return JSONResponse([(k, encode_value(v), s, ts) for k, v, s, ts in points])


@router.put("/runs/{run_id}/artifacts/{name:path}", status_code=201, dependencies=[WRITE])
@streams_body  # bounded by KEEL_MAX_UPLOAD_MB below, not by KEEL_MAX_REQUEST_MB
async def put_artifact(
    project: str, run_id: str, name: str, request: Request, kind: str = Query("file")
) -> JSONResponse:
    """Upload an artifact as the raw request body (at most KEEL_MAX_UPLOAD_MB)."""
    limit = request.app.state.max_upload
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(_too_large(name, limit))
    with tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as body:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(_too_large(name, limit))
            body.write(chunk)
        body.seek(0)
        tracking = _tracking(request, project)
        record = await run_in_threadpool(tracking.put_artifact, run_id, name, kind, body)
    return JSONResponse(record.__dict__, status_code=201)


def _too_large(name: str, limit: int) -> str:
    return (
        f"Artifact {name!r} is larger than this server's limit of {limit // 2**20} MiB. "
        "Raise KEEL_MAX_UPLOAD_MB on the server, or store the file elsewhere and log a reference."
    )


@router.get("/runs/{run_id}/artifacts/{name:path}", dependencies=[READ])
def get_artifact(project: str, run_id: str, name: str, request: Request) -> StreamingResponse:
    """Download an artifact, verified against its digest."""
    fh = _tracking(request, project).open_artifact(run_id, name)

    def chunks():
        with fh:
            yield from iter(lambda: fh.read(1024 * 1024), b"")

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.post("/runs/search", dependencies=[READ])
def search_runs(project: str, body: Search, request: Request) -> JSONResponse:
    """Runs matching a filter such as "metrics.auc > 0.8 and params.model = 'gbm'"."""
    query = RunQuery(tuple(body.experiments), body.filter, tuple(body.order_by), body.max_results)
    records = _tracking(request, project).search_runs(query)
    return JSONResponse([r.to_dict() for r in records])


@router.get("/experiments", dependencies=[READ])
def list_experiments(project: str, request: Request) -> JSONResponse:
    """Every experiment of the project with its number of runs."""
    return JSONResponse([e.__dict__ for e in _tracking(request, project).list_experiments()])


__all__ += ["RunStatus"]
