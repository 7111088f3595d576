"""Loaded models: a package's native model behind a ``predict`` that enforces the signature.

Loading verifies every file against its digest, materialises the files in a folder
(:mod:`._materialise`), lets the flavor read them, and caches the result in-process by
package digest, so loading the same package again is a dictionary lookup that does not
touch the object store.

A package with a native scorer (scikit-learn linear models and scalers, see
:mod:`.flavors._sklearn_native`) is loaded from NumPy arrays alone: predictions need no
scikit-learn, SciPy, skops or pandas, and the estimator itself (:attr:`LoadedModel.native`)
is loaded from its skops file on first access, with the same checks. ``native=False``
loads the estimator at once and predicts with it, as for any other model.
"""

from __future__ import annotations

import atexit
import copy
import functools
import io
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import InvalidInput, KeelError, PermissionDenied
from keel.store.objects import ObjectStore, check_digest

from ._blocks import BlockPlan
from ._materialise import materialise, read_manifest
from ._package import EXAMPLE_FILE, PackageManifest
from .flavors import FLAVORS, BindsPredict, BindsProba, Flavor, ScoresNatively

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


__all__ = ["CACHE_SIZE", "LoadedModel", "clear_cache", "load_package"]

CACHE_SIZE = 32
"""Loaded packages kept in memory, least recently used dropped first."""

_cache: OrderedDict[tuple[str, bool, bool], LoadedModel] = OrderedDict()
_lock = threading.Lock()


class _Deferred:
    """The model object, loaded on first use (shared by every name of one loaded model)."""

    def __init__(self, load: Callable[[], object]) -> None:
        self._load: Callable[[], object] | None = load
        self._value: object = None
        self._lock = threading.Lock()

    def get(self) -> object:
        if self._load is not None:
            with self._lock:
                if self._load is not None:
                    self._value = self._load()
                    self._load = None
        return self._value


