"""The model set of a deployment: which versions answer, loaded and ready to batch.

A :class:`ModelServer` resolves every reference of a spec (``credit@champion``) to a version
(``credit:4``) and its loaded model, each with a :class:`Batcher`. It keeps everything a
request needs in one immutable :class:`ModelSet`; a request reads ``server.models`` once and
uses that set to the end. A moved alias or a new spec is loaded first, in a thread, and
then swapped in by replacing that one reference, so no request is dropped or sees half a
change; the batchers of versions that left drain their queues before they stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keel.deploy import DeploymentSpec, qualify
from keel.registry import parse_model_ref

from ._batcher import Batcher
from ._router import Router

if TYPE_CHECKING:
    from keel.client import Client

__all__ = ["ModelServer", "ModelSet", "Served"]

log = logging.getLogger("keel.serving")

BatchObserver = Callable[[str], Callable[[int, Any], None] | None]
"""Given a version (``credit:4``), what its batcher calls after each batch (metrics)."""


@dataclass(frozen=True)
class Served:
    """One served reference: ``credit@champion`` as version ``credit:4``, loaded."""

    ref: str
    version: str
    route: str
    """The route as the spec writes it (``@champion``), or ``shadow``."""
    model: Any
    """The registry's loaded model (``predict``, ``enforce``, ``signature``)."""
    batcher: Batcher


@dataclass(frozen=True)
class ModelSet:
    """Everything a request needs, swapped as one: the spec, its router and its models."""

    spec: DeploymentSpec
    router: Router
    served: Mapping[str, Served]
    shadows: tuple[Served, ...]
    names: frozenset[str]
    """The names the deployment answers to: its own and each of its models'."""

    def route(self, key: str | None = None) -> Served:
        """The served version that answers a request with this sticky ``key``."""
        return self.served[self.router.choose(key)]

    @property
    def versions(self) -> dict[str, str]:
        """Each served reference and the version it resolves to now."""
        return {ref: s.version for ref, s in self.served.items()} | {
            s.ref: s.version for s in self.shadows
        }


class ModelServer:
    """The versions a deployment serves, kept current as aliases move.

    Args:
        client: where the models are registered.
        spec: the deployment.
        poll_seconds: how often :meth:`poll` checks aliases (``serve_poll_seconds``).
        on_batch: gives each version's batcher its after-batch callback (metrics).
        seed: seed of the router's random choices (tests).

    Raises:
        NotFound: a reference names a model, version or alias that does not exist.
    """

    def __init__(
        self,
        client: Client,
        spec: DeploymentSpec,
        *,
        poll_seconds: float | None = None,
        on_batch: BatchObserver | None = None,
        seed: int | None = None,
    ) -> None:
        self.client = client
        self.poll_seconds = poll_seconds or client.config.serve_poll_seconds
        self.on_batch = on_batch
        self.seed = seed
        self.models = self._build(spec, None)
        self._lock: asyncio.Lock | None = None
        self._retiring: set[asyncio.Task] = set()

    @property
    def spec(self) -> DeploymentSpec:
        return self.models.spec

    def _build(self, spec: DeploymentSpec, previous: ModelSet | None) -> ModelSet:
        """Resolve and load every reference of ``spec`` (blocking: call in a thread)."""
        reuse = {}
        if previous is not None and _same_batching(previous.spec, spec):
            reuse = {s.version: s for s in (*previous.served.values(), *previous.shadows)}
        routes = [(qualify(r.version, spec.model), r.weight) for r in spec.routes]
        shadow_refs = [qualify(s, spec.model) for s in spec.shadow]
        labels = {ref: r.version for (ref, _), r in zip(routes, spec.routes, strict=True)}
        loaded: dict[str, Served] = {}
        for ref in spec.refs:
            version = self.client.models.get(ref)
            known = reuse.get(version.ref)
            if known is None:
                model = self.client.models.load(version)
                known = Served(ref, version.ref, "", model, self._batcher(spec, model))
            route = labels.get(ref, "shadow")
            loaded[ref] = Served(ref, known.version, route, known.model, known.batcher)
        names = {spec.name, *(parse_model_ref(ref).name for ref in spec.refs)}
        return ModelSet(
            spec=spec,
            router=Router(routes, seed=self.seed),
            served={ref: loaded[ref] for ref, _ in routes},
            shadows=tuple(loaded[ref] for ref in shadow_refs),
            names=frozenset(names),
        )

    def _batcher(self, spec: DeploymentSpec, model: Any) -> Batcher:
        return Batcher(
            model.proba_function() if spec.probabilities else model.predict,
            max_batch_size=spec.batching.max_batch_size,
            max_wait_ms=spec.batching.max_wait_ms,
            max_queue=spec.limits.max_queue,
            on_batch=self.on_batch(model.ref or "") if self.on_batch else None,
            columns=getattr(model, "columns", None),
        )

    async def reconfigure(self, spec: DeploymentSpec) -> ModelSet:
        """Serve ``spec`` instead: load what it needs, then swap it in as one.

        Requests in flight finish on the set they started with; a version served by both
        keeps its batcher (and its queue).

        Raises:
            NotFound: a reference of ``spec`` does not resolve; the old spec keeps serving.
        """
        async with self._guard():
            return await self._swap(spec)

    async def refresh(self) -> bool:
        """Check once whether an alias (or ``latest``) moved; swap in the new versions.

        Returns:
            True when a version changed.
        """
        async with self._guard():
            current = self.models
            moved = await asyncio.to_thread(self._moved, current)
            if not moved:
                return False
            log.info("serving %s: %s", current.spec.name, moved)
            await self._swap(current.spec)
            return True

    def _moved(self, current: ModelSet) -> dict[str, str]:
        out = {}
        for ref, version in current.versions.items():
            if parse_model_ref(ref).version is not None:
                continue  # a pinned version never moves
            now = self.client.models.get(ref).ref
            if now != version:
                out[ref] = f"{version} -> {now}"
        return out

    async def _swap(self, spec: DeploymentSpec) -> ModelSet:
        old = self.models
        new = await asyncio.to_thread(self._build, spec, old)
        self.models = new  # one reference: a request sees the old set or the new one
        kept = {id(s.batcher) for s in (*new.served.values(), *new.shadows)}
        for served in (*old.served.values(), *old.shadows):
            if id(served.batcher) not in kept:
                kept.add(id(served.batcher))
                task = asyncio.get_running_loop().create_task(served.batcher.close())
                self._retiring.add(task)
                task.add_done_callback(self._retiring.discard)
        return new

    async def poll(self) -> None:
        """Check for moved aliases every ``poll_seconds``, until cancelled."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                await self.refresh()
            except Exception as exc:  # a store hiccup must not stop serving what loaded
                log.warning("checking the aliases of %s failed: %s", self.spec.name, exc)

    async def close(self) -> None:
        """Predict what is queued, then stop every batcher."""
        models = self.models
        batchers = {id(s.batcher): s.batcher for s in (*models.served.values(), *models.shadows)}
        await asyncio.gather(*(b.close() for b in batchers.values()), *self._retiring)

    @contextlib.asynccontextmanager
    async def _guard(self):
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            yield


def _same_batching(old: DeploymentSpec, new: DeploymentSpec) -> bool:
    return (
        old.batching == new.batching
        and old.limits.max_queue == new.limits.max_queue
        and old.probabilities == new.probabilities
    )
