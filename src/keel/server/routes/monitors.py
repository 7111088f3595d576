"""/api/v1/projects/{project}/monitors: monitors over HTTP.

A spec travels as JSON (``spec``, with the ``lines`` and ``source`` a client's parsed file
gave, so errors still name the line) or as the YAML text (``yaml``). Reading monitors and
results needs a reader token; applying, running and backfilling need a writer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from keel.errors import InvalidInput
from keel.monitoring import MonitorService, MonitorSpec, parse_monitor_text
from keel.store.actors import Actor

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors
from ..schemas.monitoring import Monitor, MonitorReport, MonitorResult
from ..schemas.monitoring import MonitorSpec as MonitorSpecOut
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(
    prefix="/projects/{project}/monitors", tags=["monitors"], responses=PROJECT_ERRORS
)
READ, WRITE = Depends(require("reader")), Depends(require("writer"))
NAME = Path(max_length=200, description="The monitor's name.", examples=["credit-drift"])
NOT_FOUND = errors({404: "No such project or monitor."})
MS = 2**53


def _monitors(request: Request, project: str, caller: TokenInfo) -> MonitorService:
    return MonitorService(
        request.app.state.store, project=project, actor=Actor(caller.name, caller.role)
    )


class MonitorSpecBody(BaseModel):
    spec: dict[str, Any] | None = Field(None, description="The spec (MonitorSpec.to_dict).")
    yaml: str | None = Field(None, max_length=1_000_000, description="Or the file's text.")
    lines: dict[str, int] = Field(default_factory=dict, max_length=10_000)
    source: str | None = Field(None, max_length=500, description="The file it came from.")

    def to_spec(self) -> MonitorSpec:
        if (self.spec is None) == (self.yaml is None):
            raise InvalidInput(
                "Send the monitor as exactly one of 'spec' (JSON) or 'yaml' (the file's text)."
            )
        if self.yaml is not None:
            return parse_monitor_text(self.yaml, source=self.source or "the monitor")
        spec = MonitorSpec.from_dict(self.spec or {})
        if self.source is None:
            return spec
        return replace(spec, lines=dict(self.lines), source=self.source)


class MonitorRunBody(BaseModel):
    now_ms: int | None = Field(None, ge=0, le=MS, description="Evaluate as of (epoch ms).")


class MonitorBackfillBody(BaseModel):
    from_ms: int = Field(ge=0, le=MS, description="First window's start (epoch ms).")
    to_ms: int = Field(ge=0, le=MS, description="Last window's end (epoch ms).")


@router.get("", response_model=list[Monitor])
def list_monitors(project: str, request: Request, caller: TokenInfo = READ) -> JSONResponse:
    """Every monitor with its deployment, schedule and last verdict."""
    return JSONResponse(_monitors(request, project, caller).list())


@router.post("", response_model=Monitor)
def apply(project: str, body: MonitorSpecBody, request: Request, caller: TokenInfo = WRITE):
    """Record a monitor (or replace the one of that name)."""
    return JSONResponse(_monitors(request, project, caller).apply(body.to_spec()))


@router.get("/{name}", response_model=MonitorSpecOut, responses=NOT_FOUND)
def get(project: str, request: Request, name: str = NAME, caller: TokenInfo = READ):
    """The monitor's spec, as its YAML mapping."""
    return JSONResponse(_monitors(request, project, caller).get(name).to_dict())


@router.get("/{name}/results", response_model=list[MonitorResult], responses=NOT_FOUND)
def results(
    project: str,
    request: Request,
    name: str = NAME,
    limit: int = Query(100, ge=1, le=10_000),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """The newest results, newest first."""
    found = _monitors(request, project, caller).results(name, limit=limit)
    return JSONResponse([r.to_dict() for r in found])


@router.get("/{name}/report", response_model=MonitorReport, responses=NOT_FOUND)
def report(
    project: str,
    request: Request,
    name: str = NAME,
    limit: int = Query(500, ge=1, le=10_000),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """Results over time and the newest window's distributions against the reference."""
    return JSONResponse(_monitors(request, project, caller).report(name, limit=limit))


@router.post("/{name}/run", response_model=MonitorResult, responses=NOT_FOUND)
def run(
    project: str,
    request: Request,
    body: MonitorRunBody | None = None,
    name: str = NAME,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Evaluate the monitor now (or as of ``now_ms``) and store the result."""
    now_ms = body.now_ms if body is not None else None
    return JSONResponse(_monitors(request, project, caller).run(name, now_ms=now_ms).to_dict())


@router.post("/{name}/backfill", response_model=list[MonitorResult], responses=NOT_FOUND)
def backfill(
    project: str,
    body: MonitorBackfillBody,
    request: Request,
    name: str = NAME,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Evaluate past windows in order, oldest first (at most 1,000)."""
    done = _monitors(request, project, caller).backfill(name, body.from_ms, body.to_ms)
    return JSONResponse([r.to_dict() for r in done])
