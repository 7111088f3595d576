"""The canary: how traffic is split while a new rollout is walked in, and when it moves on.

Pure logic, no I/O and no clock of its own: the model server feeds it the time and what
the new versions served, and records each decision with
:meth:`keel.deploy.DeploymentService.record_step` and ``finish``.

Example::

    controller = CanaryController(spec.canary, started_at=time.monotonic())
    weights = blend(previous_spec, spec, controller.percent)     # route by these
    ...
    decision = controller.tick(time.monotonic(), StepStats(requests=120, errors=0, p99_ms=4.2))
    if decision is not None:
        deployments.record_step(rollout.id, decision.step, decision.percent, decision.status,
                                decision.metrics)

The rules of :meth:`CanaryController.tick`:

- **Breach, at once.** The step rolls back as soon as its p99 latency is above
  ``max_p99_ms``, or its errors are more than ``max_error_rate`` allows of
  ``max(requests, min_requests)``: a step that has seen few requests rolls back only when
  its errors are already too many even if its next requests, up to ``min_requests``, all
  succeed.
- **Pass, after the interval.** Once ``interval`` seconds have passed since the step began
  and it has seen at least ``min_requests`` requests without a breach, it passes: the next
  step begins (its own interval and counts start then), or, after the step at 100%, the
  rollout is promoted.
- **Wait, with too little evidence.** A step that has seen fewer than ``min_requests``
  requests when its interval ends keeps waiting: a canary on quiet traffic is never
  promoted on no evidence (it may be rolled back by hand).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidInput

from .spec import Canary, DeploymentSpec, qualify

__all__ = ["CanaryController", "StepDecision", "StepStats", "blend"]


def blend(
    previous: DeploymentSpec | None, target: DeploymentSpec, percent: float
) -> list[tuple[str, float]]:
    """The traffic split while ``target`` runs at ``percent``: full model references with
    weights summing to 100, the target's routes scaled to ``percent`` and the previous
    spec's to the rest (a reference in both gets both shares). Target's references come
    first; a reference with no share is left out. With no previous spec the target takes
    all traffic.
    """
    if (
        isinstance(percent, bool)
        or not isinstance(percent, int | float)
        or not math.isfinite(percent)
        or not 0 <= percent <= 100
    ):
        raise InvalidInput(f"A canary's traffic share is a percentage 0-100, not {percent!r}.")
    if previous is None:
        percent = 100.0
    weights: dict[str, float] = {}
    for spec, share in ((target, percent), (previous, 100.0 - percent)):
        if spec is None or share <= 0:
            continue
        for route in spec.routes:
            ref = qualify(route.version, spec.model)
            weights[ref] = weights.get(ref, 0.0) + route.weight * share / 100.0
    total = sum(weights.values())
    return [(ref, w * 100.0 / total) for ref, w in weights.items() if w > 0]


@dataclass(frozen=True)
class StepStats:
    """What the target versions served since the current step began."""

    requests: int
    errors: int
    p99_ms: float | None = None

    def __post_init__(self) -> None:
        for name in ("requests", "errors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"StepStats.{name} is a count (0 or more), not {value!r}.")
        if self.errors > self.requests:
            raise InvalidInput(
                f"StepStats: {self.errors} errors out of {self.requests} requests; errors are "
                "requests that failed, so they cannot be more than the requests."
            )
        p99 = self.p99_ms
        if p99 is not None and (
            isinstance(p99, bool)
            or not isinstance(p99, int | float)
            or not math.isfinite(p99)
            or p99 < 0
        ):
            raise InvalidInput(f"StepStats.p99_ms is milliseconds (0 or more), not {p99!r}.")

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class StepDecision:
    """How a step ended: ``passed`` (the next step began), ``promoted`` (the step at 100%
    passed) or ``rolled_back``; ``step`` and ``percent`` are the step judged."""

    step: int
    percent: float
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)


class CanaryController:
    """Walks a canary policy's steps (see the module docstring for the rules).

    Attributes:
        step: index of the current step in ``canary.steps``.
        percent: the traffic share the new rollout has now (0 once rolled back).
        state: ``running``, ``promoted`` or ``rolled_back``.
    """

    def __init__(self, canary: Canary, *, started_at: float) -> None:
        if not isinstance(canary, Canary):
            raise InvalidInput(f"CanaryController needs a Canary policy, not {canary!r}.")
        self.canary = canary
        self.step = 0
        self.percent = float(canary.steps[0])
        self.state = "running"
        self.step_started = float(started_at)

    def __repr__(self) -> str:
        return f"CanaryController(step={self.step}, percent={self.percent:g}, state={self.state!r})"

    @property
    def due_at(self) -> float:
        """When the current step's interval ends (on the clock ``tick`` is given)."""
        return self.step_started + self.canary.interval

    def tick(self, now: float, stats: StepStats) -> StepDecision | None:
        """Judge the current step on ``stats`` at time ``now``: a decision when the step
        ends (passed, promoted, rolled back), None while it goes on or once finished."""
        if self.state != "running":
            return None
        if not isinstance(stats, StepStats):
            raise InvalidInput(f"tick needs StepStats, not {type(stats).__name__}.")
        canary = self.canary
        elapsed = float(now) - self.step_started
        metrics: dict[str, Any] = {
            "requests": stats.requests,
            "errors": stats.errors,
            "error_rate": stats.error_rate,
            "p99_ms": stats.p99_ms,
            "elapsed_s": elapsed,
        }
        reason = self._breach(stats)
        if reason is not None:
            decision = StepDecision(
                self.step, self.percent, "rolled_back", {**metrics, "reason": reason}
            )
            self.state, self.percent = "rolled_back", 0.0
            return decision
        if elapsed < canary.interval or stats.requests < canary.min_requests:
            return None
        if self.step == len(canary.steps) - 1:
            self.state = "promoted"
            return StepDecision(self.step, self.percent, "promoted", metrics)
        decision = StepDecision(self.step, self.percent, "passed", metrics)
        self.step += 1
        self.percent = float(canary.steps[self.step])
        self.step_started = float(now)
        return decision

    def _breach(self, stats: StepStats) -> str | None:
        canary = self.canary
        judged = max(stats.requests, canary.min_requests, 1)
        if stats.errors / judged > canary.max_error_rate:
            return (
                f"error rate {stats.errors}/{stats.requests} is above "
                f"max_error_rate {canary.max_error_rate:g}"
            )
        if (
            canary.max_p99_ms is not None
            and stats.p99_ms is not None
            and stats.p99_ms > canary.max_p99_ms
        ):
            return f"p99 {stats.p99_ms:g} ms is above max_p99_ms {canary.max_p99_ms:g}"
        return None
