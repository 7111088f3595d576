"""Model registry: versions, flavors, signatures, aliases, approvals, evaluation."""

from ._card import model_card
from ._evaluate import Evaluation, evaluate
from ._records import HistoryEvent, ModelVersion, Policy, parse_model_ref
from ._sdk import load_model, register_model, registry
from ._service import Actor, RegistryService

__all__ = [
    "Actor",
    "Evaluation",
    "HistoryEvent",
    "ModelVersion",
    "Policy",
    "RegistryService",
    "evaluate",
    "load_model",
    "model_card",
    "parse_model_ref",
    "register_model",
    "registry",
]
