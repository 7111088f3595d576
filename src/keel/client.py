"""``keel.Client``: the one seam between keel's faces (SDK, CLI, server) and its concepts.

A client resolves the configuration once and picks each concept's transport by the URI's
scheme, in one table (:data:`TRANSPORTS`): a SQLite or PostgreSQL URI reaches the store
directly, an ``http(s)`` URI reaches a keel server. Everything else asks a client for the
concept it needs (``client.runs``, ``client.datasets``, ``client.models``,
``client.deployments``, ``client.predictions``, ``client.monitors``, ``client.alerts``,
``client.lineage(ref)``, ``client.reports()``) instead of building services of its own;
the SDK's top-level functions work on :func:`default_client`.

Example::

    import keel

    client = keel.Client("sqlite:///team.db", objects="/srv/keel/objects", project="credit")
    with client.tracker.start_run("baseline") as run:
        run.log_metric("auc", 0.91)
    client.datasets.versions("applications")
"""

from __future__ import annotations

import re
import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from keel.config import Config
from keel.errors import ConfigError

if TYPE_CHECKING:
    from keel._remote import RemoteClient
    from keel.data import DatasetService
    from keel.deploy import DeploymentService
    from keel.deploy._http import HttpDeployments
    from keel.monitoring import MonitorService
    from keel.monitoring._alerts_http import HttpAlerts
    from keel.monitoring._http import HttpMonitors
    from keel.monitoring.alerts import AlertService
    from keel.pipelines import PipelineService
    from keel.pipelines._approvals_http import HttpApprovals
    from keel.pipelines._http import HttpPipelines
    from keel.pipelines.approvals import ApprovalService
    from keel.registry import RegistryService
    from keel.registry._http import HttpRegistry
    from keel.serving import PredictionStore
    from keel.serving._predictions_http import HttpPredictions
    from keel.store import Store
    from keel.store.lineage import LineageGraph
    from keel.store.objects import ObjectStore
    from keel.tracking import Tracker, TrackingBackend
    from keel.validation import ValidationReport

__all__ = ["TRANSPORTS", "Client", "default_client", "reset_default_client"]


class _StoreTransport:
    """Concepts over a metadata store and an object store this process opens itself."""

    remote = False

    def __init__(self, config: Config) -> None:
        self.config = config

    @cached_property
    def store(self) -> Store:
        from keel.store import Store

        return Store.open(self.config)

    def objects(self) -> ObjectStore:
        return self.store.objects

    def runs(self) -> TrackingBackend:
        from keel.tracking import SqlTracking

        return SqlTracking(self.store, project=self.config.project)

    def datasets(self) -> DatasetService:
        from keel._deletion import datasets_with_holders
        from keel.data import DatasetService

        return datasets_with_holders(DatasetService(self.store, project=self.config.project))

    def models(self) -> RegistryService:
        from keel._deletion import models_with_holders
        from keel.registry import RegistryService

        return models_with_holders(RegistryService(self.store, project=self.config.project))

    def deployments(self) -> DeploymentService:
        from keel.deploy import DeploymentService

        return DeploymentService(self.store, project=self.config.project)

    def predictions(self) -> PredictionStore:
        from keel.serving import PredictionStore

        return PredictionStore(self.store, project=self.config.project)

    def monitors(self) -> MonitorService:
        from keel.monitoring import MonitorService

        return MonitorService(self.store, project=self.config.project)

    def alerts(self) -> AlertService:
        from keel.monitoring.alerts import AlertService

        return AlertService(self.store, project=self.config.project)

    def approvals(self) -> ApprovalService:
        from keel.pipelines.approvals import ApprovalService

        return ApprovalService(self.store, project=self.config.project)

    def pipelines(self, client: Client) -> PipelineService:
        from keel.pipelines import PipelineService

        return PipelineService(self.store, project=self.config.project, client=client)

    def lineage(self, ref: str, *, direction: str, depth: int) -> LineageGraph:
        from keel._lineage_sdk import graph_around

        return graph_around(self.store, self.config.project, ref, direction=direction, depth=depth)

    def reports(self, subject: str | None, *, limit: int) -> list[dict[str, Any]]:
        from keel._lineage_sdk import node_in
        from keel.validation import ReportRecords

        records = ReportRecords(self.store, self.config.project)
        if subject is None:
            return records.list(limit=limit)
        return records.list(node_in(self.store, self.config.project, subject), limit=limit)

    def report(self, report_id: str) -> ValidationReport:
        from keel.validation import ReportRecords

        return ReportRecords(self.store, self.config.project).get(report_id)

    def report_html(self, report_id: str) -> str:
        from keel.validation import ReportRecords

        return ReportRecords(self.store, self.config.project).html(report_id)

    def projects(self) -> list[dict[str, Any]]:
        return self.store.projects()

    def create_project(self, name: str) -> dict[str, Any]:
        project_id = self.store.create_project(name)
        return next(p for p in self.store.projects() if p["id"] == project_id)

    def gc(self, **options: Any) -> dict[str, Any]:
        from keel._gc import run_gc

        return run_gc(self.store, **options)

    def close(self) -> None:
        if "store" in self.__dict__:
            self.store.close()


