"""Model flavors: how each kind of model is saved, loaded and asked for predictions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from keel.errors import InvalidInput, did_you_mean

from ._lightgbm import LightGBMFlavor
from ._onnx import OnnxFlavor
from ._pyfunc import PyfuncFlavor
from ._sklearn import SklearnFlavor
from ._xgboost import XGBoostFlavor

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = [
    "FLAVORS",
    "BindsPredict",
    "BindsProba",
    "Flavor",
    "LightGBMFlavor",
    "OnnxFlavor",
    "PyfuncFlavor",
    "ScoresNatively",
    "SklearnFlavor",
    "XGBoostFlavor",
    "flavor_for",
    "register_flavor",
]


@runtime_checkable
class Flavor(Protocol):
    """How one kind of model is saved, loaded and asked for predictions.

    The built-in flavors are ``sklearn`` (skops, loaded without running arbitrary code),
    ``xgboost`` and ``lightgbm`` (their native formats), ``onnx`` (onnxruntime) and
    ``pyfunc`` (any object with ``predict``, cloudpickled). Add one with
    :func:`register_flavor`: the most recently registered flavor that handles a model
    wins, so a plugin can take over from a built-in one.

    ``load`` must not run code from the files unless ``trust`` is true; a flavor whose
    format cannot be read safely raises :class:`~keel.errors.PermissionDenied` without it.

    Example, a flavor for models that are plain JSON-serialisable coefficient lists::

        >>> import json
        >>> class Coefficients:
        ...     def __init__(self, coef):
        ...         self.coef = coef
        >>> class CoefficientsFlavor:
        ...     name = "coefficients"
        ...     def handles(self, model):
        ...         return isinstance(model, Coefficients)
        ...     def save(self, model, folder):
        ...         (folder / "coef.json").write_text(json.dumps(model.coef))
        ...         return ["coef.json"]
        ...     def load(self, folder, *, trust):
        ...         return Coefficients(json.loads((folder / "coef.json").read_text()))
        ...     def predict(self, model, frame):
        ...         return frame.to_numpy() @ model.coef
        ...     def requirements(self):
        ...         return []
        >>> register_flavor(CoefficientsFlavor())
        >>> flavor_for(Coefficients([1.0, 2.0])).name
        'coefficients'
        >>> del FLAVORS["coefficients"]
    """

    name: str

    def handles(self, model: object) -> bool:
        """Whether this flavor can save ``model`` (checked without importing libraries)."""
        ...

    def save(self, model: object, folder: Path) -> list[str]:
        """Write the model's files into ``folder``; return their names relative to it."""
        ...

    def load(self, folder: Path, *, trust: bool) -> object:
        """Read the files ``save`` wrote back into the native model object."""
        ...

    def predict(self, model: object, frame: pd.DataFrame) -> np.ndarray | pd.DataFrame:
        """Predictions of the loaded model on a frame that matches its signature."""
        ...

    def requirements(self) -> list[str]:
        """Pinned packages loading needs, e.g. ``["scikit-learn==1.9.1", "skops==0.16.0"]``."""
        ...


@runtime_checkable
class BindsPredict(Protocol):
    """Optional: a flavor that prepares a fast ``predict`` for one model and column order.

    Loading calls it once; every prediction then skips the per-call decisions (which
    columns, which array type) that :meth:`Flavor.predict` makes.
    """

    def bind_predict(
        self, model: object, columns: tuple[str, ...]
    ) -> Callable[[pd.DataFrame], Any]: ...


@runtime_checkable
class BindsProba(Protocol):
    """Optional: a flavor whose models may give class probabilities.

    ``bind_proba`` returns a function from a frame (the signature's columns, in order) to
    an array of shape (rows, classes), or None when this model gives none (a regressor, a
    raw booster). :meth:`LoadedModel.predict_proba` uses it.
    """

    def bind_proba(
        self, model: object, columns: tuple[str, ...]
    ) -> Callable[[pd.DataFrame], Any] | None: ...


@runtime_checkable
class ScoresNatively(Protocol):
    """Optional: a flavor that may predict without the model's library.

    ``load_scorer`` returns a scorer read from the package's files (``predict``,
    ``predict_proba``, ``accepts``, ``n_features``, ``feature_names``, ``classes``,
    ``has_proba``; see :class:`~keel.registry.flavors._sklearn_native.NativeScorer`), or
    None when the package has none; the model object itself is then loaded on first use.
    """

    def load_scorer(self, folder: Path, *, trust: bool) -> Any: ...


FLAVORS: dict[str, Flavor] = {}
"""Every registered flavor by name, in registration order."""


def register_flavor(flavor: Flavor) -> None:
    """Make ``flavor`` available to packaging and loading, replacing one of the same name."""
    if not isinstance(flavor, Flavor):
        raise InvalidInput(
            f"{flavor!r} is not a flavor: it needs a 'name' and the methods handles, save, "
            "load, predict and requirements (see keel.registry.flavors.Flavor)."
        )
    FLAVORS.pop(flavor.name, None)
    FLAVORS[flavor.name] = flavor


def flavor_for(model: object, name: str | None = None) -> Flavor:
    """The flavor called ``name``, or else the last registered one that handles ``model``.

    Raises:
        InvalidInput: no flavor has that name, or none handles the model's type.
    """
    if name is not None:
        try:
            return FLAVORS[name]
        except KeyError:
            raise InvalidInput(
                f"Unknown flavor {name!r}.{did_you_mean(name, list(FLAVORS))} "
                f"The flavors are: {', '.join(FLAVORS)}."
            ) from None
    for flavor in reversed(FLAVORS.values()):
        if flavor.handles(model):
            return flavor
    kind = f"{type(model).__module__}.{type(model).__qualname__}"
    raise InvalidInput(
        f"No flavor can package a model of type {kind}. The flavors are: "
        f"{', '.join(FLAVORS)}. Give a model one of them handles, wrap it in a class with a "
        "predict(frame) method (the pyfunc flavor), or register a flavor for it with "
        "keel.registry.flavors.register_flavor."
    )


for _builtin in (PyfuncFlavor(), SklearnFlavor(), LightGBMFlavor(), XGBoostFlavor(), OnnxFlavor()):
    register_flavor(_builtin)
