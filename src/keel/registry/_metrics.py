"""Evaluation metrics: classification, regression, the trivial baseline, latency, windows.

Everything here works on numpy arrays and is independent of the registry, so it can be
checked against scikit-learn's own functions. A metric that is undefined on the data (ROC
AUC with one class present, R2 on one row) is left out of the result and named in the
notes, rather than stored as NaN, which JSON columns on PostgreSQL refuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput

__all__ = [
    "CLASSIFICATION_METRICS",
    "FREQUENCIES",
    "LATENCY_METRICS",
    "REGRESSION_METRICS",
    "baseline_predictions",
    "classification_metrics",
    "expected_calibration_error",
    "measure_latency",
    "regression_metrics",
    "time_windows",
]

CLASSIFICATION_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "calibration_error",
)
REGRESSION_METRICS = ("mae", "rmse", "r2", "mape")
LATENCY_METRICS = ("latency_p50_ms", "latency_p95_ms", "latency_p99_ms", "throughput_rows_s")
FREQUENCIES = {"day": "D", "week": "W", "month": "M", "quarter": "Q"}
LATENCY_CALLS = 200
LATENCY_BUDGET_S = 5.0
"""Single-row timing stops early after this long, so a slow model cannot stall evaluation."""


def classification_metrics(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    proba: np.ndarray | None,
    classes: np.ndarray,
) -> tuple[dict[str, float], list[str]]:
    """Accuracy, precision, recall, F1 and, with probabilities, ROC AUC, log loss and ECE.

    Binary problems score the positive class ``classes[1]``; multi-class problems average
    precision, recall and F1 over the classes present (macro), compute one-vs-rest ROC AUC
    and the top-label calibration error.

    Args:
        y_true: the labels.
        y_pred: the predicted labels.
        proba: predicted probabilities, one column per entry of ``classes``, or None.
        classes: the model's classes, in the order of ``proba``'s columns.

    Returns:
        The metrics, and notes on metrics that could not be computed.
    """
    notes: list[str] = []
    out: dict[str, float] = {"rows": float(len(y_true))}
    if len(y_true) == 0:
        return out, ["no rows"]
    out["accuracy"] = float(np.mean(y_true == y_pred))
    binary = len(classes) == 2
    if binary:
        precision, recall, f1 = _prf(y_true == classes[1], y_pred == classes[1])
    else:
        labels = pd.unique(np.concatenate([y_true, y_pred]).astype(object))
        scores = np.array([_prf(y_true == c, y_pred == c) for c in labels])
        precision, recall, f1 = scores.mean(axis=0)
    out.update(precision=float(precision), recall=float(recall), f1=float(f1))
    if proba is None:
        return out, notes
    from sklearn.metrics import log_loss, roc_auc_score

    present = np.isin(y_true, classes)
    if not present.all():
        unknown = sorted({str(v) for v in y_true[~present]})[:5]
        notes.append(f"roc_auc/log_loss skipped: labels {unknown} are not classes of the model")
        return out, notes
    if binary:
        positive = y_true == classes[1]
        if positive.all() or not positive.any():
            notes.append("roc_auc undefined: only one class present")
        else:
            out["roc_auc"] = float(roc_auc_score(positive, proba[:, 1]))
        out["calibration_error"] = expected_calibration_error(positive, proba[:, 1])
    else:
        if len(np.unique(y_true)) < len(classes):
            notes.append("roc_auc undefined: not every class is present")
        else:
            out["roc_auc"] = float(roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
        top = proba.argmax(axis=1)
        out["calibration_error"] = expected_calibration_error(
            classes[top] == y_true, proba[np.arange(len(top)), top]
        )
    out["log_loss"] = float(log_loss(y_true, proba, labels=classes))
    return out, notes


def _prf(true: np.ndarray, pred: np.ndarray) -> tuple[float, float, float]:
    """Precision, recall and F1 of boolean arrays; 0 where a ratio is 0/0 (as sklearn)."""
    tp = float(np.sum(true & pred))
    predicted, actual = float(np.sum(pred)), float(np.sum(true))
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * tp / (predicted + actual) if predicted + actual else 0.0
    return precision, recall, f1


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-width bins of ``p`` in [0, 1].

    The row-weighted mean, over bins, of |observed rate - mean predicted probability|.
    """
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    if len(p) == 0:
        return 0.0
    index = np.minimum((p * bins).astype(int), bins - 1)
    observed = np.bincount(index, weights=y, minlength=bins)
    predicted = np.bincount(index, weights=p, minlength=bins)
    return float(np.abs(observed - predicted).sum() / len(p))