class LoadedModel:
    """A packaged model, ready to predict with its signature enforced.

    Attributes:
        flavor: the flavor's name (``sklearn``, ``xgboost``, ...).
        signature: the inputs and output recorded at packaging, or None.
        digest: the package's (manifest's) digest.
        ref: the model version it was loaded as (``credit:4``), if any.
        manifest: everything ``keel-model.json`` records.
        native: the model object the flavor loaded (an estimator, a booster, a session);
            with a native scorer, loaded on first access.
        scorer: the native scorer predictions use, or None (see :mod:`._loaded`).
    """

    def __init__(
        self,
        native: object,
        flavor: Flavor,
        manifest: PackageManifest,
        digest: str,
        *,
        ref: str | None = None,
        objects: ObjectStore | None = None,
        scorer: Any = None,
        deferred: Callable[[], object] | None = None,
    ) -> None:
        self._native = _Deferred(deferred) if deferred is not None else None
        if deferred is None:
            self.__dict__["native"] = native
        self._flavor = flavor
        self.flavor = flavor.name
        self.manifest = manifest
        self.digest = digest
        self.ref = ref
        self.scorer = scorer
        self._objects = objects
        self._example: pd.DataFrame | None = None
        inputs = (manifest.signature or {}).get("inputs") if manifest.signature else None
        self._blocks = BlockPlan(inputs) if scorer is not None and inputs else None
        self._order = self._scorer_order()

    def __getattr__(self, name: str) -> Any:
        # the attributes computed on first use (they import pandas, or load the model)
        if name == "native":
            deferred = self.__dict__.get("_native")
            if deferred is None:
                raise AttributeError(name)
            return deferred.get()
        if name == "signature":
            from ._signature import Signature

            raw = self.manifest.signature
            value: Any = Signature.from_dict(raw) if raw else None
        elif name == "_plan":
            signature = self.signature
            value = signature._plan if signature is not None else None
        elif name == "_predict":
            native = self.native
            flavor = self._flavor
            if self.signature is not None and isinstance(flavor, BindsPredict):
                value = flavor.bind_predict(native, self.signature.names)
            else:
                value = functools.partial(flavor.predict, native)
        else:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self.__dict__[name] = value
        return value

    def predict(self, data: Any, *, extra: str = "error") -> Any:
        """Predictions for ``data``: a pandas or polars DataFrame, one row as a dict, a
        dict of columns, a list of row dicts, or a 2-D NumPy array (columns in the
        signature's order).

        Args:
            data: the rows to score.
            extra: ``"error"`` (the default) refuses columns the signature does not name;
                ``"ignore"`` scores a wider table (ids, labels, timestamps beside the
                features) by leaving those columns out.

        Raises:
            InvalidInput: the data does not match the signature (each missing, unexpected
                and mistyped column is named); compatible types are cast first.
        """
        if self.scorer is not None:
            block, frame = self._scorer_input(data, extra)
            if block is not None:
                return self.scorer.predict(block)
            return self._predict(frame)
        if self._plan is not None:
            return self._predict(self.enforce(data, extra=extra))
        from ._signature import to_frame

        return self._predict(to_frame(data))

    def proba_function(self) -> Callable[[Any], Any]:
        """A predict of class probabilities (a row per input row, a column per class) for
        the same data :meth:`predict` takes, with the signature enforced the same way (what
        a model server serving ``probabilities: true`` calls).

        Raises:
            InvalidInput: the model gives no class probabilities.
        """
        if self.scorer is not None:
            self._no_proba_unless(self.scorer)
            return self.predict_proba
        bound = self._proba()
        if self._plan is not None:
            plan, name = self._plan, self._name
            return lambda data: bound(plan.frame(data, name))
        from ._signature import to_frame

        return lambda data: bound(to_frame(data))

    def predict_proba(self, data: Any, *, extra: str = "error") -> Any:
        """Class probabilities for ``data``, one row per input row and one column per class
        (in the order of the model's ``classes_``), for flavors and models that give them.

        Raises:
            InvalidInput: the model gives no probabilities (a regressor, a raw booster, an
                ONNX graph without a ``probabilities`` output), or the data does not match
                the signature.
        """
        scorer = self.scorer
        if scorer is not None:
            self._no_proba_unless(scorer)
            block, frame = self._scorer_input(data, extra)
            if block is not None:
                return scorer.predict_proba(block)
            return self._proba()(frame)
        proba = self._proba()
        return proba(self.enforce(data, extra=extra))

    def enforce(self, data: Any, *, extra: str = "error") -> pd.DataFrame:
        """``data`` as the model receives it: the signature's columns, in order and types
        (``extra="ignore"`` first leaves out the columns the signature does not name)."""
        from ._signature import pandas_if_polars, to_frame

        data = pandas_if_polars(data)
        if self._plan is not None:
            if _check_extra(extra) == "ignore":
                data = self._without_extra(data)
            return self._plan.frame(data, self._name)
        return to_frame(data)

    def _scorer_input(self, data: Any, extra: str) -> tuple[np.ndarray | None, Any]:
        """``data`` as the native scorer's block, else (None, the enforced frame) for the
        model object: a block is made without pandas when ``data`` allows (a NumPy array,
        a dict, an Arrow table of the signature's numbers), else from the enforced frame
        when its values are numbers the scorer computes with exactly."""
        _check_extra(extra)
        scorer = self.scorer
        if self._blocks is not None:
            block = self._blocks.block(data, extra=extra)
            if block is not None and scorer.accepts(block):
                return block if self._order is None else block[:, self._order], None
        elif (
            self.manifest.signature is None
            and scorer.feature_names is None
            and type(data).__module__ == "numpy"
            and getattr(data, "ndim", 0) == 2
            and scorer.accepts(data)
        ):
            return data, None  # no signature: the array is in the fitted order
        frame = self.enforce(data, extra=extra)
        names = [str(c) for c in frame.columns]
        order: list[int] | None = None
        if scorer.feature_names is not None and tuple(names) != scorer.feature_names:
            if not set(scorer.feature_names) <= set(names):
                return None, frame  # the model's own error names what is missing
            order = [names.index(n) for n in scorer.feature_names]
        values = frame.to_numpy()
        if not scorer.accepts(values):
            return None, frame
        return (values if order is None else values[:, order]), None

    def _scorer_order(self) -> list[int] | None:
        """Where each column the scorer's model was fitted on is in the signature (None:
        in the same order)."""
        scorer, blocks = self.scorer, self._blocks
        if scorer is None or blocks is None or scorer.feature_names is None:
            return None
        if scorer.feature_names == blocks.names:
            return None
        if set(scorer.feature_names) != blocks.name_set:
            self._blocks = None  # a signature the model does not name: through pandas
            return None
        return [blocks.names.index(n) for n in scorer.feature_names]

    def _no_proba_unless(self, scorer: Any) -> None:
        if not scorer.has_proba:
            raise InvalidInput(
                f"Model {self._name} ({self.flavor} flavor, {scorer.estimator}) gives no "
                "class probabilities: it has no predict_proba. Use predict(), or register "
                "a classifier that has one."
            )

    def _without_extra(self, data: Any) -> Any:
        """``data`` less the columns the signature does not name (tables and rows only)."""
        import pandas as pd

        names = self._plan.name_set  # type: ignore[union-attr]
        if isinstance(data, pd.DataFrame):
            keep = [c for c in data.columns if str(c) in names]
            return data if len(keep) == len(data.columns) else data[keep]
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if str(k) in names}
        if isinstance(data, list) and data and all(isinstance(r, dict) for r in data):
            return [{k: v for k, v in r.items() if str(k) in names} for r in data]
        return data

    def _proba(self) -> Callable[[pd.DataFrame], Any]:
        bound = self.__dict__.get("_bound_proba")
        if bound is None:
            flavor = FLAVORS.get(self.flavor)
            columns = self.signature.names if self.signature is not None else ()
            if isinstance(flavor, BindsProba):
                bound = flavor.bind_proba(self.native, columns)
            if bound is None:
                raise InvalidInput(
                    f"Model {self._name} ({self.flavor} flavor, "
                    f"{type(self.native).__name__}) gives no class probabilities: it has no "
                    "predict_proba. Use predict(), or register a classifier that has one."
                )
            self.__dict__["_bound_proba"] = bound
        return bound

    def enforce_block(self, data: Any) -> Any:
        """``data`` as the model receives it, kept as one NumPy block when the signature is
        all one numeric dtype and ``data`` is such an array (no DataFrame per request: a
        model server stacks the blocks of a batch and makes one frame of them); otherwise
        what :meth:`enforce` gives."""
        if self._plan is not None:
            block = self._plan.block_of(data)
            if block is not None:
                return block
        return self.enforce(data)

    @property
    def classes(self) -> Any:
        """The classifier's classes (its ``classes_``, in the order of the probability
        columns), or None; read from the native scorer when there is one, so asking does
        not load the estimator."""
        if self.scorer is not None:
            return self.scorer.classes
        return getattr(self.native, "classes_", None)

    @property
    def gives_proba(self) -> bool:
        """Whether :meth:`predict_proba` gives probabilities (without loading the estimator
        when a native scorer answers)."""
        if self.scorer is not None:
            return bool(self.scorer.has_proba)
        return hasattr(self.native, "predict_proba")

    @property
    def columns(self) -> pd.Index | None:
        """The signature's input columns, as one Index (None without a signature)."""
        return self._plan.index if self._plan is not None else None

    @property
    def input_example(self) -> pd.DataFrame | None:
        """The first rows of the example the model was registered with, if it was stored."""
        digest = self.manifest.files.get(EXAMPLE_FILE)
        if self._example is None and digest is not None and self._objects is not None:
            import pandas as pd

            self._example = pd.read_parquet(io.BytesIO(self._objects.read_bytes(digest)))
        return self._example

    @property
    def _name(self) -> str:
        return self.ref or f"package {self.digest[:12]}"

    def _as(self, ref: str | None) -> LoadedModel:
        """The same loaded model under another name (sharing the native model)."""
        if ref == self.ref:
            return self
        other = copy.copy(self)
        other.ref = ref
        return other

    def __repr__(self) -> str:
        return f"LoadedModel({self._name!r}, flavor={self.flavor!r})"


