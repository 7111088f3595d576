"""The scikit-learn flavor: skops files, loaded without running arbitrary code."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel._plural import count
from keel.errors import InvalidInput, PermissionDenied

from ._sklearn_structure import check_structure
from ._sklearn_trust import is_trusted_name, untrusted_names

if TYPE_CHECKING:
    import pandas as pd

    from ._sklearn_native import NativeScorer

__all__ = ["SklearnFlavor", "check_types", "is_safe_type", "loads_checked"]

MODEL_FILE = "model.skops"
TYPES_FILE = "skops-types.json"
"""The types skops does not trust by default, listed at save time so a load parses once."""

# Estimator families that use feature names only to check them (never to select columns),
# so keel, which enforces the columns itself, can hand them a NumPy array.
NUMPY_SAFE = (
    "sklearn.linear_model.",
    "sklearn.svm.",
    "sklearn.tree.",
    "sklearn.neighbors.",
    "sklearn.naive_bayes.",
    "sklearn.neural_network.",
    "sklearn.discriminant_analysis",
    "sklearn.kernel_ridge",
    "sklearn.ensemble._forest",
    "sklearn.ensemble._gb",
    "sklearn.ensemble._weight_boosting",
    "sklearn.preprocessing._data",
    "sklearn.preprocessing._polynomial",
    "sklearn.impute._base",
    "sklearn.decomposition._pca",
)


def is_safe_type(name: str) -> bool:
    """Whether a type or function skops lists as untrusted may load without ``trust=True``.

    Only exact names on keel's allow-list pass (see ``_sklearn_trust``), never a prefix.
    """
    return is_trusted_name(name)


class SklearnFlavor:
    """scikit-learn estimators and pipelines, persisted with skops.

    Loading accepts only scikit-learn's estimators and the exact helper types and functions
    fitted estimators hold (an allow-list); a file naming anything else (a custom
    transformer, a ``functools.partial``, a function outside the list) needs
    ``trust=True``, since constructing or calling it can run code. Trees inside the model
    are checked for indices scikit-learn would follow out of bounds, trusted or not.
    """

    name = "sklearn"

    def handles(self, model: object) -> bool:
        if "sklearn" not in sys.modules:  # an estimator cannot exist without it
            return False
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def save(self, model: object, folder: Path) -> list[str]:
        import skops.io as sio

        path = folder / MODEL_FILE
        try:
            sio.dump(model, path)
        except Exception as exc:  # skops raises many types for objects it cannot persist
            raise InvalidInput(
                f"skops cannot save {type(model).__name__}: {exc}. Register it with "
                "flavor='pyfunc' instead (loading it will then need trust=True)."
            ) from exc
        _canonical_skops(path)
        types = sorted(sio.get_untrusted_types(file=path))
        (folder / TYPES_FILE).write_text(json.dumps(types))
        from ._sklearn_native import write_native

        return [MODEL_FILE, TYPES_FILE, *write_native(model, folder)]

    def load_scorer(self, folder: Path, *, trust: bool) -> NativeScorer | None:
        """The package's native scorer (see ``_sklearn_native``), or None when it has none.

        Reads NumPy arrays and a JSON list of operations: no scikit-learn, SciPy, skops or
        pandas. The types the skops file lists are checked as :meth:`load` checks them, so
        a package that needs ``trust=True`` is refused here too, not at first use.

        Raises:
            PermissionDenied: the skops file names types outside keel's allow-list and
                ``trust`` is false.
            IntegrityError: the native files are not a scorer keel wrote.
        """
        from ._sklearn_native import NativeScorer

        scorer = NativeScorer.read(folder)
        if scorer is not None:
            check_types(_listed_types(folder / TYPES_FILE), trust=trust)
        return scorer

    def load(self, folder: Path, *, trust: bool) -> object:
        from ._skops_quick import import_skops_io

        path = folder / MODEL_FILE
        listed = _listed_types(folder / TYPES_FILE)
        check_types(listed, trust=trust)
        sio = import_skops_io()  # before anything under skops.io, which imports it as usual
        from skops.io.exceptions import UntrustedTypesFoundException

        model = _load_quick(sio, path, listed, trust=trust)
        if model is None:
            try:
                model = sio.load(path, trusted=listed)
            except UntrustedTypesFoundException:
                # The list was incomplete (an edited package): ask skops for the real one.
                actual = sio.get_untrusted_types(file=path)
                check_types(actual, trust=trust)
                model = sio.load(path, trusted=actual)
        check_structure(model, source=f"The model file {MODEL_FILE}")
        return model

    def predict(self, model: Any, frame: pd.DataFrame) -> Any:
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            return model.predict(frame if _names_inside(model) else frame.to_numpy())
        names = list(names)
        if list(frame.columns) != names:
            frame = frame[names]
        return model.predict(frame)

    def bind_predict(
        self, model: Any, columns: tuple[str, ...], *, method: str = "predict"
    ) -> Callable[[pd.DataFrame], Any]:
        """A predict for frames with ``columns``, in order: NumPy where the model allows it.

        ``method`` binds another method the same way (``predict_proba``), so a check of
        the probabilities feeds the model exactly what serving feeds it.
        """
        names = getattr(model, "feature_names_in_", None)
        if names is None:
            predict = getattr(model, method)
            if _names_inside(model):  # a first step without names passed a frame on
                return predict
            # Fitted on an array: an array in, the signature's order is the fitted order.
            return lambda frame: predict(frame.to_numpy())
        names = tuple(str(n) for n in names)
        twin = _numpy_twin(model) if set(names) == set(columns) else None
        if twin is not None:
            predict = getattr(twin, method)
            if names == columns:
                return lambda frame: predict(frame.to_numpy())
            order = [columns.index(n) for n in names]
            return lambda frame: predict(frame.to_numpy()[:, order])
        predict = getattr(model, method)
        if names == columns:
            return predict
        return lambda frame: predict(frame[list(names)])

    def bind_proba(
        self, model: Any, columns: tuple[str, ...]
    ) -> Callable[[pd.DataFrame], Any] | None:
        """``predict_proba`` fed as ``predict`` is, or None for a model without one."""
        if not hasattr(model, "predict_proba"):
            return None
        return self.bind_predict(model, columns, method="predict_proba")

    def requirements(self) -> list[str]:
        from importlib.metadata import version  # not at import: loading never needs it

        return [f"scikit-learn=={version('scikit-learn')}", f"skops=={version('skops')}"]


def loads_checked(raw: bytes, *, trust: bool, source: str) -> object:
    """A model from skops bytes, with the same type allow-list and structure checks as a
    package load. ``source`` names the bytes in messages (an artifact, a file)."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(data=raw)
    check_types(untrusted, trust=trust)
    model = sio.loads(raw, trusted=untrusted)
    check_structure(model, source=source)
    return model


