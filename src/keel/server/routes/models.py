"""/api/v1/projects/{project}/models: the model registry over HTTP.

The client builds a model's package and pushes its files through ``/api/v1/objects``; a
registration here names the package, and the server records it only once every file the
manifest declares is in its object store and intact. Every change is recorded under the
calling token's name.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from starlette.responses import HTMLResponse

from keel.registry import RegistryService
from keel.store.actors import Actor

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors, page_errors
from ..schemas.registry import (
    Approvals,
    Evaluation,
    EvaluationResult,
    Model,
    ModelEvent,
    ModelVersion,
    Policy,
)
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}/models", tags=["models"], responses=PROJECT_ERRORS)
READ, WRITE = Depends(require("reader")), Depends(require("writer"))
APPROVE, ADMIN = Depends(require("approver")), Depends(require("admin"))

NAME = Path(max_length=200, description="The model's name.", examples=["credit"])
ALIAS = Path(max_length=100, description="An alias, or 'latest'.", examples=["champion"])
VERSION = Path(ge=1, le=2**31 - 1, description="The version number.", examples=[4])
NOT_FOUND = errors({404: "No such project, model, version or alias."})
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}


def _registry(request: Request, project: str, caller: TokenInfo) -> RegistryService:
    # The token is the actor: its name goes in the audit trail, its role is checked again
    # by the service (approvals, aliases a policy protects).
    actor = Actor(caller.name, caller.role)
    return RegistryService(request.app.state.store, project=project, actor=actor)


class ModelRegistration(BaseModel):
    package: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="Digest of the package's keel-model.json."
    )
    run: str | None = Field(None, min_length=1, max_length=64, description="Source run id.")
    metrics: dict[str, float] = Field(default_factory=dict, max_length=1000)
    description: str | None = Field(None, max_length=10_000)
    flavor: str | None = Field(None, max_length=50, description="As the manifest holds it.")
    signature: dict[str, Any] | None = Field(None, description="As the manifest holds it.")


class AliasMove(BaseModel):
    version: int = Field(ge=1, le=2**31 - 1)
    reason: str | None = Field(None, max_length=2000)


class ApprovalDecision(BaseModel):
    decision: Literal["approved", "rejected"]
    comment: str | None = Field(None, max_length=2000)


class EvaluationRequest(BaseModel):
    data: str = Field(min_length=1, max_length=300, examples=["holdout:v1"])
    label: str = Field(min_length=1, max_length=300, description="The target column.")
    against: str | None = Field(None, min_length=1, max_length=300, examples=["credit@champion"])
    by: str | None = Field(None, min_length=1, max_length=300, description="Segment column.")
    gate: str | None = Field(
        None, min_length=1, max_length=2000, examples=["roc_auc >= champion.roc_auc - 0.005"]
    )
    backtest: str | None = Field(
        None, min_length=1, max_length=300, description="Date column for back-testing."
    )
    freq: str = Field("month", max_length=20, examples=["month"])


class PolicyUpdate(BaseModel):
    aliases: dict[str, dict[str, Any]] = Field(
        default_factory=dict, examples=[{"champion": {"approvals": 1, "gate": True}}]
    )


@router.get("", response_model=list[Model])
def list_models(project: str, request: Request, caller: TokenInfo = READ) -> JSONResponse:
    """Every model with its latest version, aliases and policy."""
    return JSONResponse(_registry(request, project, caller).list())


@router.get("/{name}/versions", response_model=list[ModelVersion], responses=NOT_FOUND)
def list_versions(
    project: str, request: Request, name: str = NAME, caller: TokenInfo = READ
) -> JSONResponse:
    """Every version of a model, oldest first."""
    versions = _registry(request, project, caller).versions(name)
    return JSONResponse([v.to_dict() for v in versions])


@router.post("/{name}/versions", status_code=201, response_model=ModelVersion, responses=NOT_FOUND)
def register(
    project: str,
    body: ModelRegistration,
    request: Request,
    name: str = NAME,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Record a pushed package as the next version (its files are verified first)."""
    version = _registry(request, project, caller).record_package(
        name,
        body.package,
        run=body.run,
        metrics=body.metrics,
        description=body.description,
        flavor=body.flavor,
        signature=body.signature,
    )
    return JSONResponse(version.to_dict(), status_code=201)


@router.get("/{name}/versions/{version}", response_model=ModelVersion, responses=NOT_FOUND)
def get_version(
    project: str,
    request: Request,
    name: str = NAME,
    version: int = VERSION,
    caller: TokenInfo = READ,
) -> JSONResponse:
    """One version (``credit:4``)."""
    return JSONResponse(_registry(request, project, caller).get(f"{name}:{version}").to_dict())


@router.get("/{name}/aliases/{alias}", response_model=ModelVersion, responses=NOT_FOUND)
def resolve_alias(
    project: str, request: Request, name: str = NAME, alias: str = ALIAS, caller: TokenInfo = READ
) -> JSONResponse:
    """The version an alias points at (``credit@champion``; ``latest`` is the newest)."""
    return JSONResponse(_registry(request, project, caller).get(f"{name}@{alias}").to_dict())


