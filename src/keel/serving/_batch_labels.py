"""Predicted labels read off the class probabilities, for classifiers whose predict is that.

Batch scoring stores both ``prediction`` and ``proba_<class>``. For most scikit-learn
classifiers ``predict`` is the class of highest probability: the trees and forests compute
it so, and the linear, boosted and naive-Bayes ones take the largest score of which the
probabilities are a monotone function. Scoring once and taking the argmax saves running
the model a second time over every row.

Three guards keep the labels exactly what ``predict`` gives:

* only estimators of the known classes below (exact types, not subclasses, which may
  override ``predict``), alone or as the last step of a scikit-learn ``Pipeline``;
* a row whose highest probability is shared (a tie, or a score so close to the boundary
  that rounding made the probabilities equal) or is NaN gets ``predict`` itself;
* the first batch is scored both ways and compared; any difference, in a value or in the
  labels' dtype, turns the shortcut off for the whole job.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["ARGMAX_CLASSIFIERS", "ProbaLabels", "proba_labels"]

ARGMAX_CLASSIFIERS = frozenset(
    {
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._gb.GradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.linear_model._logistic.LogisticRegressionCV",
        "sklearn.naive_bayes.GaussianNB",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
    }
)
"""Classifiers whose ``predict`` is the class of highest ``predict_proba``, first on ties."""


def proba_labels(native: Any, predict: Callable[[Any], Any]) -> ProbaLabels | None:
    """A :class:`ProbaLabels` for ``native`` when it is a known argmax classifier (or a
    ``Pipeline`` ending in one) with a ``classes_`` array, else None.

    Args:
        native: the loaded model object.
        predict: its predict, as batch scoring calls it (with the signature enforced).
    """
    import numpy as np

    final = native
    if _qualname(native) == "sklearn.pipeline.Pipeline":
        steps = getattr(native, "steps", None)
        final = steps[-1][1] if steps else None
    classes = getattr(native, "classes_", None)
    if _qualname(final) not in ARGMAX_CLASSIFIERS or not isinstance(classes, np.ndarray):
        return None
    if classes.ndim != 1 or len(classes) < 2:  # multi-output models give a list of arrays
        return None
    return ProbaLabels(predict, classes)


class ProbaLabels:
    """Labels for a batch from its probabilities, checked against ``predict`` on the first.

    Attributes:
        active: whether labels still come from the probabilities (False once the first
            batch showed a difference).
    """

    def __init__(self, predict: Callable[[Any], Any], classes: Any) -> None:
        self.predict = predict
        self.classes = classes
        self.active = True
        self._checked = False

    def __call__(self, frame: Any, proba: Any) -> Any:
        """The labels of the rows of ``frame``, whose probabilities are ``proba`` (a row
        per input row, a column per class in the order of ``classes_``)."""
        import numpy as np

        if not self.active:
            return self.predict(frame)
        proba = np.asarray(proba)
        if proba.ndim != 2 or proba.shape != (len(frame), len(self.classes)):
            self.active = False
            return self.predict(frame)
        labels = self._from(frame, proba)
        if not self._checked:
            self._checked = True
            expected = np.asarray(self.predict(frame))
            if expected.dtype != labels.dtype or not np.array_equal(expected, labels):
                self.active = False
                return expected
        return labels

    def _from(self, frame: Any, proba: Any) -> Any:
        import numpy as np

        best = np.argmax(proba, axis=1)
        top = np.take_along_axis(proba, best[:, None], axis=1)
        # A single column at the top (NaN compares false: a row with NaN has none).
        unsure = np.flatnonzero(np.count_nonzero(proba >= top, axis=1) != 1)
        labels = self.classes.take(best)
        if len(unsure):
            rows = frame.iloc[unsure] if hasattr(frame, "iloc") else frame[unsure]
            labels[unsure] = np.asarray(self.predict(rows))
        return labels


def _qualname(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"
