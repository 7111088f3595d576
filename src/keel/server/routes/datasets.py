"""/api/v1/projects/{project}/datasets and /dataset-versions: datasets over HTTP.

The client prepares a version (its parts, manifest and profile pushed through
``/objects``); the server only records it, after checking that the manifest is stored
and intact, lists safe paths and names only objects this server holds.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from keel.data import DatasetService
from keel.data._prepare import check_prepared
from keel.errors import InvalidInput
from keel.store.actors import Actor
from keel.tracking import SqlTracking

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors
from ..schemas.datasets import (
    Dataset,
    DatasetDiff,
    DatasetManifest,
    DatasetProfile,
    DatasetVersion,
)
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}", tags=["datasets"], responses=PROJECT_ERRORS)
READ, WRITE = Depends(require("reader")), Depends(require("writer"))
DIGEST = r"^[0-9a-f]{64}$"
REF = Field(min_length=1, max_length=300)


def _datasets(request: Request, project: str) -> DatasetService:
    return DatasetService(request.app.state.store, project=project)


class DatasetProducer(BaseModel):
    kind: Literal["run"] = "run"
    id: str = Field(min_length=1, max_length=200)


class DatasetVersionRecord(BaseModel):
    """A prepared version: its objects are on this server already (``/objects``)."""

    manifest_digest: str = Field(pattern=DIGEST, description="blake3 of the manifest JSON.")
    profile_digest: str | None = Field(None, pattern=DIGEST)
    kind: Literal["table", "files"] | None = Field(
        None, description="Checked against the manifest."
    )
    table_schema: list[dict[str, Any]] | None = Field(
        None, alias="schema", max_length=10_000, description="Checked against the manifest."
    )
    row_count: int | None = Field(None, ge=0, description="Checked against the manifest.")
    size: int | None = Field(None, ge=0, description="Checked against the manifest.")
    description: str | None = Field(None, max_length=10_000)
    tags: list[str] = Field(default_factory=list, max_length=100)
    parents: list[str] = Field(
        default_factory=list, max_length=100, description="References: credit:v3, credit@prod."
    )
    producer: DatasetProducer | None = None
    source: dict[str, Any] | None = None

    model_config = {"populate_by_name": True}


@router.get("/datasets", response_model=list[Dataset], dependencies=[READ])
def list_datasets(project: str, request: Request) -> JSONResponse:
    """Every dataset with its latest version and number of versions."""
    return JSONResponse(_datasets(request, project).list())


@router.get("/datasets/{name}/versions", response_model=list[DatasetVersion], dependencies=[READ])
def list_versions(project: str, name: str, request: Request) -> JSONResponse:
    """Every version of a dataset, oldest first."""
    return JSONResponse([v.to_dict() for v in _datasets(request, project).versions(name)])


@router.post(
    "/datasets/{name}/versions",
    status_code=201,
    response_model=DatasetVersion,
    responses=errors({422: "The manifest is missing, malformed or unsafe."}),
)
def record_version(
    project: str, name: str, body: DatasetVersionRecord, request: Request, _: Any = WRITE
) -> JSONResponse:
    """Record the next version of ``name`` from objects already pushed; the latest version
    again (tags moved) if its manifest is the same and no parents are given."""
    service = _datasets(request, project)
    claimed = body.model_dump(
        include={"kind", "table_schema", "row_count", "size"}, exclude_unset=True, by_alias=True
    )
    prepared = check_prepared(
        request.app.state.store.objects, body.manifest_digest, body.profile_digest, claimed
    )
    producer = None
    if body.producer is not None:
        run = SqlTracking(request.app.state.store, project=project).get_run(body.producer.id)
        producer = ("run", run.id)
    version = service.record(
        name,
        prepared,
        description=body.description,
        tags=body.tags,
        parents=body.parents,
        producer=producer,
        source=body.source,
    )
    return JSONResponse(version.to_dict(), status_code=201)


@router.get("/dataset-versions/{ref}/diff", response_model=DatasetDiff, dependencies=[READ])
def diff(
    project: str,
    ref: str,
    request: Request,
    to: str = Query(min_length=1, max_length=300, description="The version to compare with."),
) -> JSONResponse:
    """What changed from ``ref`` to ``to``: schema, rows and per-column statistics."""
    from keel.data._diff import diff_versions

    return JSONResponse(diff_versions(_datasets(request, project), _ref(ref), _ref(to)).to_dict())


@router.get("/dataset-versions/{ref}", response_model=DatasetVersion, dependencies=[READ])
def resolve_version(project: str, ref: str, request: Request) -> JSONResponse:
    """The version a reference names: name, name:vN, name@tag or a manifest digest."""
    return JSONResponse(_datasets(request, project).resolve(_ref(ref)).to_dict())


@router.get("/dataset-versions/{ref}/manifest", response_model=DatasetManifest, dependencies=[READ])
def get_manifest(project: str, ref: str, request: Request) -> JSONResponse:
    """The version's manifest: kind, schema, row count and files (path, digest, size)."""
    manifest = _datasets(request, project).manifest(_ref(ref))
    return JSONResponse(
        {
            "kind": manifest.kind,
            "entries": [e.__dict__ for e in manifest.entries],
            "schema": manifest.schema,
            "row_count": manifest.row_count,
        }
    )


@router.get(
    "/dataset-versions/{ref}/profile",
    response_model=DatasetProfile | None,
    dependencies=[READ],
)
def get_profile(project: str, ref: str, request: Request) -> JSONResponse:
    """The version's statistics profile (null for a set of files)."""
    return JSONResponse(_datasets(request, project).profile(_ref(ref)))


class DatasetTag(BaseModel):
    tag: str = Field(min_length=1, max_length=100, examples=["golden"])


@router.put(
    "/dataset-versions/{ref}/tags",
    response_model=DatasetVersion,
    responses=errors({404: "No such project or dataset version."}),
)
def tag_version(
    project: str, ref: str, body: DatasetTag, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Point ``name@tag`` at this version (moving it if it pointed elsewhere); the move is
    an audit event under the calling token's name."""
    actor = Actor(caller.name, caller.role)
    version = _datasets(request, project).tag(_ref(ref), body.tag, actor=actor)
    return JSONResponse(version.to_dict())


def _ref(ref: str) -> str:
    if len(ref) > 300:
        raise InvalidInput(f"Dataset reference {ref[:60]!r}... is longer than 300 characters.")
    return ref
