"""Deleting over HTTP: writers soft-delete and restore runs and experiments and delete
dataset and model versions nothing protected holds; admins run gc (purges and objects).

- ``DELETE /projects/{project}/runs/{run_id}``, ``POST .../runs/{run_id}/restore``
- ``DELETE /projects/{project}/experiments/{name}``, ``POST .../experiments/{name}/restore``
- ``DELETE /projects/{project}/dataset-versions/{ref}?force=``
- ``DELETE /projects/{project}/models/{name}/versions/{version}?force=``
- ``POST /gc`` (admin): purge what stayed deleted past the retention period, remove
  unreferenced objects past the grace period; ``dry_run`` lists what would go.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from keel._deletion import datasets_with_holders, models_with_holders
from keel.data import DatasetService
from keel.registry import RegistryService
from keel.store.actors import Actor
from keel.tracking import SqlTracking

from .._json import JSONResponse
from ..auth import require
from ..schemas import AUTH_ERRORS, PROJECT_ERRORS, errors
from ..schemas.deletion import Deletion, ExperimentDeletion, GcReport, RunDeletion
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(tags=["deletion"], responses=AUTH_ERRORS)
WRITE, ADMIN = Depends(require("writer")), Depends(require("admin"))
PROJECT = "/projects/{project}"
HELD = PROJECT_ERRORS | errors(
    {
        404: "No such project, or no such version in it.",
        409: "Something protected holds the version; nothing was deleted.",
    }
)
FORCE = Query(False, description="Delete even if something holds it; the answer lists what broke.")


def _actor(caller: TokenInfo) -> Actor:
    return Actor(caller.name, caller.role)


def _tracking(request: Request, project: str) -> SqlTracking:
    return SqlTracking(request.app.state.store, project=project)


@router.delete(PROJECT + "/runs/{run_id}", response_model=RunDeletion, responses=PROJECT_ERRORS)
def delete_run(
    project: str, run_id: str, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Soft-delete a run: hidden from listings, restorable until gc purges it."""
    return JSONResponse(_tracking(request, project).delete_run(run_id, actor=_actor(caller)))


@router.post(
    PROJECT + "/runs/{run_id}/restore", response_model=RunDeletion, responses=PROJECT_ERRORS
)
def restore_run(
    project: str, run_id: str, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Bring back a soft-deleted run."""
    return JSONResponse(_tracking(request, project).restore_run(run_id, actor=_actor(caller)))


@router.delete(
    PROJECT + "/experiments/{name}", response_model=ExperimentDeletion, responses=PROJECT_ERRORS
)
def delete_experiment(
    project: str, name: str, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Soft-delete an experiment and so hide its runs."""
    tracking = _tracking(request, project)
    return JSONResponse(tracking.delete_experiment(name, actor=_actor(caller)))


@router.post(
    PROJECT + "/experiments/{name}/restore",
    response_model=ExperimentDeletion,
    responses=PROJECT_ERRORS,
)
def restore_experiment(
    project: str, name: str, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Bring back a soft-deleted experiment and its runs."""
    tracking = _tracking(request, project)
    return JSONResponse(tracking.restore_experiment(name, actor=_actor(caller)))


@router.delete(
    PROJECT + "/dataset-versions/{ref}",
    response_model=Deletion,
    responses=HELD,
)
def delete_dataset_version(
    project: str,
    request: Request,
    ref: str = Path(max_length=300, examples=["credit:v2"]),
    force: bool = FORCE,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Delete a dataset version (``name:vN``) nothing protected holds (or, forced, anyway)."""
    service = datasets_with_holders(DatasetService(request.app.state.store, project=project))
    return JSONResponse(service.delete(ref, force=force, actor=_actor(caller)).to_dict())


@router.delete(
    PROJECT + "/models/{name}/versions/{version}",
    response_model=Deletion,
    responses=HELD,
)
def delete_model_version(
    project: str,
    request: Request,
    name: str = Path(max_length=200, examples=["credit"]),
    version: int = Path(ge=1, le=2**31 - 1, examples=[3]),
    force: bool = FORCE,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Delete a model version nothing protected holds (or, forced, anyway)."""
    store = request.app.state.store
    service = RegistryService(store, project=project, actor=_actor(caller))
    service = models_with_holders(service)
    return JSONResponse(service.delete(f"{name}:{version}", force=force).to_dict())


class GcRequest(BaseModel):
    objects: bool = Field(False, description="Also remove unreferenced objects.")
    grace_minutes: float | None = Field(
        None, ge=0, le=10**6, description="Objects written more recently are kept."
    )
    retention_days: float | None = Field(
        None, ge=0, le=10**6, description="Purge what was deleted longer ago than this."
    )
    dry_run: bool = False


@router.post("/gc", response_model=GcReport, dependencies=[ADMIN])
def gc(body: GcRequest, request: Request) -> JSONResponse:
    """Purge runs and experiments deleted past the retention period and (``objects``)
    remove unreferenced objects past the grace period, for the whole store."""
    from keel._gc import run_gc

    store = request.app.state.store
    report = run_gc(
        store,
        objects=body.objects,
        grace=None if body.grace_minutes is None else body.grace_minutes * 60,
        retention_days=body.retention_days,
        dry_run=body.dry_run,
        temporaries=False,
    )
    return JSONResponse(report)
