"""The platform server: the REST API over the same services the SDK uses."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.responses import Response

from keel._version import __version__
from keel.config import Config
from keel.store import Store

from ._body_limit import BodyLimit, streaming_routes
from ._errors import install_error_handlers
from ._json import JSONResponse
from ._openapi import operation_id
from ._request_log import RequestLog
from .auth import require
from .routes import (
    activity,
    alerts,
    approvals,
    datasets,
    deletion,
    deployments,
    lineage,
    models,
    monitors,
    objects,
    pipelines,
    predictions,
    projects,
    tracking,
    validation,
)
from .routes import agent as agent_routes
from .schemas import AUTH_ERRORS, binary_answer
from .schemas.server import Health
from .tokens import TokenInfo, TokenService

__all__ = ["create_app", "factory"]


def create_app(config: Config | None = None, *, auth: bool | None = None) -> FastAPI:
    """The keel server app over the store a configuration points at.

    Args:
        config: where the store is (the current configuration by default).
        auth: require a bearer token on every request; by default the configuration's
            ``server_auth`` setting (on unless set to false).
    """
    from keel import config as config_module

    config = config or config_module.current()
    if auth is None:
        auth = config.server_auth
    # Every read a request makes stops at the deadline, so no request holds a thread,
    # a connection and its memory for longer, even after its client has gone.
    store = Store.open(config, read_timeout_ms=config.query_timeout_ms)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        agent = agent_client = None
        if config.agent_tick_seconds > 0:  # monitors, triggers and runs (one agent leads)
            from keel.client import Client

            from .agent import Agent

            agent_client = Client(config=config)
            agent = Agent(agent_client)
            agent.start()
        app.state.agent = agent
        yield
        if agent is not None:
            agent.stop()
        if agent_client is not None:
            agent_client.close()
        store.close()

    app = FastAPI(
        title="keel",
        version=__version__,
        description=(
            "keel platform API: experiment tracking, lineage and validation reports "
            "(more concepts as they land)."
        ),
        default_response_class=JSONResponse,
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.tokens = TokenService(store)
    app.state.auth = auth
    app.state.max_upload = config.max_upload_mb * 1024 * 1024
    app.state.max_request = config.max_request_mb * 1024 * 1024
    install_error_handlers(app)
    app.add_middleware(RequestLog)  # outermost: logs every answer, refusals included
    app.add_middleware(
        BodyLimit,
        limit=app.state.max_request,
        streams=streaming_routes(tracking.router, objects.router, prefix="/api/v1"),
    )

    @app.get("/api/v1/health", tags=["server"], response_model=Health)
    def health() -> dict[str, str]:
        """Liveness: the server answers and can read its store."""
        with store.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    @app.get(
        "/metrics",
        tags=["server"],
        response_class=Response,
        responses={**AUTH_ERRORS, **binary_answer("Prometheus text format.", "text/plain")},
    )
    def metrics(caller: TokenInfo = Depends(require("reader"))) -> Response:  # noqa: B008
        """Prometheus gauges of monitors and alerts (the projects a scoped token may read)."""
        from keel.monitoring._prometheus import CONTENT_TYPE, render

        return Response(render(store, caller.projects), media_type=CONTENT_TYPE)

    app.include_router(projects.router, prefix="/api/v1")
    app.include_router(tracking.router, prefix="/api/v1")
    app.include_router(objects.router, prefix="/api/v1")
    app.include_router(lineage.router, prefix="/api/v1")
    app.include_router(validation.router, prefix="/api/v1")
    app.include_router(models.router, prefix="/api/v1")
    app.include_router(datasets.router, prefix="/api/v1")
    app.include_router(deployments.router, prefix="/api/v1")
    app.include_router(predictions.router, prefix="/api/v1")
    app.include_router(monitors.router, prefix="/api/v1")
    app.include_router(alerts.router, prefix="/api/v1")
    app.include_router(approvals.router, prefix="/api/v1")
    app.include_router(activity.router, prefix="/api/v1")
    app.include_router(agent_routes.router, prefix="/api/v1")
    app.include_router(pipelines.router, prefix="/api/v1")
    app.include_router(deletion.router, prefix="/api/v1")
    from keel.ui import mount as mount_dashboard

    mount_dashboard(app)  # the dashboard's pages under /ui; / leads there
    return app


def factory() -> FastAPI:
    """Entry point for uvicorn (``uvicorn --factory keel.server.app:factory``).

    Everything comes from the configuration, authentication included: a server started
    this way requires tokens unless ``server_auth`` (KEEL_SERVER_AUTH) is set to false.
    """
    from keel._logging import configure_logging, configured
    from keel.config import setting

    if not configured():  # a worker process of its own logs as the keel command does
        configure_logging(setting("log_level"), setting("log_format"))
    return create_app()