def _check_extra(extra: object) -> str:
    if extra not in ("error", "ignore"):
        raise InvalidInput(
            f"extra must be 'error' (refuse columns the signature does not name) or 'ignore' "
            f"(leave them out). Got {extra!r:.80}."
        )
    return extra  # type: ignore[return-value]


def load_package(
    objects: ObjectStore,
    digest: str,
    *,
    trust: bool = False,
    ref: str | None = None,
    cache_dir: str | Path | None = None,
    native: bool = True,
) -> LoadedModel:
    """Load the package ``digest``; a second load of the same package is served from memory.

    Args:
        objects: the object store holding the package.
        digest: the package's digest, as :func:`build_package` returned it.
        trust: allow flavors whose files can run code when loaded (pyfunc, skops files
            naming types outside scikit-learn, NumPy and SciPy).
        ref: the model version being loaded, used in messages (``credit:4``).
        cache_dir: keep the manifest and the package's files in ``cache_dir/<digest>/``
            (see :mod:`._materialise`), where a later cold load, in any process, re-hashes
            them instead of fetching them; by default the files go to a temporary folder
            of this process, removed when it exits.
        native: predict with the package's native scorer when it has one (NumPy only; the
            model object loads on first access); False loads the model object at once and
            predicts with it.

    Raises:
        ObjectNotFound: the package or one of its files is not in the store.
        IntegrityError: a file does not match its digest (corrupt or tampered with).
        PermissionDenied: the package needs ``trust=True``.
        InvalidInput: the flavor is not available here, or cannot read the files.
    """
    check_digest(digest)
    native = bool(native)
    # A model loaded without trust serves a trusting caller too, not the other way round.
    with _lock:
        for key in ((digest, trust, native), (digest, False, native))[: 1 + trust]:
            hit = _cache.get(key)
            if hit is not None:
                _cache.move_to_end(key)
                return hit._as(ref)
    kept = Path(cache_dir) / digest if cache_dir is not None else None
    manifest = read_manifest(objects, digest, kept)
    flavor = FLAVORS.get(manifest.flavor)
    name = ref or f"package {digest}"
    if flavor is None:
        raise InvalidInput(
            f"Model {name} has the flavor {manifest.flavor!r}, which is not registered in "
            f"this process (the flavors are: {', '.join(FLAVORS)}). Import the plugin that "
            "provides it, or install the package's requirements: "
            f"{', '.join(manifest.requirements)}."
        )
    # every file the package declares is verified, the input example too (read later)
    root = kept or _process_root() / digest
    folder = materialise(objects, manifest, root, name=name)
    scorer = None
    if native and isinstance(flavor, ScoresNatively):
        try:
            scorer = flavor.load_scorer(folder, trust=trust)
        except PermissionDenied as exc:
            raise PermissionDenied(f"Cannot load {name}: {exc.message}") from exc
    if scorer is not None:

        def deferred() -> object:
            # the folder may have been emptied since (a shared cache): verified again
            again = materialise(objects, manifest, root, name=name)
            return _load_model(flavor, again, manifest, name, trust=trust)

        loaded = LoadedModel(
            None,
            flavor,
            manifest,
            digest,
            ref=ref,
            objects=objects,
            scorer=scorer,
            deferred=deferred,
        )
    else:
        model = _load_model(flavor, folder, manifest, name, trust=trust)
        loaded = LoadedModel(model, flavor, manifest, digest, ref=ref, objects=objects)
    key = (digest, trust, native)
    with _lock:
        loaded = _cache.setdefault(key, loaded)  # a concurrent load may have won
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded._as(ref)


