"""Model registry: versions, flavors, signatures, aliases, approvals, evaluation."""

from ._records import HistoryEvent, ModelVersion, Policy, parse_model_ref
from ._sdk import load_model, register_model, registry
from ._service import Actor, RegistryService

__all__ = [
    "Actor",
    "HistoryEvent",
    "ModelVersion",
    "Policy",
    "RegistryService",
    "load_model",
    "parse_model_ref",
    "register_model",
    "registry",
]
