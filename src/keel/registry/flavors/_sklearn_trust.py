"""Which names a skops file may mention and still load without ``trust=True``.

skops trusts a small set by itself (scikit-learn's public estimators, builtin containers,
NumPy and SciPy ufuncs, dtypes, bit generators). Everything else it lists as untrusted,
and this module decides which of those keel accepts: an allow-list of *exact* names, the
helper types and functions that fitted scikit-learn models actually hold (trees, losses,
kernels, CV splitters, scorers, score functions, distance metrics, splines). A name is
never accepted for its prefix: ``sklearn.utils._testing.assert_run_python_script...``
lives under ``sklearn.`` and runs a Python script.

Accepting a type is not enough for the types whose arrays scikit-learn indexes without
bounds checks (trees, neighbour trees): :mod:`._sklearn_structure` checks those after
loading.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Iterable

__all__ = ["is_trusted_name", "trusted_names", "untrusted_names"]

# Fixed names, each seen in a fitted model of a public estimator with scikit-learn 1.9.
_FIXED = (
    "numpy.dtype",
    # trees and tree ensembles
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    # neighbours
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    # meta-estimators and their helpers
    "sklearn.utils._bunch.Bunch",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.metrics._scorer._PassthroughScorer",
    "sklearn.metrics._scorer._Scorer",
    "sklearn.metrics._scorer._MultimetricScorer",
    # functions an estimator holds as a parameter and calls only on arrays
    "sklearn.cluster._kmeans._kmeans_single_lloyd",
    "sklearn.cluster._kmeans._kmeans_single_elkan",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
    "scipy.interpolate._bsplines.BSpline",
    "numpy.mean",
    "numpy.median",
    "numpy.nanmean",
    "numpy.nanmedian",
    "numpy.sum",
    "numpy.max",
    "numpy.min",
    "numpy.std",
)

# Modules whose public functions are pure computations on arrays (score functions, metrics).
_FUNCTION_MODULES = ("sklearn.feature_selection", "sklearn.metrics")

# (module, base class) pairs: every concrete subclass defined there is a plain data holder.
_TYPE_FAMILIES = (
    ("sklearn._loss.loss", "BaseLoss"),
    ("sklearn._loss.link", "BaseLink"),
    ("sklearn.gaussian_process.kernels", "Kernel"),
    ("sklearn.model_selection._split", "BaseCrossValidator"),
    ("sklearn.model_selection._split", "BaseShuffleSplit"),
    ("sklearn.model_selection._split", "_RepeatedSplits"),
    ("sklearn.metrics._dist_metrics", "DistanceMetric64"),
    ("sklearn.metrics._dist_metrics", "DistanceMetric32"),
)

# Subclasses that hold a Python callable and call it: never trusted by family.
_EXCLUDED = ("PyFuncDistance",)


@functools.cache
def trusted_names() -> frozenset[str]:
    """Every name keel accepts in a skops file beyond skops' own trusted set."""
    import importlib

    names = set(_FIXED)
    for module_name in _FUNCTION_MODULES:
        module = importlib.import_module(module_name)
        for attr in getattr(module, "__all__", ()):
            value = getattr(module, attr, None)
            if isinstance(value, types.FunctionType):
                names.add(f"{value.__module__}.{value.__qualname__}")
    for module_name, base_name in _TYPE_FAMILIES:
        module = importlib.import_module(module_name)
        base = getattr(module, base_name, None)
        if base is None:  # a scikit-learn release without this family
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, base)
                and cls.__module__ == module_name
                and not cls.__name__.startswith(_EXCLUDED)
            ):
                names.add(f"{cls.__module__}.{cls.__qualname__}")
    return frozenset(names)


def is_trusted_name(name: str) -> bool:
    """Whether a name skops lists as untrusted is one keel accepts without ``trust=True``."""
    return name in trusted_names()


def untrusted_names(names: Iterable[str]) -> list[str]:
    """The names keel does not accept, sorted."""
    return sorted(n for n in names if not is_trusted_name(n))