def _load_model(
    flavor: Flavor, folder: Path, manifest: PackageManifest, name: str, *, trust: bool
) -> object:
    """The flavor's model object from ``folder``, its errors said in keel's words."""
    try:
        return flavor.load(folder, trust=trust)
    except PermissionDenied as exc:
        raise PermissionDenied(f"Cannot load {name}: {exc.message}") from exc
    except KeelError:
        raise
    except Exception as exc:  # the library's own error: most often a version mismatch
        raise InvalidInput(
            f"Cannot load {name} with the {flavor.name} flavor: {type(exc).__name__}: "
            f"{exc}. It was packaged with {_versions(manifest)}; install those versions "
            f"({' '.join(manifest.requirements)})."
        ) from exc


def clear_cache() -> None:
    """Forget every loaded package (the next load of each reads the object store again)."""
    with _lock:
        _cache.clear()


_root: list[Path] = []


def _process_root() -> Path:
    """This process's folder of materialised packages, removed when the process exits.

    One folder for the process, not one per load: creating and removing folders costs
    milliseconds on some filesystems, a large part of a cold load.
    """
    with _lock:
        if not _root:
            _root.append(Path(tempfile.mkdtemp(prefix="keel-models-")))
            atexit.register(shutil.rmtree, _root[0], ignore_errors=True)
        return _root[0]


def _versions(manifest: PackageManifest) -> str:
    libraries = ", ".join(f"{k} {v}" for k, v in sorted(manifest.libraries.items()))
    return f"Python {manifest.python}, {libraries}" if libraries else f"Python {manifest.python}"
