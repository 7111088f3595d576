"""One evaluation of a monitor: read the window's prediction log, run every check (whole
and per segment), store the result with its lineage, and hand it to the alerts."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from keel.errors import InvalidInput, KeelError
from keel.monitoring import _checks as checks
from keel.monitoring._baseline import Baseline, find_source, load_baseline
from keel.monitoring._results import Finding, MonitorResult
from keel.monitoring._window import Window, read_window, window_bounds
from keel.monitoring.spec import MonitorSpec

__all__ = ["evaluate"]

MAX_SEGMENT_VALUES = 20
"""Values of a segment column evaluated on their own (the most frequent in the window)."""
_log = logging.getLogger("keel.monitoring")


def evaluate(
    client: Any,
    spec: MonitorSpec,
    *,
    now_ms: int | None = None,
    window: tuple[int, int] | None = None,
    record: bool = True,
) -> MonitorResult:
    """Evaluate ``spec`` over the window ending now (or ``now_ms``, or exactly ``window``).

    Args:
        client: a :class:`keel.Client` on a store (or anything with its ``predictions``,
            ``models``, ``datasets``, ``deployments``, ``objects``, ``lineage`` and
            ``monitors``).
        spec: the monitor.
        now_ms: the evaluation's time (epoch ms); the window ends here.
        window: ``(start_ms, end_ms)`` to evaluate instead (a backfill's windows).
        record: store the result (and the monitor, if it is new) and call the alerts.

    Returns:
        The :class:`MonitorResult`. No data in the window, and new or missing columns,
        are findings in it, not errors.
    """
    from keel.store import new_id
    from keel.store import now_ms as clock

    if not isinstance(spec, MonitorSpec):
        raise InvalidInput(
            f"Expected a MonitorSpec, got {type(spec).__name__}: read a file with "
            "keel.monitoring.parse_monitor(path) or build one with MonitorSpec.from_dict(...)."
        )
    start, end = _bounds(spec, now_ms if now_ms is not None else clock(), window)
    win = read_window(client.predictions, spec, start, end)
    scores: dict[str, Any] = {"rows": len(win)}
    if len(win) == 0:
        findings = [
            Finding(
                "no_data",
                "",
                0.0,
                None,
                False,
                f"no predictions of deployment {spec.deployment!r} in the window: it is not "
                "served yet, logging is off, or the logs are not flushed",
            )
        ]
    else:
        findings = _findings(client, spec, win, end, scores)
    passed = not any(f.breached for f in findings)
    result = MonitorResult(
        new_id(), spec.name, win.start, win.end, passed, tuple(findings), scores, clock()
    )
    if record:
        client.monitors.record(spec, result, _answered(win))
        _on_result(client, spec, result)
    return result


def _bounds(spec: MonitorSpec, end: int, window: tuple[int, int] | None) -> tuple[int, int]:
    if window is None:
        return window_bounds(spec, end)
    if (
        not isinstance(window, tuple | list)
        or len(window) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in window)
        or window[0] >= window[1]
    ):
        raise InvalidInput(
            f"window must be (start_ms, end_ms), epoch milliseconds with start before end. "
            f"Got {window!r}."
        )
    return int(window[0]), int(window[1])


def _answered(win: Window) -> list[str]:
    if "__model_version" not in win.frame.columns:
        return []
    return sorted(str(v) for v in win.frame["__model_version"].dropna().unique())


def _findings(
    client: Any, spec: MonitorSpec, win: Window, end: int, scores: dict[str, Any]
) -> list[Finding]:
    frame = win.frame
    findings: list[Finding] = []
    logged = None
    if "__model_version" in frame.columns and frame["__model_version"].notna().any():
        logged = str(frame["__model_version"].mode().iloc[0])
    baseline = None
    try:
        source = find_source(client, spec, logged)
        previous = client.monitors.last_reference(spec.name)
        baseline, digest = load_baseline(client, spec, source, previous)
        scores["reference"] = {"dataset": source.dataset, "model": source.model}
        scores["reference"].update({"key": baseline.key, "object": digest})
        if baseline.note:
            findings.append(Finding("prediction_drift", "", None, None, False, baseline.note))
    except KeelError as exc:
        findings.append(
            Finding("data_drift", "", None, None, False, f"no reference to compare with: {exc}")
        )
    skip = _not_comparable(client, spec)
    joined, total = _labels(client, spec, win, end)
    findings += _checks(spec, baseline, frame, joined, total, skip, scores, "")
    for column in spec.segments:
        if column not in frame.columns:
            findings.append(
                Finding(
                    "missing_column",
                    column,
                    None,
                    None,
                    True,
                    f"segment column {column!r} is not in the served inputs",
                )
            )
            continue
        values = frame[column].astype(str)
        for value in values.value_counts().head(MAX_SEGMENT_VALUES).index:
            segment = f"{column}={value}"
            part = frame[(values == value).to_numpy()]
            labelled = joined[joined[column].astype(str) == value] if len(joined) else joined
            reference = None
            if baseline is not None:
                reference = baseline.segments.get(column, {}).get(value)
            scoped = Baseline(baseline.key, "", None, reference) if reference else None
            findings += _checks(spec, scoped, part, labelled, len(part), skip, scores, segment)
    findings += checks.service(spec, frame, win.start, win.end, scores)
    return findings


def _checks(
    spec: MonitorSpec,
    baseline: Baseline | None,
    frame: pd.DataFrame,
    joined: pd.DataFrame,
    total: int,
    skip: set[str],
    scores: dict[str, Any],
    segment: str,
) -> list[Finding]:
    found: list[Finding] = []
    features = [c for c in frame.columns if not c.startswith("__")]
    if baseline is not None and spec.drift is not None:
        found += checks.data_drift(spec, baseline.whole, frame, features, skip, scores, segment)
    if baseline is not None and spec.prediction is not None and spec.prediction.drift:
        found += checks.prediction_drift(spec, baseline.whole, frame, scores, segment)
    if baseline is None and segment and spec.drift is not None:
        found.append(
            Finding(
                "data_drift", f"[{segment}]", None, None, False, "no reference rows: not tested"
            )
        )
    found += checks.ranges(spec, frame, segment)
    found += checks.bias(spec, joined, scores, segment)
    found += checks.performance(spec, joined, total, scores, segment)
    found += checks.estimate(spec, frame, scores, segment)
    return found


def _labels(client: Any, spec: MonitorSpec, win: Window, end: int) -> tuple[pd.DataFrame, int]:
    """The predictions whose performance is judged now, joined with their labels: the
    window moved back by ``label_delay`` (labels of newer ones have not come back yet)."""
    if spec.performance is None and (spec.prediction is None or spec.prediction.bias_max is None):
        return win.frame.iloc[0:0], 0
    delay = spec.performance.label_delay_ms if spec.performance is not None else 0
    scored = win
    if delay and spec.window.size_ms is not None:
        scored = read_window(client.predictions, spec, win.start - delay, win.end - delay)
    if len(scored) == 0:
        return win.frame.iloc[0:0], 0
    feedback = client.predictions.read(
        "feedback", deployment=spec.deployment, since_ms=scored.start, until_ms=end
    ).to_pandas()
    return checks.labelled(scored.frame, feedback), len(scored)


def _not_comparable(client: Any, spec: MonitorSpec) -> set[str]:
    """Inputs the deployment's logging drops or hashes: absent or unlike the reference
    by design, so not findings."""
    try:
        rollout = client.deployments.current(spec.deployment)
    except KeelError:
        return set()
    if rollout is None:
        return set()
    policy = rollout.spec.logging
    return set(policy.exclude) | set(policy.hash)


def _on_result(client: Any, spec: MonitorSpec, result: MonitorResult) -> None:
    """Hand the result to the alerts (``keel.monitoring.alerts.handle``): incidents and
    their actions; a failing alert action is logged and never stops monitoring."""
    from . import alerts

    try:
        alerts.handle(client, spec, result)
    except Exception:  # an alert must never stop the next evaluation
        _log.exception("alerts of monitor %s failed on result %s", spec.name, result.id)
