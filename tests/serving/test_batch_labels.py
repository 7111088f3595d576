"""Labels read off the probabilities are exactly what each classifier's predict gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from keel.serving._batch_labels import ProbaLabels, proba_labels


def data(classes: int, rows: int = 3_000) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(classes)
    X = pd.DataFrame(rng.normal(size=(rows, 4)), columns=["a", "b", "c", "d"])
    score = X["a"] + 0.5 * X["b"] - X["c"] + rng.normal(0, 0.5, rows)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]))
    return X, np.array(["low", "mid", "high", "top"])[y] if classes > 2 else y


@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize(
    "make",
    [
        lambda: LogisticRegression(max_iter=1_000),
        lambda: RandomForestClassifier(n_estimators=10, random_state=0),
        lambda: DecisionTreeClassifier(max_depth=4, random_state=0),
        lambda: GaussianNB(),
        lambda: HistGradientBoostingClassifier(max_iter=20),
        lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=1_000)),
    ],
    ids=["logistic", "forest", "tree", "bayes", "histgb", "pipeline"],
)
def test_labels_from_probabilities_equal_predict(make, classes: int) -> None:
    X, y = data(classes)
    model = make().fit(X[:2_000], y[:2_000])
    labels = proba_labels(model, model.predict)
    assert labels is not None
    batches = [X[2_000:2_400], X[2_400:]]
    got = [labels(b, model.predict_proba(b)) for b in batches]
    assert labels.active
    for batch, values in zip(batches, got, strict=True):
        expected = model.predict(batch)
        assert values.dtype == expected.dtype
        assert np.array_equal(values, expected)


def test_a_row_on_the_boundary_gets_predict_not_the_first_tied_class() -> None:
    X = pd.DataFrame({"x": [-1.0, 1e-17, 2.0, 0.0]})
    model = LogisticRegression().fit(pd.DataFrame({"x": [-1.0, 1.0]}), [0, 1])
    model.coef_, model.intercept_ = np.array([[1.0]]), np.array([0.0])
    proba = model.predict_proba(X)
    assert proba[1, 0] == proba[1, 1] == 0.5  # rounding made a positive score a tie
    labels = proba_labels(model, model.predict)
    assert labels is not None
    assert labels(X, proba).tolist() == model.predict(X).tolist() == [0, 1, 1, 0]


def test_a_difference_on_the_first_batch_turns_the_shortcut_off() -> None:
    X, y = data(2)
    model = LogisticRegression().fit(X, y)
    calls: list[int] = []

    def inverted(frame: pd.DataFrame) -> np.ndarray:
        calls.append(len(frame))
        return 1 - model.predict(frame)

    labels = ProbaLabels(inverted, model.classes_)
    first = labels(X[:100], model.predict_proba(X[:100]))
    assert not labels.active
    assert np.array_equal(first, 1 - model.predict(X[:100]))
    second = labels(X[100:150], model.predict_proba(X[100:150]))
    assert np.array_equal(second, 1 - model.predict(X[100:150]))
    assert calls == [100, 50]


def test_only_known_classifiers_take_the_shortcut() -> None:
    X, y = data(2, rows=300)

    class Shifted(LogisticRegression):
        def predict(self, X):  # type: ignore[override]
            return super().predict(X)[::-1]

    assert proba_labels(KNeighborsClassifier().fit(X, y), lambda f: None) is None
    assert proba_labels(Shifted().fit(X, y), lambda f: None) is None
    assert proba_labels(make_pipeline(StandardScaler(), SVC()).fit(X, y), lambda f: None) is None
    assert proba_labels(LogisticRegression().fit(X, y), lambda f: None) is not None
