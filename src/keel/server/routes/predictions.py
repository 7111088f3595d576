"""/api/v1/projects/{project}/predictions: prediction logs and feedback over HTTP.

A model server logging through this server pushes each Parquet part through
``/api/v1/objects`` (size-limited and verified by digest there), then records it here;
the server reads the part and checks it before recording it. Reads answer Parquet.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from keel.errors import NotFound
from keel.serving import PredictionStore
from keel.store.actors import Actor

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, binary_answer, errors
from ..schemas.predictions import Erased, HashKey, LoggedRequest, PartCreated, PredictionPart
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(
    prefix="/projects/{project}/predictions", tags=["predictions"], responses=PROJECT_ERRORS
)
READ, WRITE, ADMIN = (Depends(require(role)) for role in ("reader", "writer", "admin"))
Kind = Literal["predictions", "feedback"]
PARQUET = "application/vnd.apache.parquet"
DEPLOYMENT = Query(None, max_length=200, description="Only this deployment's parts.")
SINCE = Query(None, ge=0, description="Rows at or after this time (epoch ms).")
UNTIL = Query(None, ge=0, description="Rows before this time (epoch ms).")
KIND = Query(..., description="predictions or feedback.")
COLUMNS = Query(None, max_length=1000, description="Only these columns.")


def _predictions(request: Request, project: str) -> PredictionStore:
    return PredictionStore(request.app.state.store, project=project)


class PredictionPartRecord(BaseModel):
    kind: Kind
    deployment: str = Field(min_length=1, max_length=200, examples=["credit-scoring"])
    digest: str = Field(pattern=r"^[0-9a-f]{64}$", description="The pushed Parquet object.")


class PredictionErasure(BaseModel):
    column: str = Field(min_length=1, max_length=200, examples=["customer_id"])
    values: list[str | int | float | bool] = Field(min_length=1, max_length=10_000)


@router.get("/hash-key", response_model=HashKey)
def hash_key(project: str, request: Request, caller: TokenInfo = WRITE) -> JSONResponse:
    """The project's key for hashed log columns, for a model server that logs here."""
    return JSONResponse({"key": _predictions(request, project).hash_key().hex()})


@router.post(
    "/parts",
    status_code=201,
    response_model=PartCreated,
    responses=errors({404: "No such project, or the part's object was not pushed."}),
)
def record_part(
    project: str, body: PredictionPartRecord, request: Request, caller: TokenInfo = WRITE
) -> JSONResponse:
    """Record a pushed Parquet part (read and checked here first)."""
    part_id = _predictions(request, project).record(body.kind, body.deployment, body.digest)
    return JSONResponse({"id": part_id}, status_code=201)


@router.get("/parts", response_model=list[PredictionPart])
def list_parts(
    project: str,
    request: Request,
    kind: Kind = KIND,
    deployment: str | None = DEPLOYMENT,
    since_ms: int | None = SINCE,
    until_ms: int | None = UNTIL,
    caller: TokenInfo = READ,
) -> JSONResponse:
    """Parts whose rows fall in the window, oldest first."""
    parts = _predictions(request, project).parts(
        kind, deployment=deployment, since_ms=since_ms, until_ms=until_ms
    )
    return JSONResponse(parts)


@router.get(
    "/rows",
    response_class=Response,
    responses=binary_answer("The rows in the window as one Parquet file.", PARQUET),
)
def read_rows(
    project: str,
    request: Request,
    kind: Kind = KIND,
    deployment: str | None = DEPLOYMENT,
    since_ms: int | None = SINCE,
    until_ms: int | None = UNTIL,
    columns: list[str] | None = COLUMNS,
    caller: TokenInfo = READ,
) -> Response:
    """The rows in the window as one Parquet file."""
    from keel.serving.predictions import to_parquet

    table = _predictions(request, project).read(
        kind, deployment=deployment, since_ms=since_ms, until_ms=until_ms, columns=columns
    )
    return Response(to_parquet(table), media_type=PARQUET)


@router.get(
    "/requests/{request_id}",
    response_model=LoggedRequest,
    responses=errors({404: "No such project, or the request was not logged."}),
)
def find_request(
    project: str,
    request: Request,
    request_id: str = Path(min_length=1, max_length=200),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """One request's logged rows (inputs as served, predictions) and feedback on it."""
    found = _predictions(request, project).find_request(request_id)
    if found is None:
        raise NotFound(
            f"No logged request {request_id[:60]!r} in project {project!r}: it was not "
            "logged (sampling, logging off) or not flushed yet."
        )
    return JSONResponse(found)


@router.post("/erase", response_model=Erased)
def erase(
    project: str, body: PredictionErasure, request: Request, caller: TokenInfo = ADMIN
) -> Any:
    """Remove the rows whose column holds one of the values from every part, for good."""
    actor = Actor(caller.name, caller.role).name
    removed = _predictions(request, project).erase(
        column=body.column, values=body.values, actor=actor
    )
    return JSONResponse({"rows_removed": removed})
