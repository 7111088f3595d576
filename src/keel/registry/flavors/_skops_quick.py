"""Importing ``skops.io`` without its import-time scans, for loads keel checks name by name.

skops computes its default trusted names when ``skops.io`` is imported: every
scikit-learn estimator (``sklearn.utils.all_estimators()``, which imports every
scikit-learn module, and pytest with them) and the module of every NumPy and SciPy ufunc
(found by scanning every loaded module for each one). That is most of a cold model load
once scikit-learn itself is imported: 0.3-0.5 s on a quiet machine.

:func:`import_skops_io` imports skops with those three lists (estimators, NumPy ufuncs,
SciPy ufuncs) *deferred*: everything else in ``skops.io._trusted_types`` is computed by
skops' own code as usual; the three lists are filled, by running skops' own module, the
first time anything reads them. Until then, inside :func:`quick_defaults` only, they read
as empty, so skops trusts *less* than it would (never more), and the caller decides each
name itself: :func:`public_estimator` accepts exactly the names ``all_estimators()``
would list, one name at a time, importing only the public scikit-learn module that
exports it (which ``all_estimators()`` would import too). Outside :func:`quick_defaults`
skops behaves exactly as if imported normally.

Only skops releases whose ``_trusted_types`` this was checked against take this path
(:data:`KNOWN_SKOPS`); any other imports skops as it is.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

__all__ = [
    "KNOWN_SKOPS",
    "defer_in_place",
    "import_skops_io",
    "public_estimator",
    "quick_defaults",
]

KNOWN_SKOPS = ("0.16.",)
"""skops versions (prefixes) whose ``skops.io._trusted_types`` this module stands in for."""

_MODULE = "skops.io._trusted_types"
DEFERRED = ("SKLEARN_ESTIMATOR_TYPE_NAMES", "NUMPY_UFUNC_TYPE_NAMES", "SCIPY_UFUNC_TYPE_NAMES")
"""The lists whose computation is deferred: the costly ones."""

# scikit-learn's all_estimators() skips modules with any of these parts (sklearn 1.x).
_SKIPPED_PARTS = frozenset(
    {"experimental", "externals", "tests", "conftest", "setup", "estimator_checks"}
)

_quick: contextvars.ContextVar[bool] = contextvars.ContextVar("keel_skops_quick", default=False)
_lock = threading.Lock()


class _Deferred(list):
    """One of skops' default trusted lists, filled on first use by running skops' own
    ``_trusted_types`` module; read as empty inside :func:`quick_defaults` until then.

    skops reads these lists only by concatenating, iterating, testing or measuring them,
    which the methods below cover; the list's own storage holds the names once filled.
    """

    filled = False

    def _ready(self) -> bool:
        if not self.filled and not _quick.get():
            _fill()
        return self.filled

    def __iter__(self) -> Iterator[Any]:
        return super().__iter__() if self._ready() else iter(())

    def __len__(self) -> int:
        return super().__len__() if self._ready() else 0

    def __bool__(self) -> bool:
        return len(self) > 0

    def __contains__(self, item: object) -> bool:
        return self._ready() and super().__contains__(item)

    def __getitem__(self, index: Any) -> Any:
        self._ready()
        return super().__getitem__(index)

    def __add__(self, other: Any) -> list:  # type: ignore[override]
        return [*self, *other]

    def __radd__(self, other: Any) -> list:
        return [*other, *self]

    def __eq__(self, other: object) -> bool:
        return list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self)) if self.filled else "<skops trusted names, not computed yet>"


def import_skops_io() -> ModuleType:
    """``skops.io``, imported with its costly default lists deferred when it is not
    imported yet and the installed skops is one of :data:`KNOWN_SKOPS`; else as it is."""
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import skops

    if not str(getattr(skops, "__version__", "")).startswith(KNOWN_SKOPS):
        return importlib.import_module("skops.io")
    finder = _Finder()
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module("skops.io")
    finally:
        sys.meta_path.remove(finder)


@contextlib.contextmanager
def quick_defaults() -> Iterator[bool]:
    """Within the block, skops' deferred lists read as empty unless already computed.

    Yields whether they are deferred (False: skops trusts its full defaults, as usual).
    The caller must then pass every name skops lists as untrusted, and has checked, as
    ``trusted``: skops constructs nothing else.
    """
    token = _quick.set(True)
    try:
        module = sys.modules.get(_MODULE)
        yield any(
            isinstance(getattr(module, name, None), _Deferred) and not getattr(module, name).filled
            for name in DEFERRED
        )
    finally:
        _quick.reset(token)


def public_estimator(name: str) -> bool:
    """Whether ``name`` (``module.Class``) is one ``all_estimators()`` lists, which skops
    trusts by default: a concrete ``BaseEstimator`` subclass exported under its own
    public name by the public scikit-learn module above the one defining it."""
    module_name, _, class_name = name.rpartition(".")
    parts = module_name.split(".")
    if not all(p.isidentifier() for p in (*parts, class_name)):
        return False
    if parts[0] != "sklearn" or class_name.startswith("_") or class_name == "BaseEstimator":
        return False
    public: list[str] = []
    for part in parts:
        if part.startswith("_"):
            break
        public.append(part)
    if len(public) < 2 or _SKIPPED_PARTS.intersection(public):
        return False
    try:
        module = importlib.import_module(".".join(public))
    except ImportError:
        return False
    from sklearn.base import BaseEstimator

    cls = getattr(module, class_name, None)
    return (
        isinstance(cls, type)
        and issubclass(cls, BaseEstimator)
        and not getattr(cls, "__abstractmethods__", None)
        and f"{cls.__module__}.{cls.__qualname__}" == name
    )


class _Finder(importlib.abc.MetaPathFinder):
    """Finds ``skops.io._trusted_types`` for :class:`_Loader`; nothing else."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname != _MODULE:
            return None
        real = importlib.machinery.PathFinder.find_spec(fullname, path)
        if real is None or real.loader is None:
            return None
        return importlib.util.spec_from_file_location(
            fullname, real.origin, loader=_Loader(real.loader)
        )


