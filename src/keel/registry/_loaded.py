"""Loaded models: a package's native model behind a ``predict`` that enforces the signature.

Loading verifies every file against its digest, materialises the files in a folder
(:mod:`._materialise`), lets the flavor read them, and caches the result in-process by
package digest, so loading the same package again is a dictionary lookup that does not
touch the object store.
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
from typing import Any

import pandas as pd

from keel.errors import InvalidInput, KeelError, PermissionDenied
from keel.store.objects import ObjectStore, check_digest

from ._materialise import materialise, read_manifest
from ._package import EXAMPLE_FILE, PackageManifest
from ._signature import Signature, pandas_if_polars, to_frame
from .flavors import FLAVORS, BindsPredict, BindsProba, Flavor

__all__ = ["CACHE_SIZE", "LoadedModel", "clear_cache", "load_package"]

CACHE_SIZE = 32
"""Loaded packages kept in memory, least recently used dropped first."""

_cache: OrderedDict[tuple[str, bool], LoadedModel] = OrderedDict()
_lock = threading.Lock()


class LoadedModel:
    """A packaged model, ready to predict with its signature enforced.

    Attributes:
        flavor: the flavor's name (``sklearn``, ``xgboost``, ...).
        signature: the inputs and output recorded at packaging, or None.
        digest: the package's (manifest's) digest.
        ref: the model version it was loaded as (``credit:4``), if any.
        manifest: everything ``keel-model.json`` records.
        native: the model object the flavor loaded (an estimator, a booster, a session).
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
    ) -> None:
        self.native = native
        self.flavor = flavor.name
        self.manifest = manifest
        self.digest = digest
        self.ref = ref
        self.signature = Signature.from_dict(manifest.signature) if manifest.signature else None
        self._objects = objects
        self._example: pd.DataFrame | None = None
        if self.signature is not None and isinstance(flavor, BindsPredict):
            self._predict: Callable[[pd.DataFrame], Any] = flavor.bind_predict(
                native, self.signature.names
            )
        else:
            self._predict = functools.partial(flavor.predict, native)
        self._plan = self.signature._plan if self.signature is not None else None

    def predict(self, data: Any, *, extra: str = "error") -> Any:
        """Predictions for ``data``: a pandas or polars DataFrame, one row as a dict, or a
        list of row dicts.

        Args:
            data: the rows to score.
            extra: ``"error"`` (the default) refuses columns the signature does not name;
                ``"ignore"`` scores a wider table (ids, labels, timestamps beside the
                features) by leaving those columns out.

        Raises:
            InvalidInput: the data does not match the signature (each missing, unexpected
                and mistyped column is named); compatible types are cast first.
        """
        if self._plan is not None:
            return self._predict(self.enforce(data, extra=extra))
        return self._predict(to_frame(data))

    def proba_function(self) -> Callable[[Any], Any]:
        """A predict of class probabilities (a row per input row, a column per class) for
        the same data :meth:`predict` takes, with the signature enforced the same way (what
        a model server serving ``probabilities: true`` calls).

        Raises:
            InvalidInput: the model gives no class probabilities.
        """
        bound = self._proba()
        if self._plan is not None:
            plan, name = self._plan, self._name
            return lambda data: bound(plan.frame(data, name))
        return lambda data: bound(to_frame(data))

    def predict_proba(self, data: Any, *, extra: str = "error") -> Any:
        """Class probabilities for ``data``, one row per input row and one column per class
        (in the order of the model's ``classes_``), for flavors and models that give them.

        Raises:
            InvalidInput: the model gives no probabilities (a regressor, a raw booster, an
                ONNX graph without a ``probabilities`` output), or the data does not match
                the signature.
        """
        proba = self._proba()
        return proba(self.enforce(data, extra=extra))

    def enforce(self, data: Any, *, extra: str = "error") -> pd.DataFrame:
        """``data`` as the model receives it: the signature's columns, in order and types
        (``extra="ignore"`` first leaves out the columns the signature does not name)."""
        data = pandas_if_polars(data)
        if self._plan is not None:
            if _check_extra(extra) == "ignore":
                data = self._without_extra(data)
            return self._plan.frame(data, self._name)
        return to_frame(data)

    def _without_extra(self, data: Any) -> Any:
        """``data`` less the columns the signature does not name (tables and rows only)."""
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
    def columns(self) -> pd.Index | None:
        """The signature's input columns, as one Index (None without a signature)."""
        return self._plan.index if self._plan is not None else None

    @property
    def input_example(self) -> pd.DataFrame | None:
        """The first rows of the example the model was registered with, if it was stored."""
        digest = self.manifest.files.get(EXAMPLE_FILE)
        if self._example is None and digest is not None and self._objects is not None:
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

    Raises:
        ObjectNotFound: the package or one of its files is not in the store.
        IntegrityError: a file does not match its digest (corrupt or tampered with).
        PermissionDenied: the package needs ``trust=True``.
        InvalidInput: the flavor is not available here, or cannot read the files.
    """
    check_digest(digest)
    # A model loaded without trust serves a trusting caller too, not the other way round.
    with _lock:
        for key in ((digest, trust), (digest, False))[: 1 + trust]:
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
    folder = materialise(objects, manifest, kept or _process_root() / digest, name=name)
    try:
        native = flavor.load(folder, trust=trust)
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
    loaded = LoadedModel(native, flavor, manifest, digest, ref=ref, objects=objects)
    with _lock:
        loaded = _cache.setdefault((digest, trust), loaded)  # a concurrent load may have won
        _cache.move_to_end((digest, trust))
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return loaded._as(ref)


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
