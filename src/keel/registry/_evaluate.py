"""Evaluate a model version on a dataset, against another version and a trivial baseline.

``evaluate`` loads both models and the data once, predicts once per model, and computes
every view from those predictions: overall metrics, per segment (``by``) and per time
window (``backtest``). Each view slices the same prediction arrays by group indices, so
segments and windows cost no extra predictions. The gate (:mod:`._gate`) is decided on the
overall metrics; with ``record=True`` the result is stored where the registry's promotion
policy looks for a passing gate.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from keel.errors import InvalidInput, did_you_mean

from ._gate import parse_gate
from ._metrics import (
    CLASSIFICATION_METRICS,
    FREQUENCIES,
    LATENCY_METRICS,
    REGRESSION_METRICS,
    baseline_predictions,
    classification_metrics,
    measure_latency,
    regression_metrics,
    time_windows,
)

if TYPE_CHECKING:
    from keel.data import DatasetService, DatasetVersion

    from ._records import ModelVersion
    from ._service import RegistryService

__all__ = ["Evaluation", "evaluate"]

TASKS = ("classification", "regression")
MAX_CLASSES = 20
"""A discrete label with more distinct values than this is treated as a regression target."""
SUMMARY = {"classification": ("accuracy", "roc_auc", "f1"), "regression": ("rmse", "mae", "r2")}


@dataclass
class Evaluation:
    """The result of :func:`evaluate`: metrics per model, segments, windows and the gate.

    ``metrics`` maps ``candidate``, ``against`` (when given) and ``baseline`` to their
    metrics; a metric that is undefined on the data is absent and explained in
    ``warnings``. ``beats_baseline`` is False when the candidate does no better than the
    trivial model on the primary metric (ROC AUC, else accuracy; RMSE for regression).
    """

    candidate: str
    against: str | None
    data: str
    task: str
    label: str
    metrics: dict[str, dict[str, float]]
    segments: dict[str, dict[str, dict[str, float]]] | None = None
    backtest: list[dict[str, Any]] | None = None
    gate: str | None = None
    passed: bool | None = None
    gate_detail: list[str] = field(default_factory=list)
    beats_baseline: bool = True
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; non-finite numbers become None (JSON has no NaN)."""
        return _finite(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Evaluation:
        """Read back what :meth:`to_dict` wrote (as stored with the evaluation)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_markdown(self) -> str:
        """A readable report: metrics table, baseline, gate, segments and windows."""
        against = f" against {self.against}" if self.against else ""
        lines = [
            f"## Evaluation of {self.candidate}{against}",
            "",
            f"Data `{self.data}`, label `{self.label}`, {self.task}.",
            "",
            *_table(self.metrics),
        ]
        if not self.beats_baseline:
            lines += ["", "**The candidate does not beat the trivial baseline.**"]
        if self.gate:
            verdict = "passed" if self.passed else "failed"
            lines += ["", f"Gate `{self.gate}`: **{verdict}**", ""]
            lines += [f"- {clause}" for clause in self.gate_detail]
        if self.segments:
            lines += ["", "### Segments", "", *_grouped(self.segments.items(), self.task)]
        if self.backtest:
            windows = [(w["window"], w) for w in self.backtest]
            lines += ["", "### Back-test", "", *_grouped(windows, self.task)]
        if self.warnings:
            lines += ["", "### Warnings", ""] + [f"- {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


@dataclass
class _Scored:
    """One model's predictions on the evaluation rows."""

    predictions: np.ndarray
    proba: np.ndarray | None
    classes: np.ndarray | None

    def take(self, rows: np.ndarray) -> _Scored:
        proba = None if self.proba is None else self.proba[rows]
        return _Scored(self.predictions[rows], proba, self.classes)


def evaluate(
    registry: RegistryService,
    candidate: str,
    *,
    data: str,
    label: str,
    against: str | None = None,
    by: str | None = None,
    gate: str | None = None,
    backtest: str | None = None,
    freq: str = "month",
    task: str | None = None,
    trust: bool = False,
    datasets: DatasetService | None = None,
    record: bool = True,
) -> Evaluation:
    """Evaluate ``candidate`` (and ``against``) on dataset ``data`` and decide ``gate``.

    Args:
        registry: the registry holding the models.
        candidate: the version to evaluate, e.g. ``credit:4``.
        data: a dataset reference with the evaluation rows, e.g. ``holdout:v1``.
        label: the target column; the model's signature inputs are the features.
        against: the version to compare with, e.g. ``credit@champion``.
        by: a column to report metrics for each of its values.
        gate: a rule such as ``roc_auc >= champion.roc_auc - 0.005 and latency_p99_ms <= 20``.
        backtest: a date column; metrics are also reported per window of ``freq``.
        freq: the back-test window: ``day``, ``week``, ``month`` or ``quarter``.
        task: ``classification`` or ``regression``; inferred from the label and model.
        trust: allow loading packages that unpickle code (pyfunc).
        datasets: the dataset service to read ``data`` with (the registry's store's).
        record: store the result with the candidate, where promotion policies look.

    Returns:
        The evaluation; a failing gate is a result (``passed=False``), not an exception.

    Raises:
        InvalidInput: a column, task, frequency or gate is not valid.
    """
    from keel.data import DatasetService

    parsed = parse_gate(gate) if gate is not None else None
    if task is not None and task not in TASKS:
        raise InvalidInput(f"task must be one of {', '.join(TASKS)}. Got {task!r}.")
    if backtest is not None and freq not in FREQUENCIES:
        raise InvalidInput(
            f"Back-test frequency {freq!r} is not one of {', '.join(FREQUENCIES)}."
            f"{did_you_mean(str(freq), list(FREQUENCIES))}"
        )
    datasets = datasets or DatasetService(registry.store, project=registry.project)
    warnings: list[str] = []
    dataset, frame = _read(datasets, data, (label, by, backtest), warnings)

    models = {"candidate": registry.get(candidate)}
    if against is not None:
        models["against"] = registry.get(against)
        if models["against"].id == models["candidate"].id:
            warnings.append(f"{against} is the candidate itself, {models['candidate'].ref}")
    loaded = {side: registry.load(version, trust=trust) for side, version in models.items()}
    task = task or _infer_task(frame[label], loaded["candidate"])
    if parsed is not None:
        known = (
            (*CLASSIFICATION_METRICS, "rows")
            if task == "classification"
            else (*REGRESSION_METRICS, "rows")
        )
        parsed.check_names((*known, *LATENCY_METRICS), ["candidate", "baseline", *models])
    y_true = _labels(frame[label], task, dataset.ref)

    scored: dict[str, _Scored] = {}
    metrics: dict[str, dict[str, float]] = {}
    for side, version in models.items():
        features = _features(frame, loaded[side], version, dataset.ref, exclude=(label,))
        scored[side], seconds = _predict(loaded[side], features, task, version, warnings)
        measured, notes = _score(task, y_true, scored[side])
        warnings += [f"{side} {version.ref}: {note}" for note in notes]
        metrics[side] = {**measured, **measure_latency(loaded[side].predict, features, seconds)}
    classes = scored["candidate"].classes
    predictions, proba, classes, described = baseline_predictions(task, y_true, classes)
    metrics["baseline"], _ = _score(task, y_true, _Scored(predictions, proba, classes))
    beats = _beats(task, metrics["candidate"], metrics["baseline"])
    if not beats:
        warnings.append(
            f"{models['candidate'].ref} does not beat the trivial baseline ({described}) on "
            f"{_primary(task, metrics['candidate'])}; check its features and training."
        )

    segments = _segments(frame[by], task, y_true, scored, warnings) if by else None
    windows = _windows(frame[backtest], freq, task, y_true, scored, warnings) if backtest else None

    result = Evaluation(
        candidate=models["candidate"].ref,
        against=models["against"].ref if against is not None else None,
        data=dataset.ref,
        task=task,
        label=label,
        metrics=metrics,
        segments=segments,
        backtest=windows,
        gate=gate,
        beats_baseline=beats,
        warnings=warnings,
    )
    if parsed is not None:
        verdict = parsed.check(metrics)
        result.passed, result.gate_detail = verdict.passed, verdict.details
    if record:
        registry.record_evaluation(
            models["candidate"],
            baseline=models.get("against"),
            data_ref=dataset.ref,
            metrics=result.to_dict(),
            gate=gate,
            passed=result.passed,
            report=result.to_markdown().encode(),
        )
    return result


# -- inputs --------------------------------------------------------------------------------


def _read(
    datasets: DatasetService,
    data: str,
    columns: tuple[str | None, str | None, str | None],
    warnings: list[str],
) -> tuple[DatasetVersion, pd.DataFrame]:
    """The dataset version and its rows that have a label; checks the named columns."""
    dataset = datasets.resolve(data)
    frame = datasets.load(dataset)
    label = columns[0]
    for role, column in zip(("label", "segment", "back-test"), columns, strict=True):
        if column is not None and column not in frame.columns:
            names = [str(c) for c in frame.columns]
            raise InvalidInput(
                f"Dataset {dataset.ref} has no {role} column {column!r}."
                f"{did_you_mean(str(column), names)} Columns: {', '.join(names[:30])}."
            )
    missing = frame[label].isna().to_numpy()
    if missing.any():
        warnings.append(f"{int(missing.sum())} rows without a {label!r} value were left out")
        frame = frame.loc[~missing].reset_index(drop=True)
    if frame.empty:
        raise InvalidInput(f"Dataset {dataset.ref} has no rows with a {label!r} value.")
    return dataset, frame


def _infer_task(label: pd.Series, loaded: Any) -> str:
    """Classification for a discrete label with few values scored by a classifier."""
    dtype = label.dtype
    discrete = (
        pd.api.types.is_bool_dtype(dtype)
        or pd.api.types.is_integer_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
        or pd.api.types.is_object_dtype(dtype)
    )
    if pd.api.types.is_float_dtype(dtype):
        discrete = bool(np.all(np.mod(label.to_numpy(dtype=float), 1) == 0))
    return (
        "classification"
        if discrete and label.nunique() <= MAX_CLASSES and _is_classifier(_native(loaded))
        else "regression"
    )


def _is_classifier(model: Any) -> bool:
    if hasattr(model, "predict_proba") or hasattr(model, "classes_"):
        return True
    try:
        from sklearn.base import is_classifier

        return bool(is_classifier(model))
    except (ImportError, AttributeError, TypeError):
        return False


def _native(loaded: Any) -> Any:
    return getattr(loaded, "native", None)


def _labels(column: pd.Series, task: str, ref: str) -> np.ndarray:
    if task == "classification":
        return column.to_numpy()
    try:
        return column.to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Label {column.name!r} of {ref} holds {column.dtype} values, which a regression "
            "cannot be scored on. Pass task='classification' (--task) if it is a class."
        ) from exc


