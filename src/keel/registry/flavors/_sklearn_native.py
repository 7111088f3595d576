"""The native scorer: scikit-learn linear models and scalers evaluated with NumPy alone.

Loading a scikit-learn model costs over a second of imports (scikit-learn, SciPy, skops,
pandas) before the first prediction. For models made only of steps whose predictions are a
few array operations, registration writes those arrays and the operations beside the skops
file, and loading builds a scorer from them with NumPy only:

- ``native-scorer.json``: the operations, in order, naming their arrays;
- ``native-scorer.npz``: the arrays (read with ``allow_pickle=False``: data, never code).

Both are files of the package, listed in its manifest with their digests and verified on
load like every other file. The steps covered, each checked for its *exact* type (a
subclass may change the math) and for the parameters that change the math:

- ``StandardScaler`` (``with_mean``, ``with_std``), ``MinMaxScaler`` (``clip``);
- ``LogisticRegression`` (binary: ``expit`` of the decision, stacked as ``[1 - p, p]``;
  more classes: the softmax), ``LinearSVC``, ``RidgeClassifier`` (not multilabel),
  ``SGDClassifier`` (probabilities for ``loss="log_loss"``; ``modified_huber`` is left to
  scikit-learn);
- ``LinearRegression``, ``Ridge``, ``SGDRegressor``;
- a ``Pipeline`` of the scalers ending in one of those models.

Each operation is the NumPy expression scikit-learn evaluates (``X @ coef_.T +
intercept_``, ``X -= mean_``, ...), on the same arrays, so labels are identical and
probabilities and regression outputs equal scikit-learn's to float rounding. Registration
also checks it: the scorer and the estimator predict on a few hundred generated rows and
the native files are written only when they agree. Any other model gets no native files and
loads as before.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from keel.errors import IntegrityError

__all__ = ["NATIVE_ARRAYS", "NATIVE_OPS", "NativeScorer", "write_native"]

NATIVE_OPS = "native-scorer.json"
NATIVE_ARRAYS = "native-scorer.npz"
FORMAT = 1
"""Layout of ``native-scorer.json``; a newer one is not read (the estimator is loaded)."""

PROBE_ROWS = 512
"""Rows the scorer and the estimator both predict at registration before it is written."""

_LINEAR_CLASSIFIERS = {
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.linear_model._ridge.RidgeClassifier",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
}
_LINEAR_REGRESSORS = {
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._stochastic_gradient.SGDRegressor",
}
_PIPELINE = "sklearn.pipeline.Pipeline"
_STANDARD = "sklearn.preprocessing._data.StandardScaler"
_MINMAX = "sklearn.preprocessing._data.MinMaxScaler"
_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


class NotNative(Exception):
    """The model (or one of its steps) is outside what the native scorer evaluates."""


def write_native(model: Any, folder: Path) -> list[str]:
    """Write the native scorer of ``model`` into ``folder`` when it is covered; return the
    names of the files written (none for any other model, or when the scorer and the
    estimator disagree on generated rows)."""
    try:
        ops, arrays = _describe(model)
    except NotNative:
        return []
    scorer = NativeScorer(ops, arrays)
    if not _agrees(scorer, model):
        return []
    _write_npz(folder / NATIVE_ARRAYS, arrays)
    (folder / NATIVE_OPS).write_text(json.dumps(ops, sort_keys=True, indent=1))
    return [NATIVE_OPS, NATIVE_ARRAYS]


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``arrays`` as an ``.npz`` whose bytes depend on the arrays alone (``np.savez``
    stamps each entry with the clock: the same model would give another package)."""
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as out:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with out.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arrays[name]), allow_pickle=False)


