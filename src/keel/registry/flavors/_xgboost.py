"""The XGBoost flavor: boosters and their scikit-learn wrappers in XGBoost's own format."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import IntegrityError, InvalidInput

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["XGBoostFlavor"]

MODEL_FILE = "model.ubj"
CLASS_FILE = "xgboost-class.json"
WRAPPERS = ("XGBClassifier", "XGBRegressor", "XGBRanker", "XGBRFClassifier", "XGBRFRegressor")
"""Classes a package may ask to rebuild; anything else is refused, not imported."""


def _xgboost() -> Any:
    try:
        import xgboost
    except ImportError as exc:
        raise InvalidInput(
            "This model needs XGBoost, which is not installed: pip install 'keelml[xgboost]'."
        ) from exc
    return xgboost


class XGBoostFlavor:
    """``xgboost.Booster`` and ``XGBClassifier``/``XGBRegressor``/..., saved as UBJSON.

    XGBoost's own format keeps the scikit-learn wrapper's attributes (classes, objective),
    so loading rebuilds the same wrapper class without unpickling anything.
    """

    name = "xgboost"

    def handles(self, model: object) -> bool:
        if "xgboost" not in sys.modules:
            return False
        import xgboost

        return isinstance(model, xgboost.Booster | xgboost.XGBModel)

    def save(self, model: Any, folder: Path) -> list[str]:
        xgboost = _xgboost()
        kind = "Booster" if isinstance(model, xgboost.Booster) else type(model).__name__
        if kind != "Booster" and kind not in WRAPPERS:
            raise InvalidInput(
                f"The xgboost flavor saves Booster and {', '.join(WRAPPERS)}, not {kind}. "
                "Register the model with flavor='pyfunc' (loading it will need trust=True)."
            )
        model.save_model(str(folder / MODEL_FILE))
        (folder / CLASS_FILE).write_text(json.dumps({"class": kind}))
        return [MODEL_FILE, CLASS_FILE]

    def load(self, folder: Path, *, trust: bool) -> object:
        xgboost = _xgboost()
        kind = json.loads((folder / CLASS_FILE).read_text()).get("class")
        if kind == "Booster":
            return xgboost.Booster(model_file=str(folder / MODEL_FILE))
        if kind not in WRAPPERS:
            raise IntegrityError(
                f"The xgboost package names the class {kind!r}, which is not one of "
                f"Booster, {', '.join(WRAPPERS)}; it was not written by keel."
            )
        model = getattr(xgboost, kind)()
        model.load_model(str(folder / MODEL_FILE))
        return model

    def predict(self, model: Any, frame: pd.DataFrame) -> Any:
        xgboost = _xgboost()
        if isinstance(model, xgboost.Booster):
            return model.predict(xgboost.DMatrix(frame, enable_categorical=True))
        return model.predict(frame)

    def bind_proba(self, model: Any, columns: tuple[str, ...]) -> Any:
        """The model's own ``predict_proba`` (a classifier wrapper's), or None."""
        proba = getattr(model, "predict_proba", None)
        return proba if callable(proba) else None

    def requirements(self) -> list[str]:
        from importlib.metadata import version  # not at import: loading never needs it

        return [f"xgboost=={version('xgboost')}"]
