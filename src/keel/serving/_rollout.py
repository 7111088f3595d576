"""Following a recorded deployment: applied revisions, rollbacks and canary steps.

A model server started for a deployment that ``keel deploy apply`` recorded follows it:
every ``serve_poll_seconds`` it reads the current rollout and, when the revision changed,
reconfigures itself without dropping a request. A rollout in ``canary`` state is served
as a blend of the previous spec and the new one (:func:`keel.deploy.canary.blend`); the
leader process (the only one with several workers: worker 0) judges each step on what the
new versions served (:class:`Outcomes`), records it, and finishes the rollout as promoted
or rolled back; every process serves the share the recorded steps say.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.deploy import DeploymentSpec, Route, qualify
from keel.deploy.canary import CanaryController, StepStats, blend

if TYPE_CHECKING:
    from keel.deploy import Rollout

    from .app import ServingApp

__all__ = ["Outcomes", "RolloutFollower", "blended_spec"]

log = logging.getLogger("keel.serving")

MAX_LATENCIES = 20_000
"""Latencies kept per step for its p99 (a uniform sample past that)."""


class Outcomes:
    """What each version answered since the last :meth:`reset`: requests, server errors
    (5xx: a client's mistake is not the model's) and latencies."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._requests: dict[str, int] = {}
            self._errors: dict[str, int] = {}
            self._latencies: dict[str, list[float]] = {}
            self._seen: dict[str, int] = {}

    def observe(self, version: str, status: int, seconds: float) -> None:
        if not version:
            return
        with self._lock:
            self._requests[version] = self._requests.get(version, 0) + 1
            if status >= 500:
                self._errors[version] = self._errors.get(version, 0) + 1
            kept = self._latencies.setdefault(version, [])
            seen = self._seen[version] = self._seen.get(version, 0) + 1
            if len(kept) < MAX_LATENCIES:
                kept.append(seconds * 1000.0)
            else:  # reservoir sampling keeps a uniform sample of the step's latencies
                slot = int(self._rng.integers(seen))
                if slot < MAX_LATENCIES:
                    kept[slot] = seconds * 1000.0

    def stats(self, versions: set[str]) -> StepStats:
        """The step's figures over ``versions`` together."""
        with self._lock:
            requests = sum(self._requests.get(v, 0) for v in versions)
            errors = sum(self._errors.get(v, 0) for v in versions)
            latencies = [x for v in versions for x in self._latencies.get(v, ())]
        p99 = float(np.percentile(latencies, 99)) if latencies else None
        return StepStats(requests, errors, p99)


def blended_spec(previous: DeploymentSpec | None, target: DeploymentSpec, percent: float):
    """``target`` with its routes replaced by the canary split at ``percent``."""
    split = blend(previous, target, percent)
    return replace(target, routes=tuple(Route(ref, weight) for ref, weight in split))


def served_percent(rollout: Rollout) -> float:
    """The new rollout's share as its recorded steps say (the first step until one passed)."""
    steps = rollout.spec.canary.steps if rollout.spec.canary else (100.0,)
    passed = [s.step for s in rollout.steps if s.status == "passed"]
    index = max(passed) + 1 if passed else 0
    return float(steps[min(index, len(steps) - 1)])


class RolloutFollower:
    """Keeps a serving app on its deployment's current rollout (see the module docstring).

    Args:
        app: the serving app to reconfigure.
        name: the deployment's name.
        leader: judge and record canary steps (one process per deployment should).
        clock: seconds, for the canary's intervals (tests may pass their own).
    """

    def __init__(
        self,
        app: ServingApp,
        name: str,
        *,
        leader: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.name = name
        self.leader = leader
        self.clock = clock
        self.revision: int | None = None
        self.rollout: Rollout | None = None
        self.previous: DeploymentSpec | None = None
        self.controller: CanaryController | None = None
        self.percent: float | None = None

    @property
    def deployments(self) -> Any:
        return self.app.client.deployments

    async def run(self, every: float) -> None:
        """Check every ``every`` seconds until cancelled; a failed check is logged and the
        server keeps serving what it serves."""
        while True:
            try:
                await self.check()
            except Exception as exc:
                log.warning("following deployment %s failed: %s", self.name, exc)
            await asyncio.sleep(every)

    async def check(self) -> None:
        """Read the current rollout once; reconfigure or walk the canary as it says."""
        rollout = await asyncio.to_thread(self.deployments.current, self.name)
        if rollout is None:
            return
        if rollout.revision != self.revision:
            await self._adopt(rollout)
        elif rollout.status == "canary":
            await self._walk(rollout)

    async def _adopt(self, rollout: Rollout) -> None:
        self.revision, self.rollout, self.controller = rollout.revision, rollout, None
        self.app.outcomes = None
        if rollout.status != "canary" or rollout.spec.canary is None:
            log.info("deployment %s: serving revision %s", self.name, rollout.revision)
            self.percent = None
            await self.app.reconfigure(rollout.spec)
            return
        self.previous = None
        if rollout.previous_revision is not None:
            older = await asyncio.to_thread(
                self.deployments.get, self.name, rollout.previous_revision
            )
            self.previous = older.spec
        if self.leader:
            self.controller = CanaryController(rollout.spec.canary, started_at=self.clock())
            for _ in (s for s in rollout.steps if s.status == "passed"):
                self._skip_step()  # a restarted leader resumes where the record stands
            self.app.outcomes = Outcomes()
        await self._serve_at(served_percent(rollout))

    def _skip_step(self) -> None:
        controller = self.controller
        if controller is not None and controller.step < len(controller.canary.steps) - 1:
            controller.step += 1
            controller.percent = float(controller.canary.steps[controller.step])

    async def _serve_at(self, percent: float) -> None:
        assert self.rollout is not None
        if percent == self.percent:
            return
        self.percent = percent
        log.info("deployment %s: canary revision %s at %g%%", self.name, self.revision, percent)
        await self.app.reconfigure(blended_spec(self.previous, self.rollout.spec, percent))
        if self.app.outcomes is not None:
            self.app.outcomes.reset()

    async def _walk(self, rollout: Rollout) -> None:
        if not self.leader or self.controller is None:
            await self._serve_at(served_percent(rollout))
            return
        outcomes = self.app.outcomes
        if outcomes is None:
            return
        versions = self._target_versions()
        decision = self.controller.tick(self.clock(), outcomes.stats(versions))
        if decision is None:
            return
        await asyncio.to_thread(
            self.deployments.record_step,
            rollout.id,
            decision.step,
            decision.percent,
            decision.status,
            decision.metrics,
        )
        if decision.status == "passed":
            await self._serve_at(self.controller.percent)
            return
        # promoted or rolled back: the record says what serves next (a rollback writes a
        # new revision carrying the previous spec), adopted at once
        log.info("deployment %s: canary %s (%s)", self.name, decision.status, decision.metrics)
        await asyncio.to_thread(self.deployments.finish, rollout.id, decision.status)
        self.app.outcomes = None
        current = await asyncio.to_thread(self.deployments.current, self.name)
        if current is not None:
            self.revision = None
            await self._adopt(current)

    def _target_versions(self) -> set[str]:
        assert self.rollout is not None
        spec = self.rollout.spec
        served = self.app.server.models.served
        refs = {qualify(r.version, spec.model) for r in spec.routes}
        return {served[ref].version for ref in refs if ref in served}
