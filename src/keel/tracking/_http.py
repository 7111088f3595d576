"""Tracking through a keel server: the same interface as :class:`SqlTracking`, over HTTP."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO
from urllib.parse import quote

import orjson

from keel._remote import RemoteClient
from keel.store.objects import Source
from keel.store.objects._base import as_stream

from ._arrays import array_points
from ._digest import content_digest
from ._records import (
    ArtifactRecord,
    ExperimentRecord,
    MetricPoint,
    RunQuery,
    RunRecord,
    RunStatus,
    decode_value,
    encode_value,
)
from ._validate import check_artifact_name, text_values

__all__ = ["HttpTracking"]

API = "/api/v1"
MAX_BODY = 1024 * 1024
"""Largest batch body sent in one request: the smallest limit a server can set
(KEEL_MAX_REQUEST_MB=1), so that no server refuses a flusher's batch as too large."""


class HttpTracking:
    """Talks to ``keel server``'s REST API; see :class:`~keel.tracking.TrackingBackend`."""

    def __init__(self, url: str, *, token: str | None = None, project: str = "default") -> None:
        self.client = RemoteClient(url, token=token, lean=True)  # small JSON requests
        self.project = project

    def close(self) -> None:
        """Close the connection pool."""
        self.client.close()

    def _path(self, path: str) -> str:
        return f"{API}/projects/{quote(self.project, safe='')}{path}"

    def create_run(
        self,
        experiment: str,
        *,
        name: str | None = None,
        parent_id: str | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        code: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        metrics: Sequence[MetricPoint] = (),
        run_id: str | None = None,
        started_at: int | None = None,
        status: str = RunStatus.RUNNING,
        error: str | None = None,
    ) -> RunRecord:
        """Create a run with its params, tags and first points in one request (one
        transaction on the server); see :meth:`SqlTracking.create_run` for an ended one."""
        body: dict[str, Any] = {
            "experiment": experiment,
            "name": name,
            "parent_id": parent_id,
            "params": text_values("param", params),
            "tags": text_values("tag", tags),
            "code": code,
            "environment": environment,
        }
        if run_id is not None:  # a deferred run's: only then, so older servers still answer
            body["id"] = run_id
        if started_at is not None:
            body["started_at"] = started_at
        if status != RunStatus.RUNNING or error is not None:
            body["status"], body["error"] = status, error
        later = _with_points(body, metrics)  # in the request, unless they make it too large
        ends = bool(later) and status != RunStatus.RUNNING
        if ends:  # too many points for one request: created RUNNING, ended once all are in
            del body["status"], body["error"]
        record = RunRecord.from_dict(self.client.json("POST", self._path("/runs"), json=body))
        if later:
            self.log_batch(record.id, metrics=later)
            record.metrics.update(_latest(later))
        if ends:
            self.end_run(record.id, status, error=error)
            record.status, record.error = status, error
        return record

    def get_run(self, run_id: str) -> RunRecord:
        return RunRecord.from_dict(self.client.json("GET", self._path(f"/runs/{_q(run_id)}")))

    def set_status(self, run_id: str, status: str, *, error: str | None = None) -> RunRecord:
        body = {"status": status, "error": error}
        data = self.client.json("PATCH", self._path(f"/runs/{_q(run_id)}"), json=body)
        return RunRecord.from_dict(data)

    def end_run(
        self,
        run_id: str,
        status: str,
        *,
        error: str | None = None,
        metrics: Sequence[MetricPoint] = (),
    ) -> None:
        body: dict[str, Any] = {"status": status, "error": error}
        later = _with_points(body, metrics)
        if later:  # too many for one request: sent first, in batches
            self.log_batch(run_id, metrics=later)
        self.client.request("POST", self._path(f"/runs/{_q(run_id)}/end"), json=body)

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricPoint] = (),
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        items: list[tuple[str, Any]] = [
            *(("params", pair) for pair in text_values("param", params).items()),
            *(("tags", pair) for pair in text_values("tag", tags).items()),
            *(("metrics", (k, encode_value(v), s, ts)) for k, v, s, ts in metrics),
        ]
        for body in _bodies(items):
            self.client.request("POST", self._path(f"/runs/{_q(run_id)}/batch"), json=body)

    def log_metric_array(
        self,
        run_id: str,
        key: str,
        values: Any,
        steps: Any,
        timestamps: Any = None,
    ) -> None:
        """Send a curve of metric ``key`` as columns (values, steps, timestamps)."""
        points = array_points(key, values, steps, timestamps)  # checked before sending
        for start in range(0, len(points), _ARRAY_CHUNK):
            chunk = points[start : start + _ARRAY_CHUNK]
            body = {
                "values": [encode_value(p[1]) for p in chunk],
                "steps": [p[2] for p in chunk],
                "timestamps": [p[3] for p in chunk],
            }
            path = self._path(f"/runs/{_q(run_id)}/metrics/{quote(key)}")
            self.client.request("POST", path, json=body)

    def log_input(self, run_id: str, kind: str, object_id: str) -> None:
        body = {"kind": kind, "id": object_id}
        self.client.request("POST", self._path(f"/runs/{_q(run_id)}/inputs"), json=body)

    def put_artifact(self, run_id: str, name: str, kind: str, source: Source) -> ArtifactRecord:
        check_artifact_name(name)  # before it becomes a URL, where '..' would be resolved
        stream, owned = as_stream(source)
        try:
            path = self._path(f"/runs/{_q(run_id)}/artifacts/{quote(name)}")
            digest = content_digest(stream)  # the server refuses bytes that do not match
            headers = {"Content-Digest": digest} if digest else None
            data = self.client.json(
                "PUT", path, content=_iter(stream), params={"kind": kind}, headers=headers
            )
        finally:
            if owned:
                stream.close()
        return ArtifactRecord(**data)

    def open_artifact(self, run_id: str, name: str) -> BinaryIO:
        path = self._path(f"/runs/{_q(run_id)}/artifacts/{quote(name)}")
        response = self.client.request("GET", path)
        out = tempfile.SpooledTemporaryFile(8 * 1024 * 1024)  # noqa: SIM115 - returned
        out.write(response.content)
        out.seek(0)
        return out  # type: ignore[return-value]

    def metric_history(self, run_id: str, key: str) -> list[MetricPoint]:
        path = self._path(f"/runs/{_q(run_id)}/metrics/{quote(key)}")
        return [(k, decode_value(v), s, ts) for k, v, s, ts in self.client.json("GET", path)]

    def search_runs(self, query: RunQuery) -> list[RunRecord]:
        params = {"include": ",".join(query.include)} if query.include else None
        data = self.client.json(
            "POST", self._path("/runs/search"), json=_search_body(query), params=params
        )
        return [RunRecord.from_dict(item) for item in data]

    def count_runs(self, query: RunQuery) -> int:
        """How many runs match ``query`` (its order, size and offset aside)."""
        body = _search_body(query)
        return int(self.client.json("POST", self._path("/runs/count"), json=body)["total"])

    def list_experiments(self, *, include_deleted: bool = False) -> list[ExperimentRecord]:
        params = {"include_deleted": "true"} if include_deleted else None
        listed = self.client.json("GET", self._path("/experiments"), params=params)
        return [ExperimentRecord(**e) for e in listed]

    # -- soft delete (the server records the token as the actor) -------------------------

    def delete_run(self, run_id: str, *, actor: Any = None) -> dict[str, Any]:
        """Mark a run deleted: hidden from listings, restorable until gc purges it."""
        return self.client.json("DELETE", self._path(f"/runs/{_seg(run_id)}"))

    def restore_run(self, run_id: str, *, actor: Any = None) -> dict[str, Any]:
        """Bring back a deleted run."""
        return self.client.json("POST", self._path(f"/runs/{_seg(run_id)}/restore"))

    def delete_experiment(self, name: str, *, actor: Any = None) -> dict[str, Any]:
        """Mark an experiment deleted: it and its runs vanish from listings until restored."""
        return self.client.json("DELETE", self._path(f"/experiments/{_seg(name)}"))

    def restore_experiment(self, name: str, *, actor: Any = None) -> dict[str, Any]:
        """Bring back a deleted experiment and its runs."""
        return self.client.json("POST", self._path(f"/experiments/{_seg(name)}/restore"))