@router.put("/{name}/aliases/{alias}", response_model=ModelVersion, responses=NOT_FOUND)
def set_alias(
    project: str,
    body: AliasMove,
    request: Request,
    name: str = NAME,
    alias: str = ALIAS,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Point an alias at a version if the policy allows (a protected alias needs an
    approver)."""
    registry = _registry(request, project, caller)
    moved = registry.set_alias(f"{name}:{body.version}", alias, reason=body.reason)
    return JSONResponse(moved.to_dict())


@router.post("/{name}/aliases/{alias}/rollback", response_model=ModelVersion, responses=NOT_FOUND)
def rollback(
    project: str, request: Request, name: str = NAME, alias: str = ALIAS, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Move an alias back to the version it pointed to before its last move."""
    return JSONResponse(_registry(request, project, caller).rollback(name, alias).to_dict())


@router.post("/{name}/versions/{version}/approvals", status_code=204, responses=NOT_FOUND)
def decide(
    project: str,
    body: ApprovalDecision,
    request: Request,
    name: str = NAME,
    version: int = VERSION,
    caller: TokenInfo = APPROVE,
) -> None:
    """Record the caller's approval or rejection of a version."""
    registry = _registry(request, project, caller)
    ref = f"{name}:{version}"
    if body.decision == "approved":
        registry.approve(ref, body.comment)
    else:
        registry.reject(ref, body.comment)


@router.get(
    "/{name}/versions/{version}/approvals",
    response_model=Approvals,
    responses=NOT_FOUND,
)
def approvals(
    project: str,
    request: Request,
    name: str = NAME,
    version: int = VERSION,
    caller: TokenInfo = READ,
) -> JSONResponse:
    """Each actor's latest decision on a version: {actor: approved | rejected}."""
    return JSONResponse(_registry(request, project, caller).approvals(f"{name}:{version}"))


@router.get(
    "/{name}/versions/{version}/evaluations",
    response_model=list[Evaluation],
    responses=NOT_FOUND,
)
def evaluations(
    project: str,
    request: Request,
    name: str = NAME,
    version: int = VERSION,
    caller: TokenInfo = READ,
) -> JSONResponse:
    """The evaluations recorded for a version, oldest first."""
    return JSONResponse(_registry(request, project, caller).evaluations(f"{name}:{version}"))


@router.post(
    "/{name}/versions/{version}/evaluations",
    status_code=201,
    response_model=EvaluationResult,
    responses=NOT_FOUND,
)
def evaluate(
    project: str,
    body: EvaluationRequest,
    request: Request,
    name: str = NAME,
    version: int = VERSION,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Evaluate a version on a dataset of this project (against another, with a gate),
    here on the server, and record the result where promotion policies look. Packages
    that would run code when loaded (pyfunc) are refused; a failing gate is a result."""
    from keel.data import DatasetService
    from keel.registry._evaluate import evaluate as run_evaluate

    registry = _registry(request, project, caller)
    result = run_evaluate(
        registry,
        f"{name}:{version}",
        **body.model_dump(),
        datasets=DatasetService(request.app.state.store, project=project),
    )
    return JSONResponse(result.to_dict(), status_code=201)


@router.get(
    "/{name}/versions/{version}/card",
    response_class=HTMLResponse,
    responses={
        **page_errors("No such project, model or version."),
        200: {"content": {"text/html": {}}},
    },
)
def card(
    project: str,
    request: Request,
    name: str = NAME,
    version: int = VERSION,
    caller: TokenInfo = READ,
) -> HTMLResponse:
    """The version's model card as a self-contained HTML page."""
    from keel.registry import model_card

    _, html = model_card(_registry(request, project, caller), f"{name}:{version}")
    return HTMLResponse(html, headers=PAGE_HEADERS)


@router.get("/{name}/history", response_model=list[ModelEvent], responses=NOT_FOUND)
def history(
    project: str, request: Request, name: str = NAME, caller: TokenInfo = READ
) -> JSONResponse:
    """Every registration, alias move, approval, rejection and policy change, oldest first."""
    events = _registry(request, project, caller).history(name)
    return JSONResponse([e.__dict__ for e in events])


@router.get("/{name}/policy", response_model=Policy, responses=NOT_FOUND)
def get_policy(
    project: str, request: Request, name: str = NAME, caller: TokenInfo = READ
) -> JSONResponse:
    """What moving each alias requires."""
    return JSONResponse(_registry(request, project, caller).policy(name).to_dict())


@router.put("/{name}/policy", response_model=Policy, responses=NOT_FOUND)
def set_policy(
    project: str, body: PolicyUpdate, request: Request, name: str = NAME, caller: TokenInfo = ADMIN
) -> JSONResponse:
    """Set what moving each alias requires (admin)."""
    policy = _registry(request, project, caller).set_policy(name, body.model_dump())
    return JSONResponse(policy.to_dict())
