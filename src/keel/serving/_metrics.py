"""Prometheus metrics of a model server, on a registry of its own.

Requests by deployment, version and status; latency; batch sizes; request and response
bytes; predictions (a histogram of values for regression, counts per class otherwise);
queue depth; the process's CPU and memory. Label children are bound once per version and
status, so recording a request costs a dictionary lookup and two increments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from ._models import ModelServer

__all__ = ["CONTENT_TYPE", "ServingMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

MAX_CLASSES = 100
"""Distinct predicted classes counted per version; the rest are counted as ``other``."""

_LATENCY = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)


class ServingMetrics:
    """The metrics of one deployment's server.

    Args:
        deployment: the deployment's name, a label on every series.
    """

    def __init__(self, deployment: str) -> None:
        self.deployment = deployment
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        r, d = self.registry, ["deployment"]
        self._requests = Counter(
            "keel_serve_requests", "Requests answered.", [*d, "model_version", "status"], registry=r
        )
        self._latency = Histogram(
            "keel_serve_request_seconds",
            "Time from a request's arrival to its answer.",
            [*d, "model_version"],
            buckets=_LATENCY,
            registry=r,
        )
        self._batch = Histogram(
            "keel_serve_batch_rows",
            "Rows predicted in one batch.",
            [*d, "model_version"],
            buckets=_SIZES,
            registry=r,
        )
        self._in = Counter("keel_serve_request_bytes", "Request body bytes.", d, registry=r)
        self._out = Counter("keel_serve_response_bytes", "Response body bytes.", d, registry=r)
        self._values = Histogram(
            "keel_serve_prediction",
            "Predicted values (regression models).",
            [*d, "model_version"],
            buckets=(-1000, -100, -10, -1, 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1, 10, 100, 1000),
            registry=r,
        )
        self._classes = Counter(
            "keel_serve_predicted_class",
            "Predictions per class (classification models).",
            [*d, "model_version", "class"],
            registry=r,
        )
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._in_child = self._in.labels(deployment)
        self._out_child = self._out.labels(deployment)

    def request(
        self, version: str, status: int, seconds: float, in_bytes: int, out_bytes: int
    ) -> None:
        """Record one answered request (``version`` is empty when none was chosen)."""
        key = (version, status)
        children = self._children.get(key)
        if children is None:
            label = version or "none"
            children = self._children[key] = (
                self._requests.labels(self.deployment, label, str(status)),
                self._latency.labels(self.deployment, label),
            )
        children[0].inc()
        children[1].observe(seconds)
        self._in_child.inc(in_bytes)
        self._out_child.inc(out_bytes)

    def batch_observer(self, version: str) -> Callable[[int, Any], None]:
        """What a version's batcher calls after each batch: its size and its predictions."""
        batch = self._batch.labels(self.deployment, version)
        values = self._values.labels(self.deployment, version)
        classes: dict[Any, Any] = {}

        def observe(rows: int, outputs: Any) -> None:
            batch.observe(rows)
            array = outputs if isinstance(outputs, np.ndarray) else None
            if array is None or array.ndim != 1 or array.size == 0:
                return
            if array.dtype.kind == "f":
                for value in array[:64].tolist():  # a sample keeps big batches cheap
                    values.observe(value)
                return
            labels, counts = np.unique(array, return_counts=True)
            for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
                child = classes.get(label)
                if child is None:
                    name = str(label) if len(classes) < MAX_CLASSES else "other"
                    child = classes[label] = self._classes.labels(self.deployment, version, name)
                child.inc(count)

        return observe

    def watch(self, server: ModelServer) -> None:
        """Report the queue depth of each version ``server`` serves at each scrape."""
        self.registry.register(_Queues(self.deployment, server))

    def render(self) -> bytes:
        """The metrics in Prometheus's text format."""
        return generate_latest(self.registry)


class _Queues(Collector):
    def __init__(self, deployment: str, server: ModelServer) -> None:
        self.deployment = deployment
        self.server = server

    def describe(self) -> list:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "keel_serve_queue_depth",
            "Requests waiting for a batch.",
            labels=["deployment", "model_version"],
        )
        models = self.server.models
        seen = set()
        for served in (*models.served.values(), *models.shadows):
            if served.version not in seen:
                seen.add(served.version)
                family.add_metric([self.deployment, served.version], served.batcher.depth)
        yield family