def _input_names(loaded: Any, version: ModelVersion) -> list[str] | None:
    """The model's input columns: the loaded signature's, else the registered one's."""
    signature = getattr(loaded, "signature", None)
    inputs = getattr(signature, "inputs", None)
    if inputs is None and version.signature:
        inputs = version.signature.get("inputs")
    if not inputs:  # no signature: the columns a scikit-learn model was fitted on, if named
        fitted = getattr(_native(loaded), "feature_names_in_", None)
        return None if fitted is None else [str(n) for n in fitted]
    return [i["name"] if isinstance(i, dict) else i.name for i in inputs]


def _features(
    frame: pd.DataFrame, loaded: Any, version: ModelVersion, ref: str, exclude: tuple[str, ...]
) -> pd.DataFrame:
    names = _input_names(loaded, version)
    if names is None:
        return frame.drop(columns=list(exclude))
    absent = [n for n in names if n not in frame.columns]
    if absent:
        raise InvalidInput(
            f"Dataset {ref} lacks the columns {absent} that {version.ref} takes as inputs. "
            "Evaluate on data with every input of the model's signature."
        )
    return frame[names]


def _predict(
    loaded: Any, features: pd.DataFrame, task: str, version: ModelVersion, warnings: list[str]
) -> tuple[_Scored, float]:
    """Predictions through the loaded model (signature enforced), probabilities from the
    native model's ``predict_proba`` when it has one, and the batch time in seconds."""
    start = time.perf_counter()
    try:
        predictions = _column(loaded.predict(features))
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidInput(
            f"{version.ref} cannot score the evaluation rows ({', '.join(features.columns)}): "
            f"{exc}. Register the model with input_example= (its signature names its inputs), "
            "or evaluate on data holding only its inputs and the label."
        ) from exc
    seconds = time.perf_counter() - start
    if task == "regression":
        return _Scored(predictions, None, None), seconds
    native = _native(loaded)
    classes = getattr(native, "classes_", None)
    if not hasattr(native, "predict_proba") or classes is None:
        warnings.append(
            f"{version.ref} has no predict_proba: roc_auc, log_loss and calibration_error "
            "are not computed for it"
        )
        return _Scored(predictions, None, None), seconds
    proba = np.asarray(native.predict_proba(_enforced(loaded, features)), dtype=float)
    return _Scored(predictions, proba, np.asarray(classes)), seconds


