"""Hyperparameter sweeps: one step over a grid or a seeded random space, each trial a
tracked run, fanned out over the executor (a process pool locally, or Ray tasks)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from keel.errors import InvalidInput

__all__ = ["RandomSpace", "SweepResult", "Trial", "random_space", "sweep"]


class RandomSpace:
    """Params drawn at random: ``(low, high)`` uniform (whole numbers when both are ints),
    ``(low, high, "log")`` log-uniform, a list a choice; seeded, so a sweep repeats."""

    def __init__(self, space: Mapping[str, Any], *, seed: int = 0) -> None:
        if not isinstance(space, Mapping) or not space:
            raise InvalidInput("A random space is a non-empty dict of name -> (low, high) or list.")
        for name, dist in space.items():
            if isinstance(dist, list):
                if not dist:
                    raise InvalidInput(f"The choices for {name!r} are an empty list.")
                continue
            if not (
                isinstance(dist, tuple)
                and len(dist) in (2, 3)
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in dist[:2])
                and dist[0] <= dist[1]
                and (len(dist) == 2 or dist[2] == "log")
            ):
                raise InvalidInput(
                    f"The range of {name!r} must be (low, high), (low, high, 'log') with low <= "
                    f"high, or a list of choices. Got {dist!r}."
                )
            if len(dist) == 3 and dist[0] <= 0:
                raise InvalidInput(f"A log range of {name!r} must start above 0. Got {dist!r}.")
        self.space = dict(space)
        self.seed = seed

    def __repr__(self) -> str:
        return f"random_space({self.space!r}, seed={self.seed!r})"

    def sample(self, n: int) -> list[dict[str, Any]]:
        """``n`` points of the space."""
        import numpy as np

        rng = np.random.default_rng(self.seed)
        points = []
        for _ in range(n):
            point: dict[str, Any] = {}
            for name, dist in self.space.items():
                if isinstance(dist, list):
                    point[name] = dist[int(rng.integers(len(dist)))]
                elif len(dist) == 3:
                    point[name] = float(math.exp(rng.uniform(math.log(dist[0]), math.log(dist[1]))))
                elif isinstance(dist[0], int) and isinstance(dist[1], int):
                    point[name] = int(rng.integers(dist[0], dist[1] + 1))
                else:
                    point[name] = float(rng.uniform(dist[0], dist[1]))
            points.append(point)
        return points


def random_space(space: Mapping[str, Any], *, seed: int = 0) -> RandomSpace:
    """A seeded random space for :func:`sweep` (see :class:`RandomSpace`)."""
    return RandomSpace(space, seed=seed)


@dataclass
class Trial:
    """One trial: its params, the metrics it returned or logged, and its tracked run."""

    params: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    run_id: str | None = None
    status: str = "FINISHED"
    error: str | None = None


@dataclass
class SweepResult:
    """Every trial of a sweep, in the order they were drawn."""

    trials: list[Trial]

    def best(self, metric: str, mode: str = "max") -> Trial:
        """The finished trial with the highest (``max``) or lowest (``min``) ``metric``.

        Raises:
            InvalidInput: a bad mode, or no finished trial has the metric.
        """
        if mode not in ("max", "min"):
            raise InvalidInput(f"mode must be 'max' or 'min'. Got {mode!r}.")
        scored = [t for t in self.trials if t.status == "FINISHED" and metric in t.metrics]
        if not scored:
            names = sorted({m for t in self.trials for m in t.metrics})
            raise InvalidInput(
                f"No finished trial has metric {metric!r}. Metrics there are: "
                f"{', '.join(names) or 'none'}."
            )
        pick = max if mode == "max" else min
        return pick(scored, key=lambda t: t.metrics[metric])

    def __len__(self) -> int:
        return len(self.trials)


def _points(space: Any, n: int | None) -> list[dict[str, Any]]:
    if isinstance(space, RandomSpace):
        return space.sample(10 if n is None else n)
    if not isinstance(space, Mapping) or not space:
        raise InvalidInput(
            "A sweep's space is a grid (a dict of name -> list of values) or "
            "keel.random_space({...}). Got " + type(space).__name__ + "."
        )
    for name, values in space.items():
        if not isinstance(values, (list, tuple)) or not values:
            raise InvalidInput(
                f"The grid's values for {name!r} must be a non-empty list. Got {values!r}."
            )
    names = list(space)
    grid = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*space.values())]
    return grid if n is None else grid[:n]


def sweep(
    step: Any,
    space: Any,
    n: int | None = None,
    *,
    inputs: Mapping[str, Any] | None = None,
    executor: str = "local",
    experiment: str | None = None,
    client: Any = None,
    max_workers: int | None = None,
) -> SweepResult:
    """Run ``step`` once per point of ``space`` (a grid, or a :func:`random_space`), each
    trial a tracked run with its params and the metrics it returns (a dict of numbers) or
    logs with ``keel.log_metric``.

    Args:
        step: a ``@keel.step`` (or plain) function.
        space: ``{"c": [0.1, 1, 10]}`` (every combination) or ``keel.random_space(...)``.
        n: at most this many trials (a random space draws 10 by default).
        inputs: the step's other arguments, the same for every trial.
        executor: ``local`` (trials in a process pool) or ``ray``.
        experiment: the experiment of the trials' runs (the step's name by default).
        client: the client to track to (the default client otherwise).
        max_workers: processes for local trials (the CPU count by default).

    Raises:
        InvalidInput: a bad space, an unknown executor, a param the step does not take.
    """
    from ._executors import make_executor

    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise InvalidInput(f"n must be a whole number >= 1. Got {n!r}.")
    points = _points(space, n)
    fn = getattr(step, "fn", step)
    if not callable(fn):
        raise InvalidInput(f"sweep() runs a step or function. Got {type(step).__name__}.")
    import inspect

    accepted = inspect.signature(fn).parameters
    inputs = dict(inputs or {})
    for name in [*points[0], *inputs]:
        if name not in accepted:
            raise InvalidInput(
                f"{getattr(step, 'name', fn.__name__)!r} takes no argument {name!r}: its "
                f"arguments are {', '.join(accepted)}."
            )
    if client is None:
        from keel.client import default_client

        client = default_client()
    experiment = experiment or getattr(step, "name", fn.__name__)
    pool = make_executor(executor, max_workers=max_workers, ray_address=client.config.ray_address)
    trials: list[Trial] = []
    try:
        if pool.inline and (len(points) == 1 or max_workers == 1):
            for i, point in enumerate(points):
                trials.append(_trial(client, fn, experiment, i, point, inputs))
        else:
            import cloudpickle

            futures = [
                pool.submit(
                    cloudpickle.dumps((client.config, fn, experiment, i, point, inputs)),
                    getattr(step, "resources", {}),
                    fn=run_trial,
                )
                for i, point in enumerate(points)
            ]
            trials = [f.result() for f in futures]
    finally:
        pool.close()
    return SweepResult(trials)


def _trial(client: Any, fn: Any, experiment: str, i: int, point: dict, inputs: dict) -> Trial:
    from keel._context import pop_run, push_run

    trial = Trial(dict(point))
    run = client.tracker.start_run(
        experiment, name=f"{experiment}-trial-{i}", params=point, capture=False
    )
    push_run(run)
    try:
        result = fn(**inputs, **point)
        if isinstance(result, Mapping):
            numbers = {
                k: float(v)
                for k, v in result.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool)
            }
            if numbers:
                run.log_metrics(numbers)
        run.end()
    except Exception:
        import traceback

        trial.status, trial.error = "FAILED", traceback.format_exc()
        run.end("FAILED", error=trial.error[-4000:])
    finally:
        pop_run(run)
    trial.run_id = run.id
    trial.metrics = dict(client.runs.get_run(run.id).metrics)
    return trial


def run_trial(payload: bytes) -> Trial:
    """A worker's entry point for one trial (``cloudpickle`` of config, function, point)."""
    import cloudpickle

    from ._worker import _client_for

    config, fn, experiment, i, point, inputs = cloudpickle.loads(payload)
    client = _client_for(config)
    return _trial(client, fn, experiment, i, point, inputs)
