"""/api/v1/projects/{project}/validation/reports: validation reports on record, over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import HTMLResponse, Response

from keel._lineage_sdk import node_in
from keel.validation import ReportRecords
from keel.validation._records import MAX_LISTED

from .._json import JSONResponse
from ..auth import require
from ..schemas import PROJECT_ERRORS, errors, page_errors
from .lineage import MAX_REF

__all__ = ["router"]

router = APIRouter(
    prefix="/projects/{project}/validation", tags=["validation"], responses=PROJECT_ERRORS
)
READ = Depends(require("reader"))
REPORT_ID = Path(min_length=1, max_length=200, examples=["9b1e0c4d2a7f4e3b8c6d5a4f3e2d1c0b"])
NOT_FOUND = errors({404: "No such project, or no such report in it."})
# The page is served from the API's origin: it may draw with inline CSS and SVG, nothing
# more (it has no scripts; this keeps it so whatever a column name or value holds).
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}


def _records(request: Request, project: str) -> ReportRecords:
    return ReportRecords(request.app.state.store, project)


class ReportSummary(BaseModel):
    id: str
    passed: bool
    summary: dict[str, Any] = Field(
        description="Verdict and counts.",
        examples=[
            {
                "subject": "credit:v3",
                "schema": "credit",
                "passed": False,
                "checks": 7,
                "failed": 1,
                "errors": 1,
                "warnings": 0,
                "rows": 5000,
            }
        ],
    )
    created_at: int = Field(description="Milliseconds since the epoch.")
    subject_kind: str = Field(examples=["dataset_version", "run"])
    subject_id: str


class CheckResult(BaseModel):
    name: str = Field(examples=["in_range(age)"])
    kind: str = Field(examples=["in_range"])
    column: str | None
    severity: str = Field(examples=["error", "warn"])
    passed: bool
    description: str = ""
    failing_rows: int | None = None
    failing_share: float | None = None
    observed: dict[str, Any] = Field(default_factory=dict, examples=[{"min": 3, "max": 140}])
    message: str = ""
    examples: list[dict[str, Any]] = Field(
        default_factory=list, description="A few failing rows, personal data masked."
    )


class Report(BaseModel):
    """A validation report as recorded: every check's result and the verdict."""

    model_config = ConfigDict(populate_by_name=True)

    format: str = Field(examples=["keel.validation/1"])
    id: str
    subject: str = Field(examples=["credit:v3"])
    subject_kind: str
    subject_id: str | None
    schema_name: str | None = Field(alias="schema", examples=["credit"])
    rows: int
    columns: int
    passed: bool
    results: list[CheckResult]
    created_at: str = Field(examples=["2025-01-31T12:00:00+00:00"])
    duration_ms: float


@router.get("/reports", response_model=list[ReportSummary], dependencies=[READ])
def list_reports(
    project: str,
    request: Request,
    subject: str | None = Query(
        None,
        min_length=1,
        max_length=MAX_REF,
        description="Only reports on this dataset version or run (credit:v3, run:<id>).",
        examples=["credit:v3"],
    ),
    limit: int = Query(100, ge=1, le=MAX_LISTED),
) -> JSONResponse:
    """Validation reports of the project, newest first."""
    store = request.app.state.store
    node = node_in(store, project, subject) if subject is not None else None
    return JSONResponse(_records(request, project).list(node, limit=limit))


@router.get("/reports/{report_id}", response_model=Report, dependencies=[READ], responses=NOT_FOUND)
def get_report(project: str, request: Request, report_id: str = REPORT_ID) -> Response:
    """One report with every check's result, as recorded."""
    report = _records(request, project).get(report_id)
    return Response(report.to_json(), media_type="application/json")


@router.get(
    "/reports/{report_id}/html",
    response_class=HTMLResponse,
    dependencies=[READ],
    responses={
        **page_errors("No such project, or no such report in it."),
        200: {"content": {"text/html": {}}},
    },
)
def get_report_html(project: str, request: Request, report_id: str = REPORT_ID) -> HTMLResponse:
    """One report as a self-contained HTML page (inline CSS and SVG, no scripts)."""
    return HTMLResponse(_records(request, project).html(report_id), headers=PAGE_HEADERS)