def _enforced(loaded: Any, features: pd.DataFrame) -> Any:
    """The frame as the loaded model hands it to its native model (types enforced)."""
    enforce = getattr(loaded, "enforce", None)
    return enforce(features) if callable(enforce) else features


def _column(output: Any) -> np.ndarray:
    """A model's output as one value per row."""
    if isinstance(output, pd.DataFrame):
        output = output.iloc[:, 0]
    values = np.asarray(output)
    return values.reshape(len(values), -1)[:, 0] if values.ndim > 1 else values


# -- scoring -------------------------------------------------------------------------------


def _score(task: str, y_true: np.ndarray, scored: _Scored) -> tuple[dict[str, float], list[str]]:
    if task == "regression":
        return regression_metrics(y_true, scored.predictions)
    classes = scored.classes
    if classes is None:
        classes = np.asarray(pd.unique(np.concatenate([y_true, scored.predictions])))
    return classification_metrics(y_true, scored.predictions, scored.proba, classes)


def _views(
    task: str,
    y_true: np.ndarray,
    scored: dict[str, _Scored],
    rows: np.ndarray,
    where: str,
    warnings: list[str],
) -> dict[str, dict[str, float]]:
    out = {}
    for side, predictions in scored.items():
        out[side], notes = _score(task, y_true[rows], predictions.take(rows))
        warnings += [f"{where} ({side}): {note}" for note in notes]
    return out


