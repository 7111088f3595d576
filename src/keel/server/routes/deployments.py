"""/api/v1/projects/{project}/deployments: deployments as config over HTTP.

A spec travels as JSON (``spec``, with the ``lines`` and ``source`` a client's parsed
file gave, so errors still name the line) or as the YAML text itself (``yaml``). Reading
and planning need a reader token; applying, rolling back and the canary controller's
steps need a writer. Every change is recorded under the calling token's name.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from keel.deploy import DeploymentService, DeploymentSpec, parse_spec_text
from keel.deploy._stats import MAX_HEALTH_ROWS, service_stats
from keel.errors import InvalidInput
from keel.store.actors import Actor

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors
from ..schemas.deployments import (
    Deployment,
    DeploymentPlan,
    DeploymentStats,
    Rollout,
    RolloutStep,
)
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(
    prefix="/projects/{project}/deployments", tags=["deployments"], responses=PROJECT_ERRORS
)
READ, WRITE = Depends(require("reader")), Depends(require("writer"))

NAME = Path(max_length=200, description="The deployment's name.", examples=["credit-scoring"])
REVISION = Path(ge=1, le=2**31 - 1, description="A revision number.", examples=[3])
ROLLOUT = Path(max_length=64, description="A rollout's id.")
NOT_FOUND = errors({404: "No such project, deployment, revision or rollout."})
CONFLICT = errors({409: "The change does not fit the deployment's state."})


def _deployments(request: Request, project: str, caller: TokenInfo) -> DeploymentService:
    # The token is the actor: its name goes in the rollout and audit trail.
    actor = Actor(caller.name, caller.role)
    return DeploymentService(request.app.state.store, project=project, actor=actor)


class DeploymentSpecBody(BaseModel):
    spec: dict[str, Any] | None = Field(
        None, description="The spec as JSON (what DeploymentSpec.to_dict gives)."
    )
    yaml: str | None = Field(None, max_length=1_000_000, description="Or the YAML file's text.")
    lines: dict[str, int] = Field(
        default_factory=dict, max_length=10_000, description="Line of each field in its file."
    )
    source: str | None = Field(None, max_length=500, description="The file the spec came from.")

    def to_spec(self) -> DeploymentSpec:
        if (self.spec is None) == (self.yaml is None):
            raise InvalidInput(
                "Send the deployment as exactly one of 'spec' (JSON) or 'yaml' (the file's text)."
            )
        if self.yaml is not None:
            return parse_spec_text(self.yaml, source=self.source or "the deployment")
        spec = DeploymentSpec.from_dict(self.spec or {})
        if self.source is None:
            return spec
        from dataclasses import replace

        return replace(spec, lines=dict(self.lines), source=self.source)


class RolloutStepBody(BaseModel):
    step: int = Field(ge=0, le=999, description="The step's index in canary.steps.")
    weight: float = Field(ge=0, le=100, description="The new rollout's traffic share (%).")
    status: Literal["running", "passed", "promoted", "rolled_back"]
    metrics: dict[str, float | str | None] = Field(default_factory=dict, max_length=50)


class RolloutFinishBody(BaseModel):
    status: Literal["promoted", "rolled_back"]


@router.get("", response_model=list[Deployment])
def list_deployments(project: str, request: Request, caller: TokenInfo = READ) -> JSONResponse:
    """Every deployment with its current revision, status, model and routes."""
    return JSONResponse(_deployments(request, project, caller).list())


@router.post("/plan", response_model=DeploymentPlan)
def plan(
    project: str, body: DeploymentSpecBody, request: Request, caller: TokenInfo = READ
) -> JSONResponse:
    """What applying a spec would change (every model reference is checked first)."""
    return JSONResponse(_deployments(request, project, caller).plan(body.to_spec()).to_dict())


@router.post("", response_model=Rollout, responses=CONFLICT)
def apply(
    project: str, body: DeploymentSpecBody, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Record a spec as the next rollout (the current one if the spec is unchanged)."""
    rollout = _deployments(request, project, caller).apply(body.to_spec())
    return JSONResponse(rollout.to_dict())


@router.get("/{name}", response_model=Rollout, responses=NOT_FOUND)
def current(
    project: str, request: Request, name: str = NAME, caller: TokenInfo = READ
) -> JSONResponse:
    """The rollout that runs now."""
    return JSONResponse(_deployments(request, project, caller).get(name).to_dict())


