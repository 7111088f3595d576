"""The model server: an ASGI app with a raw fast path for the hot endpoints.

``POST /v2/models/{name}/infer``, ``POST /predict``, the health checks and ``/metrics`` are
served here straight from ASGI messages with orjson, before FastAPI sees the request; FastAPI
serves the rest (model metadata, ``/feedback``) and the OpenAPI document, which declares the
hot routes too (see :mod:`keel.serving._api`).

Example::

    from keel.serving import create_app
    app = create_app("credit@champion")      # uvicorn.run(app, loop="uvloop")
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from keel._plural import plural
from keel.deploy import DeploymentSpec, parse_spec
from keel.errors import (
    InvalidInput,
    KeelError,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    Unauthenticated,
    did_you_mean,
)
from keel.store import new_id

from ._batcher import QueueFull
from ._metrics import CONTENT_TYPE, ServingMetrics
from ._models import ModelServer, ModelSet, Served
from ._protocol import oip_outputs, parse_infer, parse_predict, predictions, sticky_value

if TYPE_CHECKING:
    from keel.client import Client

__all__ = ["ServingApp", "create_app", "load_spec"]

log = logging.getLogger("keel.serving")

TOKEN_CACHE_SECONDS = 30.0
"""How long a checked token is trusted without asking the store again (revocation delay)."""

_JSON = [(b"content-type", b"application/json")]
_OPEN = frozenset({"/v2/health/live", "/v2/health/ready", "/docs", "/openapi.json"})
_INFER_PREFIX, _INFER_SUFFIX = "/v2/models/", "/infer"


def load_spec(target: str | Path | DeploymentSpec) -> DeploymentSpec:
    """The deployment ``keel serve TARGET`` runs: a spec, a YAML file or a model reference."""
    if isinstance(target, DeploymentSpec):
        return target
    text = str(target)
    if isinstance(target, Path) or text.endswith((".yaml", ".yml")) or Path(text).is_file():
        return parse_spec(Path(text))
    return DeploymentSpec.for_model(text)


def create_app(
    target: str | Path | DeploymentSpec,
    client: Client | None = None,
    *,
    authenticate: Callable[[str], Any] | None = None,
    poll_seconds: float | None = None,
    seed: int | None = None,
    follow: bool = True,
    leader: bool = True,
    health_seconds: float | None = None,
) -> ServingApp:
    """A model server app for a deployment spec, a YAML file or a model reference.

    Args:
        target: ``credit@champion``, ``deploy/credit.yaml`` or a :class:`DeploymentSpec`.
        client: where the models are registered (the default client if None).
        authenticate: turns a bearer secret into its caller (``TokenService.authenticate``:
            ``.allows(role)``, ``.allows_project(name)``) or raises ``Unauthenticated``;
            given, every request but the health checks needs a token (role reader to
            predict, writer to send feedback). None serves without tokens (loopback).
        poll_seconds: how often moved aliases are looked for (``serve_poll_seconds``).
        seed: seed of random routing (tests).
        follow: follow the deployment's recorded rollouts (``keel deploy apply``,
            ``rollback``, canary steps); a recorded deployment is served as recorded.
        leader: judge and record canary steps (with several workers, worker 0 only).
        health_seconds: how often this process records its service health
            (``serve_health_seconds``; see :mod:`keel.serving._health`).

    Raises:
        NotFound: a model, version or alias of the deployment does not exist.
        InvalidInput: the spec or reference is malformed.
    """
    if client is None:
        from keel.client import default_client

        client = default_client()
    spec = load_spec(target)  # a file is parsed once
    if follow:
        spec = _recorded(target, spec, client) or spec
    metrics = ServingMetrics(spec.name)
    server = ModelServer(
        client, spec, poll_seconds=poll_seconds, on_batch=metrics.batch_observer, seed=seed
    )
    metrics.watch(server)
    app = ServingApp(server, metrics, client=client, authenticate=authenticate)
    app.health = _health_recorder(app, spec.name, health_seconds)
    if follow:
        from ._rollout import RolloutFollower

        app.follower = RolloutFollower(app, spec.name, leader=leader)
    return app


def _health_recorder(app: ServingApp, name: str, seconds: float | None) -> Any:
    from ._health import HealthRecorder

    deployments = app.client.deployments

    def write(rows: list[dict[str, Any]]) -> Any:
        return deployments.record_health(name, rows)

    def served() -> list[str]:
        return [s.version for s in app.server.models.served.values()]

    interval = seconds or app.client.config.serve_health_seconds
    return HealthRecorder(write, interval=interval, served=served)


def _recorded(target: str | Path | DeploymentSpec, spec: DeploymentSpec, client: Client):
    """The recorded current spec of the deployment ``spec`` names, when ``target`` names a
    deployment (a spec, a file or a bare name, not a model reference such as
    ``credit@champion``); None when it was never applied."""
    if isinstance(target, str) and ("@" in target or ":" in target) and not Path(target).is_file():
        return None  # a model reference
    try:
        rollout = client.deployments.current(spec.name)
    except KeelError:
        return None
    if rollout is None:
        return None
    log.info("serving deployment %s as recorded: revision %s", spec.name, rollout.revision)
    return rollout.spec


class _Logging:
    """The deployment's prediction logger, following its ``logging`` policy (none if off)."""

    def __init__(self, client: Client, spec: DeploymentSpec) -> None:
        self.client = client
        self.policy: Any = None
        self._logger: Any = None
        self.reconfigure(spec)

    def reconfigure(self, spec: DeploymentSpec) -> None:
        """Log as ``spec`` says; a changed policy flushes the old logger and starts anew."""
        policy = spec.logging if spec.logging.enabled else None
        if policy == self.policy and self._logger is not None:
            return
        old, self.policy, self._logger = self._logger, policy, None
        if old is not None:
            threading.Thread(target=old.close, name="keel-predlog-close").start()
        if policy is not None:
            from .predlog import PredictionLogger

            self._logger = PredictionLogger(
                self.client.predictions, deployment=spec.name, policy=policy
            )

    def log(self, **row: Any) -> None:
        logger = self._logger
        if logger is not None:
            logger.log(**row)

    def feedback(self, rows: list[dict[str, Any]]) -> None:
        logger = self._logger
        if logger is None:
            from keel.errors import Conflict

            raise Conflict(
                "Prediction logging is off for this deployment (logging: false), so feedback "
                "has nothing to join; turn logging on to collect it."
            )
        logger.feedback(rows)

    def close(self) -> None:
        if self._logger is not None:
            self._logger.close()


