"""The quickstart's training step: a few candidate models, each a tracked run."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from keel.data import DatasetVersion
from keel.tracking import RunQuery, Tracker

from ._data import FEATURES

__all__ = ["TrainingResult", "train_candidates"]

CANDIDATES = {
    "logreg-C0.1": ("logistic_regression", {"C": 0.1}),
    "logreg-C1": ("logistic_regression", {"C": 1.0}),
    "gbm": ("gradient_boosting", {"n_estimators": 80, "max_depth": 3, "learning_rate": 0.1}),
}


@dataclass(frozen=True)
class TrainingResult:
    runs: int
    best_run: str
    best_name: str
    best_auc: float
    best_model: object
    holdout: pd.DataFrame


def _pipeline(kind: str, params: dict):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in FEATURES if c != "region"]
    prep = make_column_transformer(
        (StandardScaler(), numeric), (OneHotEncoder(handle_unknown="ignore"), ["region"])
    )
    if kind == "logistic_regression":
        return make_pipeline(prep, LogisticRegression(max_iter=500, **params))
    return make_pipeline(prep, GradientBoostingClassifier(random_state=0, **params))


def train_candidates(
    tracker: Tracker, frame: pd.DataFrame, dataset: DatasetVersion
) -> TrainingResult:
    """Train each candidate on 80% of ``frame``, score it on the rest, and track it."""
    import skops.io
    from sklearn import metrics
    from sklearn.model_selection import train_test_split

    train, holdout = train_test_split(
        frame, test_size=0.2, random_state=0, stratify=frame["default"]
    )
    models = {}
    for name, (kind, params) in CANDIDATES.items():
        with tracker.start_run(
            "credit-default", name=name, params={"model": kind, **params}
        ) as run:
            run.log_input(dataset)
            model = _pipeline(kind, params).fit(train[FEATURES], train["default"])
            models[name] = model
            for split, data in (("train", train), ("holdout", holdout)):
                scores = model.predict_proba(data[FEATURES])[:, 1]
                run.log_metrics(
                    {
                        f"{split}_auc": metrics.roc_auc_score(data["default"], scores),
                        f"{split}_log_loss": metrics.log_loss(data["default"], scores),
                        f"{split}_accuracy": metrics.accuracy_score(data["default"], scores > 0.5),
                    },
                    step=0,
                )
            run.log_predictions(
                pd.DataFrame(
                    {
                        "y_true": holdout["default"].to_numpy(),
                        "score": scores,
                        "y_pred": scores > 0.5,
                    }
                )
            )
            run.log_artifact(skops.io.dumps(model), "model.skops", kind="model")
    (best,) = tracker.backend.search_runs(
        RunQuery(("credit-default",), order_by=("metrics.holdout_auc desc",), max_results=1)
    )
    return TrainingResult(
        len(CANDIDATES), best.id, best.name, best.metrics["holdout_auc"], models[best.name], holdout
    )