def _load_quick(sio: Any, path: Path, listed: list[str], *, trust: bool) -> object | None:
    """The model, loaded while skops' costly default lists are still uncomputed (see
    ``_skops_quick``), when every name skops then lists is one keel accepted in ``listed``
    or a public scikit-learn estimator (what skops would trust by default); else None, and
    the caller loads as usual (which computes the lists and checks as it always has)."""
    from skops.io.exceptions import UntrustedTypesFoundException

    from ._skops_quick import public_estimator, quick_defaults

    with quick_defaults() as deferred:
        if not deferred:
            return None
        names = sio.get_untrusted_types(file=path)
        accepted = set(listed)
        if not trust and not all(n in accepted or public_estimator(n) for n in names):
            return None
        try:
            return sio.load(path, trusted=names)
        except UntrustedTypesFoundException:
            return None


def _listed_types(path: Path) -> list[str]:
    try:
        listed = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [t for t in listed if isinstance(t, str)] if isinstance(listed, list) else []


def check_types(types: list[str], *, trust: bool) -> None:
    """Refuse ``types`` (what skops lists as untrusted) unless keel accepts each or ``trust``.

    Raises:
        PermissionDenied: a name is outside keel's allow-list and ``trust`` is false.
    """
    unsafe = untrusted_names(types)
    if unsafe and not trust:
        more = f" and {len(unsafe) - 10} more" if len(unsafe) > 10 else ""
        shown = ", ".join(unsafe[:10]) + more
        raise PermissionDenied(
            f"The scikit-learn model names "
            f"{count(unsafe, 'type or function', 'types or functions')} outside "
            f"scikit-learn's estimators and keel's allow-list: {shown}. Loading them "
            "constructs or calls them, which can run arbitrary code. Pass trust=True "
            "(keel.load_model(ref, trust=True)) only for packages you or your team built."
        )


