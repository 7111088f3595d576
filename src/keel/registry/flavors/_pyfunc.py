"""The pyfunc flavor: any Python object with ``predict``, cloudpickled, loaded only if trusted."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput, PermissionDenied

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PyfuncFlavor"]

MODEL_FILE = "model.pkl"


class PyfuncFlavor:
    """Any object with a callable ``predict(frame)``, pickled with cloudpickle.

    Unpickling can run arbitrary code, so loading needs ``trust=True``. Classes defined
    in an importable module are pickled by reference: the module must be importable where
    the model is loaded. Classes defined in ``__main__`` or a notebook travel with it.
    """

    name = "pyfunc"

    def handles(self, model: object) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: object, folder: Path) -> list[str]:
        if not self.handles(model):
            raise InvalidInput(
                f"The pyfunc flavor saves objects with a predict(frame) method; "
                f"{type(model).__name__} has none. Wrap the model in a class that has one."
            )
        import cloudpickle

        try:
            data = cloudpickle.dumps(model)
        except Exception as exc:  # pickling raises many types (locks, sockets, ...)
            raise InvalidInput(
                f"cloudpickle cannot pickle {type(model).__name__}: {exc}. Keep open files, "
                "connections and locks out of the model object."
            ) from exc
        (folder / MODEL_FILE).write_bytes(data)
        return [MODEL_FILE]

    def load(self, folder: Path, *, trust: bool) -> object:
        if not trust:
            raise PermissionDenied(
                "This is a pyfunc model, stored with cloudpickle: cloudpickle can run "
                "arbitrary code when loading; pass trust=True only for packages you or your "
                "team built (keel.load_model(ref, trust=True))."
            )
        return pickle.loads((folder / MODEL_FILE).read_bytes())  # the caller trusts it

    def predict(self, model: Any, frame: pd.DataFrame) -> Any:
        return model.predict(frame)

    def bind_proba(self, model: Any, columns: tuple[str, ...]) -> Any:
        """The model's own ``predict_proba`` (a classifier wrapper's), or None."""
        proba = getattr(model, "predict_proba", None)
        return proba if callable(proba) else None

    def requirements(self) -> list[str]:
        from importlib.metadata import version  # not at import: loading never needs it

        return [f"cloudpickle=={version('cloudpickle')}"]