def _name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _array(value: Any, what: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise NotNative(f"{what} is not a numeric NumPy array")
    return value


def _describe(model: Any) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The operations and arrays that compute ``model``'s predictions, or NotNative."""
    arrays: dict[str, np.ndarray] = {}
    if _outputs_frames(model):
        raise NotNative("set_output")
    if _name(model) == _PIPELINE:
        steps = [s for _, s in model.steps if s is not None and s != "passthrough"]
        if not steps:
            raise NotNative("empty pipeline")
        *transforms, final = steps
    else:
        transforms, final = [], model
    ops = [_transform(step, i, arrays) for i, step in enumerate(transforms)]
    head = _final(final, arrays)
    first = (transforms or [final])[0]  # a pipeline's first step may be "passthrough"
    width = int(getattr(first, "n_features_in_", -1))
    names = getattr(first, "feature_names_in_", None)
    if width < 1:
        raise NotNative("unknown width")
    description = {
        "format": FORMAT,
        "estimator": type(model).__name__,
        "n_features": width,
        "feature_names": [str(n) for n in names] if names is not None else None,
        "steps": ops,
        "final": head,
    }
    _check_widths(description, arrays)
    return description, arrays


def _outputs_frames(estimator: Any) -> bool:
    config = getattr(estimator, "_sklearn_output_config", None) or {}
    return config.get("transform", "default") != "default"


def _transform(step: Any, index: int, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    kind = _name(step)
    if _outputs_frames(step):
        raise NotNative("set_output")
    prefix = f"step{index}"
    if kind == _STANDARD:
        op: dict[str, Any] = {"op": "standardize", "mean": None, "scale": None}
        if step.with_mean:
            arrays[f"{prefix}.mean"] = _array(step.mean_, "mean_")
            op["mean"] = f"{prefix}.mean"
        if step.with_std:
            arrays[f"{prefix}.scale"] = _array(step.scale_, "scale_")
            op["scale"] = f"{prefix}.scale"
        return op
    if kind == _MINMAX:
        arrays[f"{prefix}.scale"] = _array(step.scale_, "scale_")
        arrays[f"{prefix}.min"] = _array(step.min_, "min_")
        low, high = (float(v) for v in step.feature_range)
        return {
            "op": "minmax",
            "scale": f"{prefix}.scale",
            "min": f"{prefix}.min",
            "clip": [low, high] if step.clip else None,
        }
    raise NotNative(kind)


def _final(model: Any, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    kind = _name(model)
    if kind not in _LINEAR_CLASSIFIERS and kind not in _LINEAR_REGRESSORS:
        raise NotNative(kind)
    coef = _array(model.coef_, "coef_")
    if coef.ndim not in (1, 2):
        raise NotNative("coef_ shape")
    arrays["coef"] = coef
    intercept = model.intercept_
    if isinstance(intercept, float | int) and not isinstance(intercept, bool):
        arrays["intercept"] = np.asarray(float(intercept))  # fit_intercept=False: 0.0
    else:
        arrays["intercept"] = _array(np.asarray(intercept), "intercept_")
    head: dict[str, Any] = {"op": "linear", "coef": "coef", "intercept": "intercept"}
    if kind in _LINEAR_REGRESSORS:
        head["task"] = "regression"
        return head
    if kind.endswith("RidgeClassifier") and model._label_binarizer.y_type_.startswith("multilabel"):
        raise NotNative("multilabel RidgeClassifier")
    classes = model.classes_
    if not isinstance(classes, np.ndarray) or classes.ndim != 1 or len(classes) < 2:
        raise NotNative("classes_")
    head["task"] = "classification"
    head["classes"] = "classes"
    head["classes_object"] = classes.dtype == object
    if classes.dtype == object:
        if not all(type(c) is str for c in classes):
            raise NotNative("object classes that are not all strings")
        arrays["classes"] = np.array(list(classes), dtype=str)
    elif classes.dtype.kind in "biufU":
        arrays["classes"] = classes
    else:
        raise NotNative(f"classes_ of dtype {classes.dtype}")
    head["proba"] = _proba_kind(model, kind, len(classes))
    return head


def _proba_kind(model: Any, kind: str, n_classes: int) -> str | None:
    """How the estimator computes ``predict_proba``: ``lr`` (scikit-learn's
    ``_predict_proba_lr``: expit, then one-vs-rest normalisation beyond two classes),
    ``softmax``, or None when it has no ``predict_proba``."""
    if kind.endswith("LogisticRegression"):
        multi = getattr(model, "multi_class", "deprecated")
        if multi not in ("deprecated", "auto", "multinomial"):
            raise NotNative(f"multi_class={multi!r}")
        return "lr" if n_classes <= 2 else "softmax"
    if kind.endswith("SGDClassifier"):
        if model.loss == "log_loss":
            return "lr"
        if model.loss == "modified_huber":
            raise NotNative("modified_huber probabilities")
    return None


def _check_widths(description: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    width = description["n_features"]
    for op in description["steps"]:
        for key in ("mean", "scale", "min"):
            name = op.get(key)
            if name is not None and arrays[name].shape != (width,):
                raise NotNative(f"{key} of shape {arrays[name].shape}")
    coef = arrays["coef"]
    if coef.shape[-1] != width:
        raise NotNative(f"coef_ of shape {coef.shape}")
    names = description["feature_names"]
    if names is not None and (len(names) != width or len(set(names)) != width):
        raise NotNative("feature names")


def _agrees(scorer: NativeScorer, model: Any) -> bool:
    """Whether the scorer gives the estimator's labels (exactly) and probabilities or values
    (to float rounding) on generated rows around the data the model was fitted on."""
    import warnings

    rng = np.random.default_rng(0)
    center, spread = np.zeros(scorer.n_features), np.ones(scorer.n_features)
    for op in scorer.steps:
        if op["op"] == "standardize":
            if op["mean"] is not None:
                center = scorer.arrays[op["mean"]].astype(float)
            if op["scale"] is not None:
                spread = scorer.arrays[op["scale"]].astype(float)
            break
        if op["op"] == "minmax":
            scale = scorer.arrays[op["scale"]].astype(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                spread = np.where(scale != 0, 1 / np.abs(scale), 1.0)
                center = np.where(scale != 0, -scorer.arrays[op["min"]] / scale, 0.0)
            break
    X = center + spread * rng.standard_normal((PROBE_ROWS, scorer.n_features)) * 2
    X = np.ascontiguousarray(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "X does not have valid feature names"
        try:
            expected = model.predict(X)
            probabilities = model.predict_proba(X) if scorer.has_proba else None
        except Exception:
            return False
    got = scorer.predict(X)
    if scorer.task == "classification":
        if got.dtype != expected.dtype or not np.array_equal(got, expected):
            return False
    elif got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-9, atol=1e-9):
        return False
    if probabilities is not None:
        mine = scorer.predict_proba(X)
        if mine.shape != probabilities.shape:
            return False
        return bool(np.allclose(mine, probabilities, rtol=1e-9, atol=1e-12))
    return True


class NativeScorer:
    """Predictions of a covered scikit-learn model from its arrays, with NumPy alone.

    Attributes:
        estimator: the estimator's class name (``Pipeline``, ``LogisticRegression``).
        n_features: the number of input columns.
        feature_names: the columns the model was fitted on, in order (None when it was
            fitted on an array).
        task: ``classification`` or ``regression``.
        classes: the classes, as the estimator's ``classes_`` (classifiers), else None.
        has_proba: whether the estimator has ``predict_proba``.
    """

    def __init__(self, ops: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.n_features: int = ops["n_features"]
        self.estimator = str(ops.get("estimator", "model"))
        self.feature_names: tuple[str, ...] | None = (
            tuple(ops["feature_names"]) if ops["feature_names"] is not None else None
        )
        self.steps: list[dict[str, Any]] = ops["steps"]
        final = ops["final"]
        self.task: str = final["task"]
        coef = arrays[final["coef"]]
        self._coef_t = coef.T if coef.ndim == 2 else coef
        intercept = arrays[final["intercept"]]
        self._intercept: Any = float(intercept) if intercept.ndim == 0 else intercept
        self.classes: np.ndarray | None = None
        self._proba: str | None = None
        if self.task == "classification":
            classes = arrays[final["classes"]]
            self.classes = classes.astype(object) if final["classes_object"] else classes
            self._proba = final["proba"]
        self.has_proba = self._proba is not None

    @classmethod
    def read(cls, folder: Path) -> NativeScorer | None:
        """The scorer whose files are in ``folder`` (already verified against their
        digests), or None when the package has none or one of a newer layout.

        Raises:
            IntegrityError: the files are not a native scorer keel wrote.
        """
        try:
            raw = (folder / NATIVE_OPS).read_bytes()
        except FileNotFoundError:
            return None
        try:
            ops = json.loads(raw)
            if ops.get("format", math.inf) > FORMAT:
                return None
            with np.load(folder / NATIVE_ARRAYS, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
            scorer = cls(ops, arrays)
            scorer._validate()
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise IntegrityError(
                f"The native scorer files {NATIVE_OPS} and {NATIVE_ARRAYS} of this package "
                f"cannot be read: {type(exc).__name__}: {exc}. The package was not written "
                "by keel; load it with native=False, or register the model again."
            ) from exc
        return scorer

    def _validate(self) -> None:
        """Shapes and kinds that the operations need (a package keel did not write)."""
        width = self.n_features
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"n_features is {width!r}")
        for op in self.steps:
            if op["op"] == "standardize":
                names = [op["mean"], op["scale"]]
            elif op["op"] == "minmax":
                names = [op["scale"], op["min"]]
                if op["clip"] is not None and len(op["clip"]) != 2:
                    raise ValueError("clip needs two bounds")
            else:
                raise ValueError(f"unknown operation {op['op']!r}")
            for name in names:
                if name is not None and self.arrays[name].shape != (width,):
                    raise ValueError(f"array {name!r} has shape {self.arrays[name].shape}")
        if self._coef_t.shape[0] != width or self._coef_t.dtype.kind not in "fiu":
            raise ValueError(f"coef has shape {self._coef_t.T.shape}")
        if self.task not in ("classification", "regression"):
            raise ValueError(f"unknown task {self.task!r}")
        if self.classes is not None:
            outputs = 1 if self._coef_t.ndim == 1 else self._coef_t.shape[1]
            if self.classes.ndim != 1 or outputs not in (1, len(self.classes)):
                raise ValueError("classes do not match the coefficients")
        if self._proba not in (None, "lr", "softmax"):
            raise ValueError(f"unknown probabilities {self._proba!r}")

    # -- predictions -----------------------------------------------------------------------

    def accepts(self, X: np.ndarray) -> bool:
        """Whether ``X`` is an array the scorer computes exactly as scikit-learn does: 2-D,
        of floats (64 or 32 bits) or integers."""
        return X.ndim == 2 and (X.dtype in _FLOATS or X.dtype.kind in "iu")

    def decision(self, X: np.ndarray) -> np.ndarray:
        """The final model's decision function (regressors: its predictions)."""
        X = self._checked(X)
        for op in self.steps:
            X = self._apply(op, X)
        scores = X @ self._coef_t + self._intercept
        if self.task == "classification" and scores.ndim == 2 and scores.shape[1] == 1:
            return scores.reshape(-1)
        return scores

    def predict(self, X: np.ndarray) -> np.ndarray:
        """What the estimator's ``predict`` gives for ``X``."""
        scores = self.decision(X)
        if self.classes is None:
            return scores
        indices = (scores > 0).astype(np.intp) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes.take(indices, axis=0)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """What the estimator's ``predict_proba`` gives for ``X`` (``has_proba`` only)."""
        if self._proba is None:
            raise AttributeError("this model has no predict_proba")
        scores = self.decision(X)
        if self._proba == "softmax":
            scores -= scores.max(axis=1).reshape(-1, 1)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=1).reshape(-1, 1)
            return scores
        prob = _expit(scores)
        if prob.ndim == 1:
            return np.stack([1 - prob, prob], axis=1)
        total = prob.sum(axis=1)
        zero = total == 0
        if zero.any():
            prob[zero, :] = 1
            total[zero] = prob.shape[1]
        prob /= total.reshape(prob.shape[0], -1)
        return prob

    def _checked(self, X: np.ndarray) -> np.ndarray:
        if X.shape[1] != self.n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model is expecting "
                f"{self.n_features} features as input."
            )
        if X.dtype.kind == "f" and not np.isfinite(X).all():
            raise ValueError(
                "Input X contains NaN or infinity: the model does not accept missing "
                "values. Impute them first, or register a pipeline that does."
            )
        if self.steps and X.dtype.kind in "iu":
            return X.astype(np.float64)  # a scaler's transform makes integers float64
        return X

    def _apply(self, op: dict[str, Any], X: np.ndarray) -> np.ndarray:
        X = np.array(X, copy=True)  # scikit-learn transforms a copy in place (order kept)
        if op["op"] == "standardize":
            if op["mean"] is not None:
                X -= self.arrays[op["mean"]].astype(X.dtype, copy=False)
            if op["scale"] is not None:
                X /= self.arrays[op["scale"]].astype(X.dtype, copy=False)
            return X
        X *= self.arrays[op["scale"]]
        X += self.arrays[op["min"]]
        if op["clip"] is not None:
            low, high = op["clip"]
            np.clip(X, np.asarray(low, dtype=X.dtype), np.asarray(high, dtype=X.dtype), out=X)
        return X


def _expit(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in place, as SciPy's ``expit`` computes it."""
    np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    np.divide(1.0, x, out=x)
    return x