class _Loader(importlib.abc.Loader):
    """Runs skops' ``_trusted_types`` with its two costly scans answering ``[]``, then
    puts an unfilled :class:`_Deferred` in place of each list they made.

    The scans are swapped only while the module runs, inside the import of ``skops.io``
    (a thread calling ``all_estimators()`` in that instant would see no estimators)."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def create_module(self, spec: Any) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        import sklearn.utils
        from skops.io import _utils

        if not (
            hasattr(sklearn.utils, "all_estimators") and hasattr(_utils, "get_public_type_names")
        ):  # not the layout this stands in for: skops' module as it is, nothing deferred
            self.real.exec_module(module)
            return
        with _swapped(sklearn.utils, "all_estimators"), _swapped(_utils, "get_public_type_names"):
            self.real.exec_module(module)
        for name in DEFERRED:
            if hasattr(module, name):
                setattr(module, name, _Deferred())


@contextlib.contextmanager
def _swapped(module: ModuleType, name: str) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, lambda *args, **kwargs: [])
    try:
        yield
    finally:
        setattr(module, name, original)


def _fill() -> None:
    """Compute the deferred lists with skops' own module, run afresh (not registered)."""
    with _lock:
        stand_in = sys.modules[_MODULE]
        pending = {
            name: lst
            for name in DEFERRED
            if isinstance(lst := getattr(stand_in, name, None), _Deferred) and not lst.filled
        }
        if not pending:
            return
        if all(hasattr(lst, "fill_with") for lst in pending.values()):  # see defer_in_place
            computed = {name: lst.fill_with for name, lst in pending.items()}
        else:
            spec = importlib.machinery.PathFinder.find_spec(
                _MODULE, sys.modules["skops.io"].__path__
            )
            real = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(real)
            computed = {name: getattr(real, name) for name in pending}
        for name, lst in pending.items():
            list.extend(lst, computed[name])
            lst.filled = True


def defer_in_place(setattr_: Any) -> None:
    """Make an already imported ``skops.io`` read its costly lists as :func:`import_skops_io`
    leaves them (deferred, filled on first use outside :func:`quick_defaults`), through
    ``setattr_(module, name, value)`` (a test's ``monkeypatch.setattr``, which undoes it).

    Filling then copies the lists skops already computed in this process.
    """
    import skops.io._general as general
    import skops.io._trusted_types as trusted

    modules = [trusted, general, sys.modules.get("skops.io.old._general_v0")]
    for name in DEFERRED:
        computed = list(getattr(trusted, name))
        deferred = _Deferred()
        deferred.fill_with = computed  # type: ignore[attr-defined]
        for module in modules:
            if module is not None and hasattr(module, name):
                setattr_(module, name, deferred)
