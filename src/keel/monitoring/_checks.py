"""The checks of one monitor evaluation, each turning a window into findings and scores.

Every check takes the window's frame (features and ``__`` log fields, see
:mod:`keel.monitoring._window`) and returns findings; numbers for charts go into
``scores``. A check that cannot run says why in a finding that is not breached.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from keel.monitoring._drift import drift
from keel.monitoring._reference import Reference
from keel.monitoring._results import Finding
from keel.monitoring.spec import METRICS, MonitorSpec, Performance, Range

__all__ = [
    "bias",
    "data_drift",
    "estimate",
    "performance",
    "prediction_drift",
    "ranges",
    "service",
]


def _tag(subject: str, segment: str) -> str:
    return f"{subject}[{segment}]" if segment else subject


def data_drift(
    spec: MonitorSpec,
    reference: Reference,
    frame: pd.DataFrame,
    features: list[str],
    skip: set[str],
    scores: dict[str, Any],
    segment: str = "",
) -> list[Finding]:
    """Drift of each input against the reference, and the dataset's verdict."""
    policy = spec.drift
    assert policy is not None
    names = [n for n in reference.columns if not n.startswith("__") and n not in skip]
    current = frame[[f for f in features if f not in skip]]
    report = drift(
        reference,
        current,
        columns=names,
        method=policy.method,
        threshold=policy.threshold,
        share_of_columns=policy.share_of_columns,
    )
    findings = [
        Finding(
            "new_column",
            _tag(name, segment),
            None,
            None,
            False,
            f"input {name!r} is served but not in the reference (a feature the model was "
            "not trained on)",
        )
        for name in current.columns
        if name not in reference.columns
    ]
    per_column: dict[str, float | None] = {}
    for column in report.columns:
        name = column.name
        if name.startswith("__") or name in skip:
            continue
        subject = _tag(name, segment)
        if column.status == "tested":
            per_column[name] = column.score
            breached = column.drifted and report.drifted
            note = "" if breached or not column.drifted else " (below the dataset's share)"
            findings.append(
                Finding(
                    "data_drift",
                    subject,
                    column.score,
                    column.threshold,
                    breached,
                    column.message + note,
                )
            )
        elif column.status == "missing":
            findings.append(
                Finding(
                    "missing_column",
                    subject,
                    None,
                    None,
                    True,
                    f"input {name!r} is in the reference but not in the served data: the "
                    "model is not sent it, or the deployment's logging drops it",
                )
            )
        else:
            findings.append(
                Finding("data_drift", subject, None, None, False, f"{name}: {column.message}")
            )
    tested = [c for c in report.columns if c.status == "tested" and not c.name.startswith("__")]
    drifted = [c.name for c in tested if c.drifted]
    findings.append(
        Finding(
            "data_drift",
            _tag("", segment),
            report.drifted_share,
            policy.share_of_columns,
            report.drifted,
            f"{len(drifted)} of {len(tested)} inputs drifted ({report.drifted_share:.0%}; "
            f"the dataset drifts at {policy.share_of_columns:.0%})"
            + (f": {', '.join(drifted[:10])}" if drifted else ""),
        )
    )
    scores.setdefault("drift", {}).update({_tag(k, segment): v for k, v in per_column.items()})
    scores.setdefault("drifted_share", {})[segment or "all"] = report.drifted_share
    return findings


def prediction_drift(
    spec: MonitorSpec,
    reference: Reference,
    frame: pd.DataFrame,
    scores: dict[str, Any],
    segment: str = "",
) -> list[Finding]:
    """Drift of the model's outputs: the positive class's probability for a binary
    classifier, else the prediction, against the model's outputs on the reference."""
    column = "__p1" if "__p1" in reference.columns and "__p1" in frame.columns else "__prediction"
    if column not in reference.columns or column not in frame.columns:
        return []
    threshold = spec.drift.threshold if spec.drift is not None else None
    method = spec.drift.method if spec.drift is not None else "auto"
    report = drift(reference, frame[[column]], columns=[column], method=method, threshold=threshold)
    result = report[column]
    what = "predicted probability" if column == "__p1" else "predictions"
    subject = _tag("probability" if column == "__p1" else "prediction", segment)
    if result.status != "tested":
        return [
            Finding("prediction_drift", subject, None, None, False, f"{what}: {result.message}")
        ]
    scores.setdefault("prediction_drift", {})[segment or "all"] = result.score
    return [
        Finding(
            "prediction_drift",
            subject,
            result.score,
            result.threshold,
            result.drifted,
            f"{what}: {result.message}",
        )
    ]


def _outside(values: pd.Series, bounds: Range) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    bad = np.zeros(len(numbers), dtype=bool)
    if bounds.min is not None:
        bad |= numbers < bounds.min
    if bounds.max is not None:
        bad |= numbers > bounds.max
    return bad


