"""``keel.autolog()``: scikit-learn ``fit`` logs params, training metrics and the model."""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from typing import Any

from keel.errors import KeelError

__all__ = ["autolog"]

log = logging.getLogger("keel.tracking")

_originals: dict[type, Any] = {}
_state = threading.local()
_options = {"log_models": True}


def autolog(*, log_models: bool = True, disable: bool = False) -> None:
    """Make every scikit-learn estimator's ``fit`` record a run.

    ``fit`` logs the estimator's params, metrics on the training data, and (with
    ``log_models``) the fitted model as a skops artifact ``model.skops``. It logs to the
    active run, or starts and ends a run of its own. Only the outermost ``fit`` logs, so a
    pipeline or a search is one record, not one per inner estimator.

    Args:
        log_models: store the fitted estimator.
        disable: undo the patching.
    """
    from sklearn.utils import all_estimators

    if disable:
        for cls, original in _originals.items():
            cls.fit = original
        _originals.clear()
        return
    _options["log_models"] = log_models
    for _, cls in all_estimators():
        if "fit" in cls.__dict__ and cls not in _originals:
            _originals[cls] = cls.__dict__["fit"]
            cls.fit = _wrap(cls.__dict__["fit"])


def _wrap(fit):
    @functools.wraps(fit)
    def logged_fit(self, *args, **kwargs):
        if getattr(_state, "inside", False):
            return fit(self, *args, **kwargs)
        _state.inside = True
        try:
            return _fit_and_log(fit, self, args, kwargs)
        finally:
            _state.inside = False

    logged_fit.__keel_autolog__ = True
    return logged_fit


def _fit_and_log(fit, estimator, args, kwargs):
    from keel._fluent import active_run, start_run
    from keel.tracking import RunStatus

    run = active_run()
    own = run is None
    if own:
        run = start_run(name=type(estimator).__name__)
    try:
        result = fit(estimator, *args, **kwargs)
    except BaseException:
        if own:
            run.end(RunStatus.FAILED)
        raise
    try:
        X = args[0] if args else kwargs.get("X")
        y = args[1] if len(args) > 1 else kwargs.get("y")
        _log_fit(run, estimator, X, y)
    except KeelError as exc:  # never break the user's training because logging failed
        log.warning("autolog could not record %s: %s", type(estimator).__name__, exc)
    finally:
        if own:
            run.end()
    return result


def _log_fit(run, estimator, X, y) -> None:
    params = {k: _short(v) for k, v in estimator.get_params(deep=False).items()}
    run.log_params({"estimator": type(estimator).__name__, **params})
    if y is not None:
        run.log_metrics(_training_metrics(estimator, X, y), step=0)
    if _options["log_models"]:
        import skops.io

        run.log_artifact(skops.io.dumps(estimator), "model.skops", kind="model")


def _short(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 500 else text[:497] + "..."


def _training_metrics(estimator, X, y) -> dict[str, float]:
    from sklearn import metrics
    from sklearn.base import is_classifier, is_regressor

    out: dict[str, float] = {}
    if is_classifier(estimator):
        pred = estimator.predict(X)
        out["training_accuracy"] = metrics.accuracy_score(y, pred)
        average = "binary" if len(getattr(estimator, "classes_", [])) == 2 else "weighted"
        out["training_precision"] = metrics.precision_score(
            y, pred, average=average, zero_division=0
        )
        out["training_recall"] = metrics.recall_score(y, pred, average=average, zero_division=0)
        out["training_f1"] = metrics.f1_score(y, pred, average=average, zero_division=0)
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(X)
            out["training_log_loss"] = metrics.log_loss(y, proba, labels=estimator.classes_)
            if proba.shape[1] == 2:
                out["training_roc_auc"] = metrics.roc_auc_score(y, proba[:, 1])
    elif is_regressor(estimator):
        pred = estimator.predict(X)
        mse = metrics.mean_squared_error(y, pred)
        out.update(
            training_mse=mse,
            training_rmse=mse**0.5,
            training_mae=metrics.mean_absolute_error(y, pred),
            training_r2=metrics.r2_score(y, pred),
        )
    elif hasattr(estimator, "score"):
        with contextlib.suppress(TypeError, ValueError):
            out["training_score"] = float(estimator.score(X, y))
    return {k: float(v) for k, v in out.items()}
