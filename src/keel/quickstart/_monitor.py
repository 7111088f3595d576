"""The quickstart's monitoring stage: a monitor kept as YAML in the project, applied,
evaluated on the streamed predictions and their labels, and the alert it opens."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keel.errors import KeelError

__all__ = ["MONITOR", "Watched", "watch"]

MONITOR = "credit-monitor"
SPEC = """\
# What to watch on the credit-scoring deployment (applied by keel quickstart;
# apply changes with: keel monitor apply monitors/credit-monitor.yaml)
name: credit-monitor
deployment: credit-scoring
reference: champion           # the champion's training data, found through lineage
window: {{last: {window}}}       # the newest predictions
drift: {{method: psi, threshold: 0.2, share_of_columns: 0.15}}   # any one input
performance: {{metric: roc_auc, min: {auc_min}, min_labels: {min_labels}}}
on_alert:
  - {{log: true}}
  - {{trigger_pipeline: retrain, params: {params}}}   # the pipeline keel quickstart recorded
"""
AUC_MIN = 0.7


@dataclass(frozen=True)
class Watched:
    """One evaluation of the monitor and the alert it opened."""

    path: Path
    result: Any  # keel.monitoring.MonitorResult
    alert: Any  # keel.monitoring.alerts.Alert
    drift: dict[str, float]  # input -> drift score, highest first
    drifted: list[str]  # inputs whose drift breached
    roc_auc: float | None  # on the labelled predictions of the window
    labels: int
    logged: list[str] = field(default_factory=list)  # what the alert's log action wrote

    @property
    def actions(self) -> list[tuple[str, str]]:
        return [(a["type"], a["status"]) for a in self.alert.actions]


class _Keep(logging.Handler):
    """Keeps the messages of the records it is given."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _alert_log() -> Iterator[list[str]]:
    """The messages the alert's ``log`` action writes on the ``keel.alerts`` logger.

    They are an expected event of the loop, told in the quickstart's own summary; while
    the monitor runs they do not also reach the ``keel`` handlers (a stray WARNING line in
    the middle of the live view).
    """
    logger = logging.getLogger("keel.alerts")
    keep = _Keep()
    propagate = logger.propagate
    logger.addHandler(keep)
    logger.propagate = False
    try:
        yield keep.messages
    finally:
        logger.removeHandler(keep)
        logger.propagate = propagate


def watch(client: Any, directory: Path, *, window: int, retrain: dict[str, Any]) -> Watched:
    """Write ``monitors/credit-monitor.yaml``, apply it, evaluate it over the newest
    ``window`` predictions and return the result with the alert it opened (which queues a
    run of the ``retrain`` pipeline with the params ``retrain``).

    Raises:
        KeelError: the monitor saw no drift on ``salary``, no decay of ROC AUC, or opened
            no alert (the loop would not close).
    """
    from keel.monitoring import parse_monitor
    from keel.monitoring.alerts import wait_for_actions

    path = directory / "monitors" / f"{MONITOR}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    import json

    path.write_text(
        SPEC.format(
            window=window,
            auc_min=AUC_MIN,
            min_labels=min(100, window),
            params=json.dumps(retrain),  # JSON is YAML's flow style
        )
    )
    spec = parse_monitor(path)
    client.monitors.apply(spec)
    with _alert_log() as logged:
        result = client.monitors.run(spec.name)
        wait_for_actions(timeout=30)  # the alert's actions run in a thread of their own
    drift = {
        f.subject: float(f.score)
        for f in result.findings
        if f.kind == "data_drift" and f.score is not None and f.subject and "[" not in f.subject
    }
    drifted = [f.subject for f in result.breaches if f.kind == "data_drift" and f.subject]
    performance = result.scores.get("performance", {}).get("all")
    labels = int(result.scores.get("labels", {}).get("all", 0))
    if "salary" not in drifted:
        raise KeelError(
            f"The monitor did not flag the salary drift of months 7-9 (drift scores: {drift}); "
            "the quickstart's data or the drift test changed."
        )
    if performance is None or performance >= AUC_MIN:
        raise KeelError(
            f"The monitor did not see the champion's ROC AUC fall below {AUC_MIN} on the "
            f"labelled predictions (got {performance}, {labels} labels)."
        )
    alerts = client.alerts.list(status="open", monitor=spec.name)
    if not alerts:
        raise KeelError(f"Monitor {spec.name!r} breached but opened no alert.")
    return Watched(
        path=path,
        result=result,
        alert=client.alerts.get(alerts[0].id),
        drift=dict(sorted(drift.items(), key=lambda kv: -kv[1])),
        drifted=drifted,
        roc_auc=float(performance),
        labels=labels,
        logged=list(logged),
    )