def _names_inside(model: Any) -> bool:
    """Whether a later step of a pipeline was fitted on a frame (its first step, a custom
    transformer say, recorded no column names but handed the frame on)."""
    steps = getattr(model, "steps", None) or []
    return any(hasattr(step, "feature_names_in_") for _, step in steps[1:])


def _numpy_twin(model: Any) -> Any | None:
    """A copy of ``model`` that takes a NumPy array instead of a DataFrame, or None.

    scikit-learn spends most of a one-row predict converting and checking a DataFrame.
    When every step only checks feature names (keel has already checked them against the
    signature), a shallow copy without ``feature_names_in_`` takes the array directly,
    sharing the fitted arrays and giving identical predictions.
    """
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        steps = [step for _, step in model.steps if step not in (None, "passthrough")]
        if not steps or any(not _numeric_only(step) or _outputs_frames(step) for step in steps):
            return None
        if any(hasattr(step, "feature_names_in_") for step in steps[1:]):
            return None  # later steps were fitted on frames: they expect names too
        first = next(i for i, (_, s) in enumerate(model.steps) if s is steps[0])
        twin = copy.copy(model)
        twin.steps = list(model.steps)
        twin.steps[first] = (model.steps[first][0], _without_names(steps[0]))
        return twin
    if not _numeric_only(model) or _outputs_frames(model):
        return None
    return _without_names(model)


def _numeric_only(estimator: Any) -> bool:
    return type(estimator).__module__.startswith(NUMPY_SAFE)


def _outputs_frames(estimator: Any) -> bool:
    config = getattr(estimator, "_sklearn_output_config", None) or {}
    return config.get("transform", "default") != "default"


def _without_names(estimator: Any) -> Any:
    twin = copy.copy(estimator)
    twin.__dict__.pop("feature_names_in_", None)
    return twin


ZIP_TIME = (1980, 1, 1, 0, 0, 0)
SCHEMA_FILE = "schema.json"


def _canonical_skops(path: Path) -> None:
    """Rewrite the skops zip so that the same model always saves to the same bytes: stored
    once, and pushed to a keel server once.

    skops names shared objects (and the ``.npy`` files of arrays) by ``id()`` and stamps
    each entry with the wall clock; both change from one save to the next. Ids are
    renumbered in the order the schema lists them (equal ids stay equal, so shared
    references are kept) and every entry gets the same time.
    """
    import zipfile

    with zipfile.ZipFile(path) as src:
        entries = {info.filename: (info, src.read(info)) for info in src.infolist()}
    if SCHEMA_FILE not in entries:
        return  # not a file this skops writes: leave it to the loader to refuse
    schema = json.loads(entries[SCHEMA_FILE][1])
    ids: dict[int, int] = {}

    def renumber(node: Any) -> None:
        if isinstance(node, dict):
            old = node.get("__id__")
            if isinstance(old, int):
                node["__id__"] = ids.setdefault(old, len(ids) + 1)
            for value in node.values():
                renumber(value)
        elif isinstance(node, list):
            for value in node:
                renumber(value)

    renumber(schema)
    names: dict[str, str] = {}
    for name in entries:
        stem, dot, suffix = name.partition(".")
        if stem.isdigit() and int(stem) in ids:
            names[name] = f"{ids[int(stem)]}{dot}{suffix}"

    def rename(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("file"), str) and node["file"] in names:
                node["file"] = names[node["file"]]
            for value in node.values():
                rename(value)
        elif isinstance(node, list):
            for value in node:
                rename(value)

    rename(schema)
    entries[SCHEMA_FILE] = (entries[SCHEMA_FILE][0], json.dumps(schema, indent=2).encode())
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as out:
        for name in sorted(entries, key=lambda n: names.get(n, n)):
            info, data = entries[name]
            fixed = zipfile.ZipInfo(names.get(name, name), date_time=ZIP_TIME)
            fixed.compress_type = info.compress_type
            fixed.external_attr = info.external_attr
            out.writestr(fixed, data)
    tmp.replace(path)
