"""/api/v1/projects/{project}/runs and /experiments: tracking over HTTP."""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse

from keel.errors import InvalidInput, PayloadTooLarge
from keel.tracking import RunQuery, RunStatus, SqlTracking
from keel.tracking._digest import parse_content_digest
from keel.tracking._records import check_include
from keel.tracking._reproduce import LOGGED_BY_TAG
from keel.tracking._validate import check_artifact_name

from .._body_limit import streams_body
from .._json import JSONResponse
from ..auth import require
from ..schemas import BINARY_ANSWER, PROJECT_ERRORS, errors, raw_body
from ..schemas.tracking import Artifact, Experiment, MetricHistoryPoint, Run, RunCount
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}", tags=["tracking"], responses=PROJECT_ERRORS)
READ, WRITE = Depends(require("reader")), Depends(require("writer"))


_SERVICES_KEPT = 256
"""Projects whose tracking service a server keeps between requests."""


def _tracking(request: Request, project: str) -> SqlTracking:
    """The project's tracking service, kept between requests: what it remembers (the
    runs known to be in the project, the last code and environment checked) spares each
    run's end a project check and each run's creation a walk of its captured JSON."""
    state = request.app.state
    services: dict[str, SqlTracking] | None = getattr(state, "tracking_services", None)
    if services is None:
        services = state.tracking_services = {}
    service = services.get(project)
    if service is None or service.store is not state.store:
        if len(services) >= _SERVICES_KEPT:
            services.clear()
        service = services[project] = SqlTracking(state.store, project=project)
    return service


class RunCreate(BaseModel):
    experiment: str = Field(min_length=1, max_length=200)
    name: str | None = Field(None, max_length=200)
    parent_id: str | None = None
    params: dict[str, str] | None = None
    tags: dict[str, str] | None = None
    code: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    metrics: list[tuple[str, float, int, int]] = Field(
        default_factory=list,
        description="First metric points, as [key, value, step, timestamp_ms], written with "
        "the run in one transaction.",
    )
    id: str | None = Field(
        None,
        description="The run's id, chosen by the client (32 lowercase hex characters) for a "
        "run it held back until it knew it whole; default: a new one.",
    )
    started_at: int | None = Field(
        None, description="When the run started, in ms since the epoch; default: now."
    )
    status: Literal["RUNNING", "FINISHED", "FAILED", "KILLED"] = Field(
        "RUNNING",
        description="FINISHED, FAILED or KILLED create the run ended, with everything above, "
        "in one transaction: it is never seen half written.",
    )
    error: str | None = Field(None, description="Why an ended run failed.")


class RunStatusUpdate(BaseModel):
    status: Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
    error: str | None = None


class RunEnd(BaseModel):
    status: Literal["FINISHED", "FAILED", "KILLED"]
    error: str | None = None
    metrics: list[tuple[str, float, int, int]] = Field(
        default_factory=list,
        description="The run's last metric points, as [key, value, step, timestamp_ms], "
        "written with its status in one transaction.",
    )


class RunBatch(BaseModel):
    metrics: list[tuple[str, float, int, int]] = Field(
        default_factory=list,
        description='Points as [key, value, step, timestamp_ms]; value may be "NaN", '
        '"Infinity" or "-Infinity".',
    )
    params: dict[str, str] | None = None
    tags: dict[str, str] | None = None


class MetricArray(BaseModel):
    values: list[float] = Field(
        description='The curve\'s values; "NaN", "Infinity" or "-Infinity" as strings.'
    )
    steps: list[int] = Field(description="One step per value: integers from 0.")
    timestamps: list[int] | None = Field(
        None, description="One time per value, in ms since the epoch; default: now for all."
    )


class RunInput(BaseModel):
    kind: str = Field(min_length=1, max_length=50, examples=["dataset_version"])
    id: str = Field(min_length=1, max_length=200)


class RunSearch(BaseModel):
    experiments: list[str] = Field(default_factory=list)
    filter: str | None = None
    order_by: list[str] = Field(default_factory=list)
    max_results: int = Field(1000, ge=1, description="At most KEEL_MAX_SEARCH_RESULTS.")
    offset: int = Field(0, ge=0, le=2**31 - 1, description="Matching runs to skip (paging).")
    include_deleted: bool = Field(False, description="Also deleted runs (not yet purged).")


def _client_tags(tags: dict[str, str] | None) -> dict[str, str] | None:
    """Tags as a client may set them: the server's own provenance tag is not among them."""
    if tags and LOGGED_BY_TAG in tags:
        raise InvalidInput(
            f"The tag {LOGGED_BY_TAG!r} is set by the server from the token that created the "
            "run; remove it from the request."
        )
    return tags


