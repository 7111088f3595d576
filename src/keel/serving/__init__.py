"""Serving: the model server, routing, micro-batching, prediction logging.

Names load on first use: a model server imports what it serves with, not all of keel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel._lazy import lazy_names

if TYPE_CHECKING:
    from ._erase import check_prediction_erasures, prediction_owners
    from .predictions import PredictionStore
    from .predlog import PredictionLogger, PredictionSink

_LAZY = {
    "PredictionLogger": ".predlog",
    "PredictionSink": ".predlog",
    "PredictionStore": ".predictions",
    "check_prediction_erasures": "._erase",
    "prediction_owners": "._erase",
}

__all__ = [
    "PredictionLogger",
    "PredictionSink",
    "PredictionStore",
    "check_prediction_erasures",
    "prediction_owners",
]

__getattr__ = lazy_names(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