@router.get("/{name}/revisions/{revision}", response_model=Rollout, responses=NOT_FOUND)
def revision(
    project: str,
    request: Request,
    name: str = NAME,
    revision: int = REVISION,
    caller: TokenInfo = READ,
) -> JSONResponse:
    """One revision of a deployment."""
    return JSONResponse(_deployments(request, project, caller).get(name, revision).to_dict())


@router.get("/{name}/history", response_model=list[Rollout], responses=NOT_FOUND)
def history(
    project: str, request: Request, name: str = NAME, caller: TokenInfo = READ
) -> JSONResponse:
    """Every rollout, newest first, with its canary steps."""
    rollouts = _deployments(request, project, caller).history(name)
    return JSONResponse([r.to_dict() for r in rollouts])


@router.get("/{name}/stats", response_model=DeploymentStats, responses=NOT_FOUND)
def stats(
    project: str,
    request: Request,
    name: str = NAME,
    limit: int = Query(200, ge=1, le=1000, description="At most this many newest points."),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """Service health over time, oldest first: every interval of the model server's own
    counts (source ``server``: requests, 5xx errors, 4xx, error rate, p50/p99 latency, summed
    over its workers), each window of the monitors that watch the deployment (requests,
    throughput, p99 latency) and each canary step the model server judged."""
    return JSONResponse(service_stats(request.app.state.store, project, name, limit=limit))


class HealthRow(BaseModel):
    """One model server process's service health over one interval, for one model version."""

    id: str = Field(min_length=1, max_length=32, description="The writer's id for the row.")
    worker: str = Field(min_length=1, max_length=100, examples=["host:4242"])
    model_version: str = Field(
        max_length=200, examples=["credit:4"], description='"" for requests refused before routing.'
    )
    bucket_ms: int = Field(ge=0, description="The wall-clock interval every worker shares.")
    start_ms: int = Field(ge=0)
    end_ms: int = Field(ge=0)
    requests: int = Field(ge=0)
    errors: int = Field(ge=0, description="Failed requests (5xx).")
    client_errors: int = Field(ge=0, description="Refused requests (4xx).")
    p50_ms: float | None = Field(None, ge=0)
    p99_ms: float | None = Field(None, ge=0)


class HealthBody(BaseModel):
    rows: list[HealthRow] = Field(max_length=MAX_HEALTH_ROWS)


class HealthRecorded(BaseModel):
    recorded: int = Field(description="Rows that were new (a known row id is skipped).")


@router.post("/{name}/health", response_model=HealthRecorded)
def record_health(
    project: str, body: HealthBody, request: Request, name: str = NAME, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Record a model server's service health rows (each ``keel serve`` process's call,
    every ``serve_health_seconds``); a row already recorded (same id) is skipped."""
    rows = [row.model_dump() for row in body.rows]
    recorded = _deployments(request, project, caller).record_health(name, rows)
    return JSONResponse({"recorded": recorded})


@router.post("/{name}/rollback", response_model=Rollout, responses={**NOT_FOUND, **CONFLICT})
def rollback(
    project: str, request: Request, name: str = NAME, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Bring back the spec that ran before the current rollout, as a new revision."""
    return JSONResponse(_deployments(request, project, caller).rollback(name).to_dict())


@router.post(
    "/rollouts/{rollout_id}/steps",
    status_code=201,
    response_model=RolloutStep,
    responses={**NOT_FOUND, **CONFLICT},
)
def record_step(
    project: str,
    body: RolloutStepBody,
    request: Request,
    rollout_id: str = ROLLOUT,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Record one step of a canary in progress (the canary controller's call)."""
    step = _deployments(request, project, caller).record_step(
        rollout_id, body.step, body.weight, body.status, body.metrics
    )
    return JSONResponse(step.to_dict(), status_code=201)


@router.post(
    "/rollouts/{rollout_id}/finish", response_model=Rollout, responses={**NOT_FOUND, **CONFLICT}
)
def finish(
    project: str,
    body: RolloutFinishBody,
    request: Request,
    rollout_id: str = ROLLOUT,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """End a canary: promoted, or rolled back (the spec before it comes back)."""
    rollout = _deployments(request, project, caller).finish(rollout_id, body.status)
    return JSONResponse(rollout.to_dict())
