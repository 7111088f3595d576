"""/api/v1/projects/{project}/alerts: the incidents monitors opened.

Readers list and read them; a writer acknowledges one (someone is on it) or resolves it by
hand, recorded under the token's name in the alert and in the audit trail.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from keel.monitoring.alerts import AlertService
from keel.store.actors import Actor

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors
from ..schemas.monitoring import Alert
from ..tokens import TokenInfo

__all__ = ["router"]

router = APIRouter(prefix="/projects/{project}/alerts", tags=["alerts"], responses=PROJECT_ERRORS)
READ, WRITE = Depends(require("reader")), Depends(require("writer"))
ALERT = Path(max_length=64, description="An alert's id.")
NOT_FOUND = errors({404: "No such project, or no such alert in it."})
ACTED = errors(
    {
        404: "No such project, or no such alert in it.",
        409: "The alert is resolved already; nothing changed.",
    }
)


def _alerts(request: Request, project: str, caller: TokenInfo | None = None) -> AlertService:
    # the token is the actor: its name goes on the alert and in the audit trail
    actor = None if caller is None else Actor(caller.name, caller.role)
    return AlertService(request.app.state.store, project=project, actor=actor)


class AlertComment(BaseModel):
    comment: str | None = Field(None, max_length=2000, examples=["looking at the feed"])


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


@router.post("/{alert_id}/acknowledge", response_model=Alert, responses=ACTED)
def acknowledge_alert(
    project: str,
    request: Request,
    body: AlertComment | None = None,
    alert_id: str = ALERT,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Acknowledge an open alert (writer): it stays open, showing who is on it."""
    comment = body.comment if body is not None else None
    return JSONResponse(_alerts(request, project, caller).acknowledge(alert_id, comment).to_dict())


@router.post("/{alert_id}/resolve", response_model=Alert, responses=ACTED)
def resolve_alert(
    project: str,
    request: Request,
    body: AlertComment | None = None,
    alert_id: str = ALERT,
    caller: TokenInfo = WRITE,
) -> JSONResponse:
    """Resolve an open alert by hand (writer)."""
    comment = body.comment if body is not None else None
    return JSONResponse(_alerts(request, project, caller).resolve(alert_id, comment).to_dict())
