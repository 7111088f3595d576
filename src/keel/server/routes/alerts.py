"""/api/v1/projects/{project}/alerts: the incidents monitors opened, for reader tokens."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request

from keel.monitoring.alerts import AlertService

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors
from ..schemas.monitoring import Alert
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}/alerts", tags=["alerts"], responses=PROJECT_ERRORS)
READ = Depends(require("reader"))
ALERT = Path(max_length=64, description="An alert's id.")
NOT_FOUND = errors({404: "No such project, or no such alert in it."})


def _alerts(request: Request, project: str) -> AlertService:
    return AlertService(request.app.state.store, project=project)


@router.get("", response_model=list[Alert])
def list_alerts(
    project: str,
    request: Request,
    status: Literal["open", "resolved", "all"] = Query("open", description="Which alerts."),
    monitor: str | None = Query(None, max_length=200, description="One monitor's only."),
    limit: int = Query(100, ge=1, le=1000, description="At most this many, newest first."),
    caller: TokenInfo = READ,
) -> JSONResponse:
    """Alerts newest first: severity, status, message, findings and what each action did."""
    alerts = _alerts(request, project).list(status=status, monitor=monitor, limit=limit)
    return JSONResponse([a.to_dict() for a in alerts])


@router.get("/{alert_id}", response_model=Alert, responses=NOT_FOUND)
def get_alert(
    project: str, request: Request, alert_id: str = ALERT, caller: TokenInfo = READ
) -> JSONResponse:
    """One alert."""
    return JSONResponse(_alerts(request, project).get(alert_id).to_dict())
