"""Model registry: versions, flavors, signatures, aliases, approvals, evaluation.

Evaluation, model cards and ONNX export (metrics, SciPy, Jinja2, skl2onnx) load on first
use, so that ``keel.load_model`` in a serving process does not pay for them; so does the
store's service (SQLAlchemy), which a client of a keel server never needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel._lazy import lazy_names

from ._records import HistoryEvent, ModelVersion, Policy, parse_model_ref
from ._sdk import load_model, register_model, registry

if TYPE_CHECKING:
    from keel.store.actors import Actor

    from ._card import model_card
    from ._ci_report import CiReport, ci_report
    from ._delete import delete_version
    from ._disk_cache import CachedPackage, cached_packages, clear_model_cache
    from ._evaluate import Evaluation, evaluate
    from ._examples import stored_examples
    from ._export import export_onnx
    from ._owners import package_owners
    from ._service import RegistryService

_LAZY = {
    "Actor": "._service",
    "RegistryService": "._service",
    "model_card": "._card",
    "CachedPackage": "._disk_cache",
    "cached_packages": "._disk_cache",
    "clear_model_cache": "._disk_cache",
    "CiReport": "._ci_report",
    "ci_report": "._ci_report",
    "delete_version": "._delete",
    "Evaluation": "._evaluate",
    "evaluate": "._evaluate",
    "stored_examples": "._examples",
    "export_onnx": "._export",
    "package_owners": "._owners",
}

__all__ = [
    "Actor",
    "CachedPackage",
    "CiReport",
    "Evaluation",
    "HistoryEvent",
    "ModelVersion",
    "Policy",
    "RegistryService",
    "cached_packages",
    "ci_report",
    "clear_model_cache",
    "delete_version",
    "evaluate",
    "export_onnx",
    "load_model",
    "model_card",
    "package_owners",
    "parse_model_ref",
    "register_model",
    "registry",
    "stored_examples",
]


__getattr__ = lazy_names(__name__, _LAZY)