def _run_link(suffix: str, method: str, description: str) -> dict[str, Any]:
    path = "/api/v1/projects/{project}/runs/{run_id}" + suffix
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {
        "operationRef": f"#/paths/{pointer}/{method}",
        "parameters": {"project": "$request.path.project", "run_id": "$response.body#/id"},
        "description": description,
    }


RUN_LINKS = {
    "GetRun": _run_link("", "get", "Read the run just created."),
    "EndRun": _run_link("", "patch", "End or resume the run."),
    "FinishRun": _run_link("/end", "post", "End the run with its last metrics."),
    "LogBatch": _run_link("/batch", "post", "Log metrics, params and tags to the run."),
    "LogInput": _run_link("/inputs", "post", "Record what the run consumed."),
    "GetMetric": _run_link("/metrics/{key}", "get", "Read one metric's history."),
    "PutArtifact": _run_link("/artifacts/{name}", "put", "Upload an artifact to the run."),
    "GetArtifact": _run_link("/artifacts/{name}", "get", "Download an artifact of the run."),
}
"""OpenAPI links: the id a run creation answers is the run_id of every route under it
(clients and schemathesis' stateful tests follow them)."""


@router.post(
    "/runs",
    status_code=201,
    response_model=Run,
    responses={201: {"description": "The run as created.", "links": RUN_LINKS}},
)
def create_run(
    project: str, body: RunCreate, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Create a run (and its experiment, if new), tagged with the token's name: RUNNING, or
    ended if the body gives an ended status (a whole run in one request and transaction)."""
    record = _tracking(request, project).create_run(
        body.experiment,
        name=body.name,
        parent_id=body.parent_id,
        params=body.params,
        tags={**(_client_tags(body.tags) or {}), LOGGED_BY_TAG: caller.name},
        code=body.code,
        environment=body.environment,
        metrics=body.metrics,
        run_id=body.id,
        started_at=body.started_at,
        status=body.status,
        error=body.error,
    )
    return JSONResponse(record.to_dict(), status_code=201)


@router.get("/runs/{run_id}", response_model=Run, dependencies=[READ])
def get_run(project: str, run_id: str, request: Request) -> JSONResponse:
    """A run with its params, tags, latest metrics and artifacts."""
    return JSONResponse(_tracking(request, project).get_run(run_id).to_dict())


@router.patch("/runs/{run_id}", response_model=Run, dependencies=[WRITE])
def set_status(project: str, run_id: str, body: RunStatusUpdate, request: Request) -> JSONResponse:
    """End a run (FINISHED, FAILED, KILLED) or resume it (RUNNING)."""
    record = _tracking(request, project).set_status(run_id, body.status, error=body.error)
    return JSONResponse(record.to_dict())


@router.post("/runs/{run_id}/end", status_code=204, dependencies=[WRITE])
def end_run(project: str, run_id: str, body: RunEnd, request: Request) -> None:
    """End a run (FINISHED, FAILED, KILLED) and record its last metric points, in one
    transaction; answers nothing (read the run back with GET if needed)."""
    _tracking(request, project).end_run(run_id, body.status, error=body.error, metrics=body.metrics)


@router.post("/runs/{run_id}/batch", status_code=204, dependencies=[WRITE])
def log_batch(project: str, run_id: str, body: RunBatch, request: Request) -> None:
    """Record metric points, params (immutable) and tags in one request."""
    _tracking(request, project).log_batch(
        run_id, metrics=body.metrics, params=body.params, tags=_client_tags(body.tags)
    )


@router.post("/runs/{run_id}/inputs", status_code=204, dependencies=[WRITE])
def log_input(project: str, run_id: str, body: RunInput, request: Request) -> None:
    """Record that the run consumed a record (a dataset version), for lineage."""
    _tracking(request, project).log_input(run_id, body.kind, body.id)


@router.get(
    "/runs/{run_id}/metrics/{key:path}",
    response_model=list[MetricHistoryPoint],
    dependencies=[READ],
)
def metric_history(project: str, run_id: str, key: str, request: Request) -> JSONResponse:
    """Every point of one metric: [key, value, step, timestamp_ms], by step."""
    from keel.tracking._records import encode_value

    points = _tracking(request, project).metric_history(run_id, key)
    return JSONResponse([(k, encode_value(v), s, ts) for k, v, s, ts in points])


@router.post("/runs/{run_id}/metrics/{key:path}", status_code=204, dependencies=[WRITE])
def log_metric_array(
    project: str, run_id: str, key: str, body: MetricArray, request: Request
) -> None:
    """Record a whole curve of one metric as columns: values, steps and (optionally)
    timestamps, checked per column."""
    _tracking(request, project).log_metric_array(
        run_id, key, body.values, body.steps, body.timestamps
    )


@router.put(
    "/runs/{run_id}/artifacts/{name:path}",
    status_code=201,
    response_model=Artifact,
    dependencies=[WRITE],
    responses=errors({413: "The artifact is larger than KEEL_MAX_UPLOAD_MB."}),
    openapi_extra=raw_body("The artifact's bytes."),
)
@streams_body  # bounded by KEEL_MAX_UPLOAD_MB below, not by KEEL_MAX_REQUEST_MB
async def put_artifact(
    project: str, run_id: str, name: str, request: Request, kind: str = Query("file")
) -> JSONResponse:
    """Upload an artifact as the raw request body (at most KEEL_MAX_UPLOAD_MB).

    Send ``Content-Digest: sha-256=:<base64>:`` (RFC 9530) to have the server check that
    it received exactly those bytes; a body that does not match it, or is shorter than its
    ``Content-Length``, is refused with nothing stored.
    """
    check_artifact_name(name)
    limit = request.app.state.max_upload
    declared = _content_length(request)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(_too_large(name, limit))
    expected = parse_content_digest(request.headers.get("content-digest"))
    hasher = hashlib.new(expected[0]) if expected else None
    with tempfile.SpooledTemporaryFile(8 * 1024 * 1024) as body:
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(_too_large(name, limit))
                if hasher is not None:
                    hasher.update(chunk)
                body.write(chunk)
        except ClientDisconnect as exc:
            raise InvalidInput(_incomplete(name, size, declared)) from exc
        if declared is not None and size != declared:
            raise InvalidInput(_incomplete(name, size, declared))
        if expected is not None and hasher is not None and hasher.digest() != expected[1]:
            raise InvalidInput(
                f"Artifact {name!r}: the {size} bytes received do not match the "
                f"Content-Digest {expected[0]} the client sent, so the upload was damaged or "
                "cut short. Nothing was stored; send it again."
            )
        body.seek(0)
        tracking = _tracking(request, project)
        record = await run_in_threadpool(tracking.put_artifact, run_id, name, kind, body)
    return JSONResponse(record.__dict__, status_code=201)


def _content_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else None


def _incomplete(name: str, size: int, declared: int | None) -> str:
    return (
        f"Artifact {name!r}: received {size} bytes of the {declared} announced by "
        "Content-Length. Nothing was stored; send it again."
    )


def _too_large(name: str, limit: int) -> str:
    return (
        f"Artifact {name!r} is larger than this server's limit of {limit // 2**20} MiB. "
        "Raise KEEL_MAX_UPLOAD_MB on the server, or store the file elsewhere and log a reference."
    )


@router.get(
    "/runs/{run_id}/artifacts/{name:path}",
    response_class=StreamingResponse,
    dependencies=[READ],
    responses=BINARY_ANSWER,
)
def get_artifact(project: str, run_id: str, name: str, request: Request) -> StreamingResponse:
    """Download an artifact, verified against its digest."""
    fh = _tracking(request, project).open_artifact(run_id, name)

    def chunks():
        with fh:
            yield from iter(lambda: fh.read(1024 * 1024), b"")

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@router.post("/runs/search", response_model=list[Run], dependencies=[READ])
def search_runs(
    project: str,
    body: RunSearch,
    request: Request,
    include: str = Query(
        "",
        description="What a listing leaves out unless asked, comma-separated: environment, "
        "code, artifacts (null or empty in the answer otherwise).",
        examples=["environment,artifacts"],
    ),
) -> JSONResponse:
    """Runs matching a filter such as "metrics.auc > 0.8 and params.model = 'gbm'", with
    what a list shows (params, tags, latest metrics); ``?include=`` adds the rest."""
    query = dataclasses.replace(_query(body), include=check_include(include))
    records = _tracking(request, project).search_runs(query)
    return JSONResponse([r.to_dict() for r in records])


@router.post("/runs/count", response_model=RunCount, dependencies=[READ])
def count_runs(project: str, body: RunSearch, request: Request) -> JSONResponse:
    """How many runs a search matches (its order, size and offset aside): {"total": n}."""
    return JSONResponse({"total": _tracking(request, project).count_runs(_query(body))})


def _query(body: RunSearch) -> RunQuery:
    return RunQuery(
        tuple(body.experiments),
        body.filter,
        tuple(body.order_by),
        body.max_results,
        offset=body.offset,
        include_deleted=body.include_deleted,
    )


@router.get("/experiments", response_model=list[Experiment], dependencies=[READ])
def list_experiments(
    project: str, request: Request, include_deleted: bool = Query(False)
) -> JSONResponse:
    """Every experiment of the project with its number of runs."""
    listed = _tracking(request, project).list_experiments(include_deleted=include_deleted)
    return JSONResponse([e.__dict__ for e in listed])


__all__ += ["RunStatus"]
