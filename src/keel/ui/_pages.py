"""The dashboard's pages under ``/ui``: Jinja2 shells whose plain JavaScript fetches every
piece of data it shows from ``/api/v1``, with the caller's token, so a page shows nothing
the REST API would not give the same caller.

The shells carry no project data, so they are served without a token; the data requests
are what the server checks (and a reader's approve or rollback is refused there too).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from keel.errors import InvalidInput, NotFound
from keel.store import check_project_name

__all__ = ["PAGES", "mount"]

HERE = Path(__file__).parent
PAGES = {
    "overview": "Overview",
    "runs": "Runs",
    "models": "Models",
    "deployments": "Deployments",
    "datasets": "Datasets",
    "monitoring": "Monitoring",
    "lineage": "Lineage",
    "pipelines": "Pipelines",
}
"""The pages in the navigation bar, by path under a project, with their titles."""

_STATIC = {"keel.css": "text/css", "plotly.min.js": "text/javascript"}
_HEADERS = {
    # The pages' own scripts and styles only: nothing inline, nothing from elsewhere.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' "
        "'unsafe-inline'; img-src 'self' data: blob:; frame-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
"""plotly.js sets inline styles on what it draws (hence 'unsafe-inline' for styles only)."""

_templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The dashboard's stylesheet and scripts, and plotly.js from the installed package."""
    if name == "plotly.min.js":
        path = _plotly_js()
    elif name in _STATIC or (name.endswith(".js") and "/" not in name and ".." not in name):
        path = HERE / "static" / name
    else:
        path = None
    if path is None or not path.is_file():
        raise NotFound(f"The dashboard has no file {name[:100]!r}.")
    media = "text/javascript" if name.endswith(".js") else _STATIC.get(name, "text/plain")
    return FileResponse(path, media_type=media, headers={"Cache-Control": "max-age=3600"})


@router.get("")
@router.get("/")
def home(request: Request) -> RedirectResponse:
    """The configured project's overview."""
    project = request.app.state.store.config.project
    return RedirectResponse(f"/ui/p/{project}/", status_code=307)


def _page(request: Request, project: str, page: str, **context: object) -> HTMLResponse:
    check_project_name(project)
    return _templates.TemplateResponse(
        request,
        f"{page}.html",
        {"project": project, "page": page, "pages": PAGES, **context},
        headers=_HEADERS,
    )


def _ident(value: str, what: str, limit: int = 300) -> str:
    """A name or id from the path, refused when it could not be one."""
    if not value or len(value) > limit or any(ord(c) < 32 for c in value):
        raise InvalidInput(f"That is not a {what}: {value[:60]!r}. Pick one from its list page.")
    return value


@router.get("/p/{project}/")
def overview(request: Request, project: str) -> HTMLResponse:
    """Experiments, datasets, models, deployments, open alerts, recent activity."""
    return _page(request, project, "overview")


@router.get("/p/{project}/runs")
def runs(request: Request, project: str) -> HTMLResponse:
    """The runs table: filter, sort, columns, pages; select runs to compare."""
    return _page(request, project, "runs")


@router.get("/p/{project}/runs/{run_id}")
def run(request: Request, project: str, run_id: str) -> HTMLResponse:
    """One run: params, tags, metric charts, system metrics, artifacts, code, lineage."""
    return _page(request, project, "run", run_id=_ident(run_id, "run id", 64))


@router.get("/p/{project}/compare")
def compare(request: Request, project: str) -> HTMLResponse:
    """Two to ten runs side by side (``?ids=a,b``): overlaid metrics and a param diff."""
    return _page(request, project, "compare")


@router.get("/p/{project}/models")
def models(request: Request, project: str) -> HTMLResponse:
    """Every registered model."""
    return _page(request, project, "models")


@router.get("/p/{project}/models/{name}")
def model(request: Request, project: str, name: str) -> HTMLResponse:
    """A model's versions, aliases, evaluations, approvals, card and history."""
    return _page(request, project, "model", name=_ident(name, "model name", 200))


@router.get("/p/{project}/deployments")
def deployments(request: Request, project: str) -> HTMLResponse:
    """Every deployment with its routes."""
    return _page(request, project, "deployments")


@router.get("/p/{project}/deployments/{name}")
def deployment(request: Request, project: str, name: str) -> HTMLResponse:
    """A deployment's traffic split, rollout history with canary steps, and rollback."""
    return _page(request, project, "deployment", name=_ident(name, "deployment name", 200))


@router.get("/p/{project}/datasets")
def datasets(request: Request, project: str) -> HTMLResponse:
    """Every dataset."""
    return _page(request, project, "datasets")


@router.get("/p/{project}/datasets/{name}")
def dataset(request: Request, project: str, name: str) -> HTMLResponse:
    """A dataset's versions, schema, profile, diff and validation reports."""
    return _page(request, project, "dataset", name=_ident(name, "dataset name", 200))


@router.get("/p/{project}/monitoring")
def monitoring(request: Request, project: str) -> HTMLResponse:
    """Drift heat maps of the monitors, distributions, and alerts."""
    return _page(request, project, "monitoring")


@router.get("/p/{project}/lineage")
def lineage(request: Request, project: str) -> HTMLResponse:
    """The lineage graph around a record (``?ref=credit:v3`` or ``run:<id>``)."""
    return _page(request, project, "lineage")


@router.get("/p/{project}/pipelines")
def pipelines(request: Request, project: str) -> HTMLResponse:
    """Every pipeline with its last run and triggers, recent runs, and the agent's state."""
    return _page(request, project, "pipelines")


@router.get("/p/{project}/pipelines/{name}")
def pipeline(request: Request, project: str, name: str) -> HTMLResponse:
    """A pipeline's steps, params, triggers and run history."""
    return _page(request, project, "pipeline", name=_ident(name, "pipeline name", 200))


@router.get("/p/{project}/pipelines/{name}/runs/{run_id}")
def pipeline_run(request: Request, project: str, name: str, run_id: str) -> HTMLResponse:
    """A pipeline run: its DAG with each step's state, logs, approvals, resume and cancel."""
    return _page(
        request,
        project,
        "pipeline-run",
        name=_ident(name, "pipeline name", 200),
        run_id=_ident(run_id, "pipeline run id", 64),
        nav="pipelines",
    )


def mount(app: FastAPI) -> None:
    """Serve the dashboard on ``app`` under ``/ui``, with ``/`` leading there."""
    app.include_router(router)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui/", status_code=307)