def _segments(
    column: pd.Series,
    task: str,
    y_true: np.ndarray,
    scored: dict[str, _Scored],
    warnings: list[str],
) -> dict[str, dict[str, dict[str, float]]]:
    keys = column.astype(object).where(column.notna(), "(missing)").astype(str)
    return {
        key: _views(task, y_true, scored, rows, f"segment {key!r}", warnings)
        for key, rows in _groups(keys.to_numpy())
    }


def _windows(
    column: pd.Series,
    freq: str,
    task: str,
    y_true: np.ndarray,
    scored: dict[str, _Scored],
    warnings: list[str],
) -> list[dict[str, Any]]:
    periods = time_windows(column, freq)
    undated = periods.isna().to_numpy()
    if undated.any():
        warnings.append(f"{int(undated.sum())} rows without a {column.name!r} date were left out")
    windows = []
    for key, rows in _groups(periods.astype(str).where(~undated, "").to_numpy()):
        if key:  # the undated rows
            views = _views(task, y_true, scored, rows, f"window {key}", warnings)
            windows.append({"window": key, "rows": len(rows), **views})
    return windows


def _groups(keys: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Row positions of each distinct key, keys sorted (one pass, no per-group scans)."""
    codes, uniques = pd.factorize(keys, sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
    return [(str(u), order[bounds[i] : bounds[i + 1]]) for i, u in enumerate(uniques)]


def _primary(task: str, candidate: dict[str, float]) -> str:
    if task == "regression":
        return "rmse"
    return "roc_auc" if "roc_auc" in candidate else "accuracy"


def _beats(task: str, candidate: dict[str, float], baseline: dict[str, float]) -> bool:
    metric = _primary(task, candidate)
    if metric not in candidate or metric not in baseline:
        return True
    if metric == "rmse":
        return candidate[metric] < baseline[metric]
    return candidate[metric] > baseline[metric]


# -- reporting -----------------------------------------------------------------------------


def _finite(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _table(metrics: dict[str, dict[str, float]]) -> list[str]:
    sides = list(metrics)
    names = list(dict.fromkeys(k for side in sides for k in metrics[side]))
    lines = ["| metric | " + " | ".join(sides) + " |", "|---" * (len(sides) + 1) + "|"]
    for name in names:
        cells = [_fmt(metrics[side].get(name)) for side in sides]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def _grouped(groups: Any, task: str) -> list[str]:
    groups = list(groups)
    sides = [s for s in ("candidate", "against") if any(s in g for _, g in groups)]
    columns = [f"{side} {m}" for side in sides for m in SUMMARY[task]]
    lines = ["| | rows | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for key, views in groups:
        rows = views["candidate"].get("rows")
        cells = [_fmt(views.get(side, {}).get(m)) for side in sides for m in SUMMARY[task]]
        lines.append(f"| {key} | {_fmt(rows)} | " + " | ".join(cells) + " |")
    return lines
