"""The ``retrain`` pipeline the credit monitor's alert queues: :mod:`._retrain`'s steps as
a DAG, run by the agent.

Each step writes what it makes through the platform itself (dataset versions, a tracked run,
a registered model version, a rollout) and hands the next step their references as JSON, so
every step run links its inputs and outputs in the lineage graph. The monitor's
``{trigger_pipeline: retrain, params: {...}}`` action queues a run with the quickstart's
sizes; the alert that asked for it is read from the run's trigger.
"""

from __future__ import annotations

from typing import Any

import keel

from . import _retrain as steps
from ._data import FEATURES

__all__ = ["check", "fit", "gather", "release", "retrain"]


def _alert() -> str | None:
    """The id of the alert whose action queued this run (None when run by hand)."""
    from keel._context import active_step

    step = active_step()
    if step is None:
        return None
    trigger = step.client.pipelines.run(step.pipeline_run_id).get("trigger") or {}
    return trigger.get("alert")


@keel.step(cache=False)
def gather(months: list, rows_per_month: int) -> dict:
    """The labelled applications of ``months``, split and versioned: their references."""
    data = steps.recent_data(months, rows_per_month)
    train_rows, holdout = steps.split(data)
    return {**steps.version_data(train_rows, holdout), "rows": len(data)}


@keel.step(cache=False)
def fit(data: dict, c: float) -> dict:
    """Train on the recent rows as a tracked run, score it and the champion on the holdout,
    register the new model (not champion yet)."""
    train_rows = keel.load_dataset(data["train"])
    holdout = keel.load_dataset(data["holdout"])
    model, run = steps.train(train_rows, c, dataset=data["train"], alert=_alert())
    recent = {
        "champion": steps.evaluate(steps.champion(), holdout),
        "new": steps.evaluate(model, holdout),
    }
    version = steps.register(
        model,
        run,
        {"recent_holdout_auc": recent["new"]["roc_auc"]},
        example=holdout[FEATURES].head(),
    )
    for scores in recent.values():  # JSON keys are text
        scores["by_month"] = {str(m): auc for m, auc in scores["by_month"].items()}
    return {"run": run, "version": version, "recent": recent}


@keel.step(cache=False)
def check(fitted: dict, data: dict) -> dict:
    """The registry's gate and a month-by-month back-test against the champion."""
    return steps.backtest(fitted["version"], data["holdout"])


@keel.step(cache=False)
def release(
    fitted: dict,
    checked: dict,
    directory: str,
    canary_interval: str,
    canary_min_requests: int,
    canary_timeout: float,
) -> dict:
    """Roll the checked model out as a canary 10 -> 50 -> 100 and, once it completed,
    make it the champion."""
    steps.roll_out(
        fitted["version"], directory, interval=canary_interval, min_requests=canary_min_requests
    )
    return steps.promote(fitted["version"], timeout=canary_timeout)


@keel.pipeline(name="retrain")
def retrain(
    months: list = [7, 8, 9],  # noqa: B006 - a param's default, recorded, never mutated
    rows_per_month: int = 300,
    c: float = 1.0,
    directory: str = ".",
    canary_interval: str = "1s",
    canary_min_requests: int = 10,
    canary_timeout: float = 60.0,
) -> Any:
    """Retrain the credit model on recent labelled data and roll it out if it is better."""
    data = gather(months, rows_per_month)
    fitted = fit(data, c)
    checked = check(fitted, data)
    rollout = release(
        fitted, checked, directory, canary_interval, canary_min_requests, canary_timeout
    )
    return {"data": data, "fitted": fitted, "checked": checked, "rollout": rollout}