def _bounds(bounds: Range) -> str:
    low = "-inf" if bounds.min is None else f"{bounds.min:g}"
    high = "inf" if bounds.max is None else f"{bounds.max:g}"
    return f"[{low}, {high}]"


def ranges(spec: MonitorSpec, frame: pd.DataFrame, segment: str = "") -> list[Finding]:
    """Inputs and predictions outside their ranges: one finding per checked column."""
    checks = dict(spec.ranges)
    if spec.prediction is not None and spec.prediction.range is not None:
        checks["__prediction"] = spec.prediction.range
    findings = []
    for column, bounds in checks.items():
        name = "prediction" if column == "__prediction" else column
        if column not in frame.columns:
            if column != "__prediction":
                findings.append(
                    Finding("range", _tag(name, segment), None, None, False, f"{name}: not served")
                )
            continue
        bad = _outside(frame[column], bounds)
        count = int(bad.sum())
        share = count / len(bad) if len(bad) else 0.0
        example = ""
        if count:
            example = f"; e.g. {frame[column].to_numpy()[bad][0]!r}"
        findings.append(
            Finding(
                "range",
                _tag(name, segment),
                share,
                0.0,
                count > 0,
                f"{name}: {count} of {len(bad)} values outside {_bounds(bounds)}{example}",
            )
        )
    return findings


# -- labels ------------------------------------------------------------------------------


def labelled(frame: pd.DataFrame, feedback: pd.DataFrame) -> pd.DataFrame:
    """The window's rows that have a label (the newest label of each request), as
    ``__label`` (a number) beside the prediction."""
    if feedback.empty or "request_id" not in feedback.columns:
        return frame.iloc[0:0].assign(__label=pd.Series(dtype=float))
    latest = (
        feedback.dropna(subset=["request_id"])
        .sort_values("at")
        .drop_duplicates("request_id", keep="last")
    )
    labels = latest.set_index("request_id")["label"]
    joined = frame.assign(__label=frame["__request_id"].map(labels))
    joined = joined[joined["__label"].notna()]
    numbers = pd.to_numeric(joined["__label"], errors="coerce")
    if numbers.isna().any():  # text labels: their sorted order, as scikit-learn's classes_
        order = {v: i for i, v in enumerate(sorted(joined["__label"].astype(str).unique()))}
        numbers = joined["__label"].astype(str).map(order).astype(float)
    return joined.assign(__label=numbers.astype(float))


def bias(
    spec: MonitorSpec, joined: pd.DataFrame, scores: dict[str, Any], segment: str = ""
) -> list[Finding]:
    """Mean predicted value (the positive probability for a binary classifier) against
    the observed label rate, on the rows whose labels arrived."""
    limit = spec.prediction.bias_max if spec.prediction is not None else None
    if limit is None:
        return []
    need = spec.performance.min_labels if spec.performance is not None else 30
    subject = _tag("prediction", segment)
    if len(joined) < need:
        return [
            Finding(
                "bias",
                subject,
                None,
                limit,
                False,
                f"{len(joined)} labelled predictions; bias is measured from {need}",
            )
        ]
    predicted = joined["__p1"] if "__p1" in joined.columns else joined["__prediction"]
    mean_predicted = float(pd.to_numeric(predicted, errors="coerce").mean())
    observed = float(joined["__label"].mean())
    gap = abs(mean_predicted - observed)
    scores.setdefault("bias", {})[segment or "all"] = mean_predicted - observed
    return [
        Finding(
            "bias",
            subject,
            gap,
            limit,
            gap > limit,
            f"mean prediction {mean_predicted:.4g} vs observed {observed:.4g} "
            f"(gap {gap:.4g}, max {limit:g}) on {len(joined)} labels",
        )
    ]


def metric_value(metric: str, label: np.ndarray, predicted: np.ndarray, p1: np.ndarray | None):
    """A performance metric (None when it is undefined, such as AUC on one class)."""
    from sklearn import metrics

    if metric == "rmse":
        return float(np.sqrt(np.mean((label - predicted) ** 2)))
    if metric == "mae":
        return float(np.mean(np.abs(label - predicted)))
    if metric == "accuracy":
        return float(np.mean(label == predicted))
    if metric == "f1":
        return float(metrics.f1_score(label, predicted, average="binary", zero_division=0))
    if p1 is None or len(np.unique(label)) < 2:
        return None
    return float(metrics.roc_auc_score(label, p1))


def _verdict(perf: Performance, value: float) -> tuple[float, bool]:
    if METRICS[perf.metric] == "min":
        assert perf.min is not None
        return perf.min, value < perf.min
    assert perf.max is not None
    return perf.max, value > perf.max