class _BadJson(Exception):
    pass


class ServingApp:
    """The ASGI app of one deployment (made by :func:`create_app`)."""

    def __init__(
        self,
        server: ModelServer,
        metrics: ServingMetrics,
        *,
        client: Client,
        authenticate: Callable[[str], Any] | None = None,
    ) -> None:
        from ._api import build_api

        self.server = server
        self.metrics = metrics
        self.client = client
        self.authenticate = authenticate
        self.auth = authenticate is not None
        self.logging = _Logging(client, server.spec)
        self.follower: Any = None
        """Follows the deployment's recorded rollouts (see :mod:`keel.serving._rollout`)."""
        self.outcomes: Any = None
        """While this process judges a canary: what each version answered this step."""
        self.health: Any = None
        """Records this process's service health every interval (see ``_health``)."""
        self._following: asyncio.Task | None = None
        self.ready = True
        self._tokens: dict[str, tuple[float, Any]] = {}
        self._background: set[asyncio.Task] = set()
        self._poller: asyncio.Task | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop serving requests, once started (for reconfiguring from a thread)."""
        self.api = build_api(self)

    # -- dispatch -------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path, method = scope["path"], scope["method"]
            if method == "POST":
                if path == "/predict":
                    return await self._predict(scope, receive, send, None)
                if path.startswith(_INFER_PREFIX) and path.endswith(_INFER_SUFFIX):
                    name = path[len(_INFER_PREFIX) : -len(_INFER_SUFFIX)]
                    if "/" not in name:
                        return await self._predict(scope, receive, send, name)
            elif method == "GET":
                if path == "/v2/health/live":
                    return await _send(send, 200, b'{"live":true}')
                if path == "/v2/health/ready":
                    status = 200 if self.ready else 503
                    return await _send(send, status, orjson.dumps({"ready": self.ready}))
                if path == "/metrics":
                    denied = await self._check(scope, "reader")
                    if denied is not None:
                        return await self._error(send, denied, "")
                    body = self.metrics.render()
                    return await _send(send, 200, body, [(b"content-type", CONTENT_TYPE.encode())])
            if path not in _OPEN:
                denied = await self._check(scope, "writer" if path == "/feedback" else "reader")
                if denied is not None:
                    return await self._error(send, denied, "")
            if method in ("POST", "PUT", "PATCH"):
                receive = await self._buffered(scope, receive, send)
                if receive is None:
                    return
            await self.api(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        else:
            await self.api(scope, receive, send)

    async def _buffered(self, scope: dict, receive: Any, send: Any) -> Any:
        """``receive`` replaying a body read within the limit; None once 413 is answered."""
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        try:
            body = await _read(
                receive,
                int(declared) if declared.isdigit() else -1,
                self.server.models.spec.limits.max_body_bytes,
            )
        except KeelError as exc:
            await self._error(send, exc, "")
            return None
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start(self) -> None:
        """Start looking for moved aliases (the lifespan's startup calls this)."""
        # Everything loaded so far (keel, pandas, scikit-learn, the models) lives as long
        # as the server: freezing it keeps the collector's full passes, which otherwise
        # walk those millions of objects and stall every request for tens of milliseconds,
        # to what requests allocate.
        gc.collect()
        gc.freeze()
        self.loop = asyncio.get_running_loop()
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self.server.poll())
        if self.health is not None:
            self.health.start()
        if self.follower is not None and self._following is None:
            every = self.server.poll_seconds
            self._following = asyncio.get_running_loop().create_task(self.follower.run(every))

    async def reconfigure(self, spec: DeploymentSpec) -> None:
        """Serve ``spec`` from now on (models, routes, logging) without dropping a request.

        Raises:
            NotFound: a reference of ``spec`` does not resolve; the old spec keeps serving.
        """
        await self.server.reconfigure(spec)
        self.logging.reconfigure(spec)

    async def shutdown(self) -> None:
        """Stop polling, predict what is queued, finish shadows and flush the logger."""
        self.ready = False
        for task in (self._poller, self._following):
            if task is not None:
                task.cancel()
        await self.server.close()
        if self._background:
            await asyncio.wait(self._background, timeout=10)
        await asyncio.to_thread(self.logging.close)
        if self.health is not None:  # after the queue: every answer is counted
            await asyncio.to_thread(self.health.close)

    # -- the hot path ---------------------------------------------------------------------

    async def _predict(self, scope: dict, receive: Any, send: Any, name: str | None) -> None:
        started = time.perf_counter()
        models = self.server.models
        request_id = sticky = authorization = None
        declared = -1
        for key, value in scope["headers"]:
            if key == b"content-length":
                declared = int(value) if value.isdigit() else -1
            elif key == b"x-request-id":
                request_id = value.decode("latin-1")[:200] or None
            elif key == b"keel-sticky-key":
                sticky = value.decode("latin-1")
            elif key == b"authorization":
                authorization = value.decode("latin-1")
        request_id = request_id or new_id()
        served: Served | None = None
        size = 0
        try:
            if self.auth:
                await self._authorize(authorization, "reader")
            if name is not None and name not in models.names:
                hint = did_you_mean(name, list(models.names))
                raise NotFound(
                    f"No model {name[:100]!r} is served here.{hint}"
                    f" This server answers to: {', '.join(sorted(models.names))}."
                )
            body = await _read(receive, declared, models.spec.limits.max_body_bytes)
            size = len(body)
            try:
                payload = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise _BadJson(str(exc)) from None
            data = parse_infer(payload) if name is not None else parse_predict(payload)
            if sticky is None and models.spec.sticky_key is not None:
                first = next(iter(models.served.values()))
                names = first.model.signature.names if first.model.signature else ()
                sticky = sticky_value(data, models.spec.sticky_key, names)
            served = models.route(sticky)
            if models.spec.sticky_key is not None:
                data = _without(data, models.spec.sticky_key, served.model.signature)
            frame = served.model.enforce_block(data)
            outputs = await served.batcher.submit(frame)
        except KeelError as exc:
            return await self._error(send, exc, request_id, started, size, served)
        except QueueFull:
            message = (
                f"The server is busy: {models.spec.limits.max_queue} requests are already "
                "waiting. Retry after a second, or raise limits.max_queue (more memory) or "
                "add workers."
            )
            return await self._error(
                send, _Busy(message), request_id, started, size, served, [(b"retry-after", b"1")]
            )
        except _BadJson as exc:
            message = f"The body is not valid JSON ({exc}). Send a JSON document."
            return await self._error(send, _Malformed(message), request_id, started, size)
        except Exception as exc:  # the model failed on valid input: a server error
            log.exception("request %s failed", request_id)
            error = KeelError(f"Prediction failed: {type(exc).__name__}. See the server log.")
            return await self._error(send, error, request_id, started, size, served)
        version = served.version
        if name is None:
            answer = {
                "model_version": version,
                "request_id": request_id,
                "predictions": predictions(outputs),
            }
        else:
            answer = {
                "model_name": name,
                "model_version": version,
                "id": request_id,
                "outputs": oip_outputs(outputs),
            }
        out = orjson.dumps(answer, default=_default, option=orjson.OPT_SERIALIZE_NUMPY)
        headers = [
            (b"keel-model-version", version.encode()),
            (b"x-request-id", request_id.encode("latin-1")),
        ]
        await _send(send, 200, out, headers)
        latency = time.perf_counter() - started
        self.metrics.request(version, 200, latency, size, len(out))
        if self.health is not None:
            self.health.observe(version, 200, latency)
        if self.outcomes is not None:
            self.outcomes.observe(version, 200, latency)
        self._after(models, served, frame, outputs, request_id, latency, sticky)

    def _after(
        self,
        models: ModelSet,
        served: Served,
        frame: Any,
        outputs: Any,
        request_id: str,
        latency: float,
        key: str | None,
    ) -> None:
        """Off the response path: log the prediction, predict with every shadow version."""
        at_ms = time.time_ns() // 1_000_000
        try:
            self.logging.log(
                request_id=request_id,
                at_ms=at_ms,
                model_version=served.version,
                route=served.route,
                inputs=frame,
                columns=served.model.columns,
                outputs=outputs,
                latency_ms=latency * 1000.0,
                key=key,
            )
        except Exception:  # logging never fails a request
            log.exception("logging request %s failed", request_id)
        for shadow in models.shadows:
            if len(self._background) >= models.spec.limits.max_queue:
                break  # shadows fall behind: drop rather than hold unbounded memory
            task = asyncio.get_running_loop().create_task(
                self._shadow(shadow, frame, request_id, at_ms, key, served.model.columns)
            )
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _shadow(
        self,
        shadow: Served,
        frame: Any,
        request_id: str,
        at_ms: int,
        key: str | None,
        columns: Any = None,
    ) -> None:
        started = time.perf_counter()
        try:
            if isinstance(frame, np.ndarray):  # the answering model's columns, named
                frame = pd.DataFrame(frame, columns=columns, copy=False)
            outputs = await shadow.batcher.submit(shadow.model.enforce_block(frame))
        except Exception as exc:  # a shadow never fails anything: it is only measured
            log.debug("shadow %s on request %s: %s", shadow.version, request_id, exc)
            return
        self.logging.log(
            request_id=request_id,
            at_ms=at_ms,
            model_version=shadow.version,
            route="shadow",
            inputs=frame,
            columns=columns,
            outputs=outputs,
            latency_ms=(time.perf_counter() - started) * 1000.0,
            key=key,
        )

    async def _error(
        self,
        send: Any,
        exc: KeelError,
        request_id: str,
        started: float | None = None,
        size: int = 0,
        served: Served | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        status = exc.status_code
        body = {"error": type(exc).__name__, "message": exc.message, "status": status}
        if request_id:
            body["request_id"] = request_id
        out = orjson.dumps(body)
        extra = list(headers or [])
        if request_id:
            extra.append((b"x-request-id", request_id.encode("latin-1")))
        if served is not None:
            extra.append((b"keel-model-version", served.version.encode()))
        if status == 401:
            extra.append((b"www-authenticate", b"Bearer"))
        if status == 413:
            extra.append((b"connection", b"close"))
        await _send(send, status, out, extra)
        if started is not None:
            version = served.version if served is not None else ""
            seconds = time.perf_counter() - started
            self.metrics.request(version, status, seconds, size, len(out))
            if self.health is not None:
                self.health.observe(version, status, seconds)
            if self.outcomes is not None:
                self.outcomes.observe(version, status, seconds)

    # -- auth -----------------------------------------------------------------------------

    async def _check(self, scope: dict, role: str) -> KeelError | None:
        if not self.auth:
            return None
        header = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        try:
            await self._authorize(header.decode("latin-1"), role)
        except KeelError as exc:
            return exc
        return None

    async def _authorize(self, header: str | None, role: str) -> None:
        """Admit a bearer token whose role includes ``role`` and whose scope holds this
        project; a checked token is remembered for :data:`TOKEN_CACHE_SECONDS`."""
        scheme, _, secret = (header or "").strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise Unauthenticated(
                "This model server requires a token: send 'Authorization: Bearer <token>' "
                "(create one with 'keel token create --role reader')."
            )
        key = hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()
        now = time.monotonic()
        hit = self._tokens.get(key)
        if hit is None or hit[0] < now:
            assert self.authenticate is not None
            info = await asyncio.to_thread(self.authenticate, secret)
            if len(self._tokens) > 10_000:
                self._tokens.clear()
            hit = self._tokens[key] = (now + TOKEN_CACHE_SECONDS, info)
        info = hit[1]
        if not info.allows(role):
            raise PermissionDenied(
                f"Token {info.name!r} has role {info.role!r}; this needs {role!r}. "
                f"Ask an admin for a {role} token."
            )
        project = self.client.config.project
        if not info.allows_project(project):
            raise PermissionDenied(
                f"Token {info.name!r} is limited to the {plural(info.projects, 'project')} "
                f"{', '.join(info.projects)}; "
                f"this server serves project {project!r}. Use a token for {project!r}."
            )


class _Busy(KeelError):
    status_code = 503


class _Malformed(InvalidInput):
    status_code = 400


async def _read(receive: Any, declared: int, limit: int) -> bytes:
    """The request body; :class:`PayloadTooLarge` past ``limit`` bytes (declared or counted)."""
    if declared > limit:
        raise PayloadTooLarge(_too_large(f"declares {declared} bytes", limit))
    message = await receive()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise PayloadTooLarge(_too_large(f"went past {limit} bytes", limit))
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidInput("The client left before sending its whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(_too_large(f"went past {limit} bytes", limit))
        chunks.append(chunk)
    return b"".join(chunks)


def _without(data: Any, key: str, signature: Any) -> Any:
    """``data`` without the sticky key's column when the model does not take it (an entity
    key such as customer_id routes the request; it is not a feature)."""
    if signature is None or key in signature.names:
        return data
    if isinstance(data, dict) and key in data:
        return {k: v for k, v in data.items() if k != key}
    if isinstance(data, pd.DataFrame) and key in data.columns:
        return data.drop(columns=[key])
    return data


def _too_large(what: str, limit: int) -> str:
    return (
        f"The request body {what}; this deployment reads at most {limit} bytes per request "
        "(limits.max_body_bytes). Send fewer rows per request, or raise the limit."
    )


async def _send(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    if headers is None or not any(k == b"content-type" for k, _ in headers):
        headers = [*_JSON, *(headers or [])]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _default(value: Any) -> Any:
    """What orjson cannot write itself: object arrays, NumPy scalars, timestamps."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return str(value)
