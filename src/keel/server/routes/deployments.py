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
from keel.deploy._stats import service_stats
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
    """Service health over time, oldest first: requests, throughput and p99 latency of each
    window of the monitors that watch the deployment, and requests, errors, error rate and
    p99 latency of each canary step the model server judged."""
    return JSONResponse(service_stats(request.app.state.store, project, name, limit=limit))


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