def performance(
    spec: MonitorSpec, joined: pd.DataFrame, total: int, scores: dict[str, Any], segment=""
) -> list[Finding]:
    """The metric on labelled predictions, once ``min_labels`` have arrived."""
    perf = spec.performance
    if perf is None:
        return []
    subject = _tag(perf.metric, segment)
    if len(joined) < perf.min_labels:
        return [
            Finding(
                "performance",
                subject,
                None,
                perf.min if perf.min is not None else perf.max,
                False,
                f"{len(joined)} of {total} predictions labelled; {perf.metric} is computed "
                f"from {perf.min_labels} labels",
            )
        ]
    label = joined["__label"].to_numpy(dtype=float)
    predicted = pd.to_numeric(joined["__prediction"], errors="coerce").to_numpy(dtype=float)
    p1 = joined["__p1"].to_numpy(dtype=float) if "__p1" in joined.columns else None
    value = metric_value(perf.metric, label, predicted, p1)
    if value is None:
        why = "needs probabilities" if p1 is None else "needs both classes among the labels"
        return [Finding("performance", subject, None, None, False, f"{perf.metric} {why}")]
    threshold, breached = _verdict(perf, value)
    scores.setdefault("performance", {})[segment or "all"] = value
    scores.setdefault("labels", {})[segment or "all"] = len(joined)
    bound = "min" if perf.min is not None else "max"
    return [
        Finding(
            "performance",
            subject,
            value,
            threshold,
            breached,
            f"{perf.metric} {value:.4g} on {len(joined)} labelled predictions ({bound} "
            f"{threshold:g})",
        )
    ]


def cbpe(metric: str, p1: np.ndarray) -> float | None:
    """Confidence-based performance estimation (NannyML's CBPE) for a calibrated binary
    classifier: the metric's expected value if each label is 1 with probability ``p1``."""
    p1 = p1[np.isfinite(p1)]
    if len(p1) == 0:
        return None
    predicted = p1 >= 0.5
    if metric == "accuracy":
        return float(np.mean(np.where(predicted, p1, 1 - p1)))
    if metric == "f1":
        tp = float(np.sum(p1 * predicted))
        fp = float(np.sum((1 - p1) * predicted))
        fn = float(np.sum(p1 * ~predicted))
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    if metric == "roc_auc":
        order = np.argsort(-p1, kind="stable")
        tp = np.concatenate([[0.0], np.cumsum(p1[order])])
        fp = np.concatenate([[0.0], np.cumsum(1 - p1[order])])
        if tp[-1] == 0 or fp[-1] == 0:
            return None
        return float(np.trapezoid(tp / tp[-1], fp / fp[-1]))
    return None


def estimate(
    spec: MonitorSpec, frame: pd.DataFrame, scores: dict[str, Any], segment: str = ""
) -> list[Finding]:
    """The estimated metric of the window from the model's confidence, before labels."""
    perf = spec.performance
    if perf is None or perf.metric not in ("accuracy", "f1", "roc_auc"):
        return []
    if "__p1" not in frame.columns:
        return []
    value = cbpe(perf.metric, frame["__p1"].to_numpy(dtype=float))
    if value is None:
        return []
    threshold, breached = _verdict(perf, value)
    scores.setdefault("estimated", {})[segment or "all"] = value
    realised = (scores.get("performance") or {}).get(segment or "all")
    beside = f"; realised {realised:.4g}" if realised is not None else "; no labels yet"
    return [
        Finding(
            "estimated_performance",
            _tag(perf.metric, segment),
            value,
            threshold,
            breached,
            f"estimated {perf.metric} {value:.4g} from the model's confidence (CBPE, "
            f"assumes calibrated probabilities){beside}",
        )
    ]


def service(spec: MonitorSpec, frame: pd.DataFrame, start: int, end: int, scores) -> list:
    """p99 latency and throughput of the window's requests; the error rate is not in the
    prediction log (failed requests are not logged), which the finding says."""
    if "__request_id" not in frame.columns or frame.empty:
        return []
    requests = frame.drop_duplicates("__request_id")
    latency = requests["__latency_ms"].to_numpy(dtype=float)
    latency = latency[np.isfinite(latency)]
    p99 = float(np.percentile(latency, 99)) if len(latency) else None
    seconds = max((end - start) / 1000, 1e-3)
    scores["p99_ms"] = p99
    scores["requests"] = len(requests)
    scores["throughput_rps"] = len(requests) / seconds
    policy = spec.service
    if policy is None:
        return []
    findings = []
    if policy.max_p99_ms is not None and p99 is not None:
        findings.append(
            Finding(
                "service",
                "p99_ms",
                p99,
                policy.max_p99_ms,
                p99 > policy.max_p99_ms,
                f"p99 latency {p99:.4g} ms over {len(requests)} requests "
                f"(max {policy.max_p99_ms:g} ms)",
            )
        )
    if policy.max_error_rate is not None:
        findings.append(
            Finding(
                "service",
                "error_rate",
                None,
                policy.max_error_rate,
                False,
                "error rate not measured: failed requests are not in the prediction log; "
                "watch the model server's /metrics (keel_serve_requests_total by status)",
            )
        )
    return findings