class _ServerTransport:
    """Concepts through a keel server's REST API (``http(s)://host:port`` and a token)."""

    remote = True

    def __init__(self, config: Config) -> None:
        self.config = config
        self._opened: list[Any] = []

    @property
    def store(self) -> Store:
        raise _not_through_a_server("The store itself", self.config)

    def objects(self) -> ObjectStore:
        from keel.store.objects import HttpObjectStore

        objects = HttpObjectStore(self.config.uri, token=self.config.token)
        self._opened.append(objects)
        return objects

    def runs(self) -> TrackingBackend:
        from keel.tracking._http import HttpTracking

        backend = HttpTracking(
            self.config.uri, token=self.config.token, project=self.config.project
        )
        self._opened.append(backend)
        return backend

    def datasets(self) -> DatasetService:
        from keel.data._http import HttpDatasets

        # the same methods and values as DatasetService: the SDK and CLI take either
        return HttpDatasets(self._remote, self.objects(), self.config.project)  # type: ignore[return-value]

    def models(self) -> HttpRegistry:
        from keel.registry._http import HttpRegistry

        return HttpRegistry(self._remote, self.objects(), project=self.config.project)

    def deployments(self) -> HttpDeployments:
        from keel.deploy._http import HttpDeployments

        return HttpDeployments(self._remote, project=self.config.project)

    def predictions(self) -> HttpPredictions:
        from keel.serving._predictions_http import HttpPredictions

        return HttpPredictions(self._remote, self.objects(), self.config)

    def monitors(self) -> HttpMonitors:
        from keel.monitoring._http import HttpMonitors

        return HttpMonitors(self._remote, project=self.config.project)

    def alerts(self) -> HttpAlerts:
        from keel.monitoring._alerts_http import HttpAlerts

        return HttpAlerts(self._remote, project=self.config.project)

    def approvals(self) -> HttpApprovals:
        from keel.pipelines._approvals_http import HttpApprovals

        return HttpApprovals(self._remote, project=self.config.project)

    def pipelines(self, client: Client) -> HttpPipelines:
        from keel.pipelines._http import HttpPipelines

        return HttpPipelines(self._remote, project=self.config.project)

    @cached_property
    def _remote(self) -> RemoteClient:
        from keel._remote import RemoteClient

        remote = RemoteClient(self.config.uri, token=self.config.token)
        self._opened.append(remote)
        return remote

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        from urllib.parse import quote

        project = quote(self.config.project, safe="")
        return self._remote.json("GET", f"/api/v1/projects/{project}{path}", params=params)

    def lineage(self, ref: str, *, direction: str, depth: int) -> LineageGraph:
        from keel.store.lineage import LineageGraph, check_walk

        check_walk(direction, depth)
        params = {"ref": ref, "direction": direction, "depth": depth}
        return LineageGraph.from_dict(self._get("/lineage", params))

    def reports(self, subject: str | None, *, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if subject is not None:
            params["subject"] = subject
        return self._get("/validation/reports", params)

    def report(self, report_id: str) -> ValidationReport:
        from keel.validation import ValidationReport

        return ValidationReport.from_dict(self._get(self._report_path(report_id)))

    def report_html(self, report_id: str) -> str:
        from urllib.parse import quote

        project = quote(self.config.project, safe="")
        path = f"/api/v1/projects/{project}{self._report_path(report_id)}/html"
        return self._remote.request("GET", path).text

    def _report_path(self, report_id: str) -> str:
        # An id that is not one path segment would name another route: no report has one.
        if not isinstance(report_id, str) or not _REPORT_ID.match(report_id):
            from keel.errors import NotFound

            raise NotFound(
                f"No validation report {str(report_id)[:60]!r} in project "
                f"{self.config.project!r}: report ids are letters, digits, '_' and '-'. "
                "List them with client.reports()."
            )
        return f"/validation/reports/{report_id}"

    def projects(self) -> list[dict[str, Any]]:
        return self._remote.json("GET", "/api/v1/projects")

    def create_project(self, name: str) -> dict[str, Any]:
        return self._remote.json("POST", "/api/v1/projects", json={"name": name})

    def gc(self, **options: Any) -> dict[str, Any]:
        grace = options.get("grace")
        body = {
            "objects": options.get("objects", False),
            "grace_minutes": None if grace is None else grace / 60,
            "retention_days": options.get("retention_days"),
            "dry_run": options.get("dry_run", False),
        }
        return self._remote.json("POST", "/api/v1/gc", json=body)

    def close(self) -> None:
        for opened in self._opened:
            opened.close()
        self._opened.clear()
        self.__dict__.pop("_remote", None)


_REPORT_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")

TRANSPORTS: dict[str, type[_StoreTransport] | type[_ServerTransport]] = {
    "sqlite": _StoreTransport,
    "postgresql": _StoreTransport,
    "http": _ServerTransport,
    "https": _ServerTransport,
}
"""Transport by the metadata URI's scheme (the part before ``:`` and any ``+driver``)."""


def _not_through_a_server(what: str, config: Config) -> ConfigError:
    return ConfigError(
        f"{what} cannot be reached through a keel server yet ({config.uri}): point KEEL_URI "
        "at the database (and KEEL_OBJECTS at the object store) to use it."
    )


def _transport(config: Config) -> _StoreTransport | _ServerTransport:
    scheme = config.uri.split(":", 1)[0].split("+", 1)[0].lower()
    try:
        return TRANSPORTS[scheme](config)
    except KeyError:
        raise ConfigError(
            f"No transport for {config.uri!r}: the URI scheme {scheme!r} is not one of "
            f"{', '.join(sorted(TRANSPORTS))}. Set KEEL_URI to a SQLite file, a PostgreSQL "
            "URL or a keel server's http(s) address."
        ) from None


class Client:
    """keel, configured once: every concept over one store or one server.

    Args:
        uri: metadata store (``sqlite:///...``, ``postgresql+psycopg://...``) or keel server
            (``https://keel.internal``); the nearest ``.keel/`` or ``KEEL_URI`` by default.
        objects: object store folder or fsspec URL (local stores only).
        project: project to work in.
        token: bearer token for a keel server.
        config: an already resolved configuration (then the other arguments must be None).
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        objects: str | None = None,
        project: str | None = None,
        token: str | None = None,
        config: Config | None = None,
    ) -> None:
        if config is None:
            from keel.config import resolve

            given = {"uri": uri, "objects": objects, "project": project, "token": token}
            config = resolve(**{k: v for k, v in given.items() if v is not None})
        elif any(v is not None for v in (uri, objects, project, token)):
            raise ConfigError("Give either config= or uri/objects/project/token, not both.")
        self.config = config
        self._transport = _transport(config)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Client({self.config.uri!r}, project={self.config.project!r})"

    @property
    def remote(self) -> bool:
        """Whether concepts go through a keel server rather than straight to a store."""
        return self._transport.remote

    @property
    def store(self) -> Store:
        """The store (local transports only): for tools such as fsck and gc."""
        return self._transport.store

    @cached_property
    def objects(self) -> ObjectStore:
        """Content-addressed objects: the store's own, or a keel server's through its API
        (a push sends only the objects the server lacks)."""
        return self._transport.objects()

    @cached_property
    def runs(self) -> TrackingBackend:
        """Experiment tracking: runs, metrics, params, tags, artifacts."""
        return self._transport.runs()

    @cached_property
    def tracker(self) -> Tracker:
        """Starts runs on :attr:`runs`, with this client's system metrics and heartbeat."""
        from keel.tracking import Tracker

        return Tracker(
            self.runs,
            system_metrics=self.config.sample_system_metrics,
            heartbeat=self.config.run_heartbeat_timeout / 5,
        )

    @cached_property
    def datasets(self) -> DatasetService:
        """Dataset versions, profiles, diffs, erasure."""
        return self._transport.datasets()

    @cached_property
    def models(self) -> RegistryService | HttpRegistry:
        """The model registry: versions, aliases, approvals, evaluations (the same methods
        through a keel server: the package is built here and its files pushed)."""
        return self._transport.models()

    @cached_property
    def deployments(self) -> DeploymentService | HttpDeployments:
        """Deployments as config: plan and apply specs, roll back, read rollout history
        (the same methods through a keel server)."""
        return self._transport.deployments()

    @cached_property
    def predictions(self) -> PredictionStore | HttpPredictions:
        """Prediction logs and feedback as Parquet parts: what a model server's
        :class:`~keel.serving.PredictionLogger` writes to, and what lineage, the lake and
        erasure read (the same methods through a keel server)."""
        return self._transport.predictions()

    @cached_property
    def monitors(self) -> MonitorService | HttpMonitors:
        """Monitors of deployments: apply specs, evaluate now or over past windows, read
        results (the same methods through a keel server, which evaluates)."""
        return self._transport.monitors()

    @cached_property
    def alerts(self) -> AlertService | HttpAlerts:
        """Alerts monitors opened: ``list(status="open"|"resolved"|"all", monitor=,
        limit=)`` and ``get(id)`` (the same methods through a keel server)."""
        return self._transport.alerts()

    @cached_property
    def approvals(self) -> ApprovalService | HttpApprovals:
        """Approvals pipeline runs wait for (``keel.approval``): ``list(status="pending"|
        "approved"|"rejected"|"expired"|"all", limit=)``, ``get(id)``, ``approve(id,
        comment=)``, ``reject(id, comment=)`` (an approver decides; ids may be shortened to
        an unambiguous prefix), and ``request(run, step, title, timeout=)`` for steps (the
        same methods through a keel server)."""
        return self._transport.approvals()

    @cached_property
    def pipelines(self) -> PipelineService | HttpPipelines:
        """Pipelines and their runs: ``list()``, ``get(name)``, ``runs(name=, status=,
        limit=)``, ``run(id)``, ``logs(id, step=)``, ``submit(name, params)``,
        ``resume(id)``, ``cancel(id)`` (through a keel server, ``submit`` and ``resume``
        queue the run for the server's agent)."""
        return self._transport.pipelines(self)

    def lineage(self, ref: str, *, direction: str = "both", depth: int = 20) -> LineageGraph:
        """The records upstream (``up``), downstream (``down``) or both of ``ref``
        (``credit:v3``, ``run:<id>`` or a run id), following at most ``depth`` edges."""
        return self._transport.lineage(ref, direction=direction, depth=depth)

    def reports(self, subject: str | None = None, *, limit: int = 100) -> list[dict[str, Any]]:
        """Validation reports on record, newest first: id, passed, summary, created_at,
        subject_kind, subject_id; only those on ``subject`` (``credit:v3``, ``run:<id>``)
        if given."""
        return self._transport.reports(subject, limit=limit)

    def report(self, report_id: str) -> ValidationReport:
        """One validation report, every check's result included."""
        return self._transport.report(report_id)

    def report_html(self, report_id: str) -> str:
        """One validation report as a self-contained HTML page."""
        return self._transport.report_html(report_id)

    def projects(self) -> list[dict[str, Any]]:
        """Every project this client may use: name, id, created_at."""
        return self._transport.projects()

    def create_project(self, name: str) -> dict[str, Any]:
        """Create a project (an admin call on a server); other calls never create one, except
        the first write to ``default``.

        Raises:
            AlreadyExists: a project has this name.
            InvalidInput: the name breaks the rule (1-100 of letters, digits, '.', '_', '-').
        """
        return self._transport.create_project(name)

    def gc(
        self,
        *,
        objects: bool = False,
        grace: float | None = None,
        retention_days: float | None = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Purge runs and experiments deleted longer than ``retention_days`` ago and, with
        ``objects``, remove objects nothing refers to that nobody wrote within ``grace``
        seconds (an admin call on a server); ``dry_run`` only reports. See
        :func:`keel.store.gc.collect_objects` for why this is safe beside active writers.
        """
        return self._transport.gc(
            objects=objects, grace=grace, retention_days=retention_days, dry_run=dry_run
        )

    def close(self) -> None:
        """Flush buffered metrics and close connections."""
        if "tracker" in self.__dict__:
            self.tracker.close()
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The client of the current configuration (:func:`keel.config.current`), made on
    first use and made again when the configuration is reset. Inside a pipeline step it is
    the step's client, so ``keel.load_dataset`` or ``keel.start_run`` in a step reach the
    store and project the pipeline runs in, whatever process the step runs in."""
    global _default
    from keel._context import active_step

    step = active_step()
    if step is not None and getattr(step, "client", None) is not None:
        return step.client
    from keel import config as config_module

    config = config_module.current()
    with _default_lock:
        if _default is None or _default.config is not config:
            if _default is not None:
                _default.close()
            _default = Client(config=config)
        return _default


def reset_default_client() -> None:
    """Flush and close the default client, and forget the configuration it was made from."""
    global _default
    from keel import config as config_module

    with _default_lock:
        if _default is not None:
            _default.close()
        _default = None
    config_module.reset()