def regression_metrics(
    y_true: np.ndarray, y_pred: np.ndarray
) -> tuple[dict[str, float], list[str]]:
    """MAE, RMSE, R2 and MAPE (as scikit-learn defines them, MAPE as a fraction)."""
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float).reshape(len(y_true), -1)[:, 0]
    out: dict[str, float] = {"rows": float(len(y_true))}
    if len(y_true) == 0:
        return out, ["no rows"]
    error = y_pred - y_true
    out["mae"] = float(np.mean(np.abs(error)))
    out["rmse"] = float(np.sqrt(np.mean(error**2)))
    eps = np.finfo(np.float64).eps
    out["mape"] = float(np.mean(np.abs(error) / np.maximum(np.abs(y_true), eps)))
    total = float(np.sum((y_true - y_true.mean()) ** 2))
    if len(y_true) < 2 or total == 0.0:
        return out, ["r2 undefined: the label is constant"]
    out["r2"] = 1.0 - float(np.sum(error**2)) / total
    return out, []


def baseline_predictions(
    task: str, y_true: np.ndarray, classes: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, str]:
    """The trivial model: the majority class with the class prior as its probabilities, or
    the mean. Returns (predictions, probabilities, classes, description)."""
    n = len(y_true)
    if task == "regression":
        mean = float(np.mean(np.asarray(y_true, dtype=float))) if n else 0.0
        return np.full(n, mean), None, None, f"the mean, {mean:.6g}"
    counts = pd.Series(y_true).value_counts()
    if classes is None:
        classes = np.asarray(sorted(counts.index))
    prior = np.array([counts.get(c, 0) for c in classes], dtype=float)
    prior = prior / prior.sum() if prior.sum() else np.full(len(classes), 1 / len(classes))
    majority = counts.index[0] if n else classes[0]
    predictions = np.full(n, majority, dtype=object)
    return predictions, np.tile(prior, (n, 1)), classes, f"the majority class, {majority!r}"


def measure_latency(
    predict: Callable[[pd.DataFrame], Any], frame: pd.DataFrame, batch_seconds: float
) -> dict[str, float]:
    """Single-row latency percentiles in ms over up to ``LATENCY_CALLS`` calls, and batch
    throughput from the time the whole frame took (``batch_seconds``)."""
    out = {"throughput_rows_s": len(frame) / batch_seconds if batch_seconds > 0 else 0.0}
    if len(frame) == 0:
        return out
    rows = [frame.iloc[[i % len(frame)]] for i in range(LATENCY_CALLS)]
    predict(rows[0])  # warm caches and lazy imports outside the measurement
    times = []
    deadline = time.perf_counter() + LATENCY_BUDGET_S
    for row in rows:
        start = time.perf_counter()
        predict(row)
        end = time.perf_counter()
        times.append((end - start) * 1000.0)
        if end > deadline:
            break
    p50, p95, p99 = np.percentile(times, [50, 95, 99])
    out.update(latency_p50_ms=float(p50), latency_p95_ms=float(p95), latency_p99_ms=float(p99))
    return out


def time_windows(column: pd.Series, freq: str) -> pd.Series:
    """Label each row with its window (``2024-01`` for months, ``2024Q1`` for quarters)."""
    if freq not in FREQUENCIES:
        raise InvalidInput(
            f"Back-test frequency {freq!r} is not one of {', '.join(FREQUENCIES)}. "
            "Use e.g. --freq month."
        )
    values = column
    if not pd.api.types.is_datetime64_any_dtype(values):
        try:
            values = pd.to_datetime(values, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise InvalidInput(
                f"Back-test column {column.name!r} holds {column.dtype} values that are not "
                f"ISO 8601 dates ({str(exc).splitlines()[0]}). Give a date or timestamp column."
            ) from exc
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.dt.to_period(FREQUENCIES[freq])
