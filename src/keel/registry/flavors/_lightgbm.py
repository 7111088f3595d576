"""The LightGBM flavor: boosters as LightGBM model text, wrappers rebuilt around them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from keel.errors import IntegrityError, InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LightGBMFlavor"]

MODEL_FILE = "model.txt"
WRAPPER_FILE = "lightgbm-wrapper.json"
WRAPPERS = ("LGBMClassifier", "LGBMRegressor", "LGBMRanker")
"""Classes a package may ask to rebuild; anything else is refused, not imported."""


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError as exc:
        raise InvalidInput(
            "This model needs LightGBM, which is not installed: pip install 'keelml[lightgbm]'."
        ) from exc
    return lightgbm


class LightGBMFlavor:
    """``lightgbm.Booster`` and ``LGBMClassifier``/``LGBMRegressor``/``LGBMRanker``.

    The booster is stored as LightGBM's model text (which keeps pandas categories); a
    wrapper is stored as its class name, parameters and classes, and rebuilt around the
    booster on load.
    """

    name = "lightgbm"

    def handles(self, model: object) -> bool:
        if "lightgbm" not in sys.modules:
            return False
        import lightgbm

        return isinstance(model, lightgbm.Booster | lightgbm.LGBMModel)

    def save(self, model: Any, folder: Path) -> list[str]:
        lightgbm = _lightgbm()
        if isinstance(model, lightgbm.Booster):
            (folder / MODEL_FILE).write_text(model.model_to_string())
            (folder / WRAPPER_FILE).write_text(json.dumps({"class": "Booster"}))
            return [MODEL_FILE, WRAPPER_FILE]
        kind = type(model).__name__
        if kind not in WRAPPERS:
            raise InvalidInput(
                f"The lightgbm flavor saves Booster and {', '.join(WRAPPERS)}, not {kind}. "
                "Register the model with flavor='pyfunc' (loading it will need trust=True)."
            )
        params = model.get_params()
        unsaved = sorted(k for k, v in params.items() if not _is_json(v))
        if unsaved:
            raise InvalidInput(
                f"The {kind} has parameters LightGBM's format cannot keep: {unsaved} "
                "(a custom objective or metric is code). Register it with flavor='pyfunc' "
                "(loading it will need trust=True)."
            )
        wrapper: dict[str, Any] = {
            "class": kind,
            "params": params,
            "feature_names": bool(getattr(model, "_fitted_with_feature_names", False)),
        }
        if hasattr(model, "classes_"):
            classes = np.asarray(model.classes_)
            wrapper["classes"] = classes.tolist()
            wrapper["classes_dtype"] = classes.dtype.str
        (folder / MODEL_FILE).write_text(model.booster_.model_to_string())
        (folder / WRAPPER_FILE).write_text(json.dumps(wrapper))
        return [MODEL_FILE, WRAPPER_FILE]

    def load(self, folder: Path, *, trust: bool) -> object:
        lightgbm = _lightgbm()
        wrapper = json.loads((folder / WRAPPER_FILE).read_text())
        booster = lightgbm.Booster(model_str=(folder / MODEL_FILE).read_text())
        kind = wrapper.get("class")
        if kind == "Booster":
            return booster
        if kind not in WRAPPERS:
            raise IntegrityError(
                f"The lightgbm package names the class {kind!r}, which is not one of "
                f"Booster, {', '.join(WRAPPERS)}; it was not written by keel."
            )
        return _rebuild(getattr(lightgbm, kind), wrapper, booster)

    def predict(self, model: Any, frame: pd.DataFrame) -> Any:
        return model.predict(frame)

    def bind_proba(self, model: Any, columns: tuple[str, ...]) -> Any:
        """The model's own ``predict_proba`` (a classifier wrapper's), or None."""
        proba = getattr(model, "predict_proba", None)
        return proba if callable(proba) else None

    def requirements(self) -> list[str]:
        from importlib.metadata import version  # not at import: loading never needs it

        return [f"lightgbm=={version('lightgbm')}"]


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _rebuild(cls: type, wrapper: dict[str, Any], booster: Any) -> Any:
    """A fitted wrapper around ``booster``, with the attributes ``fit`` would have set.

    LightGBM has no public way to wrap a trained booster, so this sets what
    ``LGBMModel.fit`` sets; the round-trip tests catch a LightGBM release that changes it.
    """
    model = cls(**wrapper["params"])
    model._Booster = booster
    model._n_features = booster.num_feature()
    model._n_features_in = booster.num_feature()
    model._fitted_with_feature_names = wrapper.get("feature_names", False)
    model._best_iteration = booster.best_iteration
    model._best_score = {}
    model._evals_result = {}
    objective = wrapper["params"].get("objective") or booster.params.get("objective")
    if "classes" in wrapper:
        from lightgbm.sklearn import _LGBMLabelEncoder

        classes = np.asarray(wrapper["classes"], dtype=np.dtype(wrapper["classes_dtype"]))
        model._le = _LGBMLabelEncoder().fit(classes)
        model._classes = model._le.classes_
        model._n_classes = len(classes)
        model._class_map = dict(
            zip(model._le.classes_, model._le.transform(model._le.classes_), strict=True)
        )
        objective = objective or ("multiclass" if len(classes) > 2 else "binary")
    model._objective = objective
    model.fitted_ = True
    return model