_ARRAY_CHUNK = 20_000
"""Points of a curve per request: about 0.6 MB of JSON, within :data:`MAX_BODY`."""


def _seg(value: Any) -> str:
    """One URL path segment; a value that cannot be one is refused here, changing nothing."""
    from keel.errors import InvalidInput

    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise InvalidInput(
            f"Expected a non-empty id or name (at most 200 characters). Got {value!r}."
        )
    return quote(value, safe="")


def _bodies(items: list[tuple[str, Any]], limit: int = MAX_BODY) -> Iterator[dict[str, Any]]:
    """Batch bodies of at most ``limit`` bytes holding the items in order (params first, so
    that a changed param is refused before any metric of the batch is written)."""
    body: dict[str, Any] = {"metrics": [], "params": {}, "tags": {}}
    for field, item in items:
        if field == "metrics":
            body["metrics"].append(item)
        else:
            body[field][item[0]] = item[1]
    if len(items) <= 1 or len(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)) <= limit:
        yield body  # one item too large on its own: the server says so
        return
    half = len(items) // 2
    yield from _bodies(items[:half], limit)
    yield from _bodies(items[half:], limit)


def _with_points(body: dict[str, Any], metrics: Sequence[MetricPoint]) -> Sequence[MetricPoint]:
    """Put ``metrics`` in ``body`` if the body stays within :data:`MAX_BODY`; else return
    them, for the caller to send in batches of their own."""
    if not metrics:
        return ()
    body["metrics"] = [(k, encode_value(v), s, ts) for k, v, s, ts in metrics]
    if len(orjson.dumps(body, option=_NUMPY)) <= MAX_BODY:
        return ()
    del body["metrics"]
    return metrics


def _latest(points: Sequence[MetricPoint]) -> dict[str, float]:
    """Per key, the value of the point with the highest (step, timestamp)."""
    best: dict[str, MetricPoint] = {}
    for point in points:
        current = best.get(point[0])
        if current is None or (point[2], point[3]) >= (current[2], current[3]):
            best[point[0]] = point
    return {key: point[1] for key, point in best.items()}


_NUMPY = orjson.OPT_SERIALIZE_NUMPY


def _q(part: str) -> str:
    return quote(str(part), safe="")


def _iter(stream: BinaryIO, chunk: int = 1024 * 1024):
    yield from iter(lambda: stream.read(chunk), b"")


def _search_body(query: RunQuery) -> dict[str, Any]:
    body: dict[str, Any] = {
        "experiments": list(query.experiments),
        "filter": query.filter,
        "order_by": list(query.order_by),
        "max_results": query.max_results,
    }
    if query.offset:
        body["offset"] = query.offset
    if query.include_deleted:  # sent only when asked: older servers refuse unknown fields
        body["include_deleted"] = True
    return body
