"""Serving: the model server, routing, micro-batching, prediction logging, batch scoring.

Names load on first use: a model server imports what it serves with, not all of keel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from keel._lazy import lazy_names

if TYPE_CHECKING:
    from ._erase import check_prediction_erasures, prediction_owners
    from ._models import ModelServer
    from ._retention import expire_predictions
    from ._thread import serve_in_thread
    from .app import ServingApp, create_app, load_spec
    from .predictions import PredictionStore
    from .predlog import PredictionLogger, PredictionSink

_LAZY = {
    "ModelServer": "._models",
    "PredictionLogger": ".predlog",
    "PredictionSink": ".predlog",
    "PredictionStore": ".predictions",
    "ServingApp": ".app",
    "check_prediction_erasures": "._erase",
    "create_app": ".app",
    "expire_predictions": "._retention",
    "load_spec": ".app",
    "prediction_owners": "._erase",
    "serve_in_thread": "._thread",
}

__all__ = [
    "ModelServer",
    "PredictionLogger",
    "PredictionSink",
    "PredictionStore",
    "ServingApp",
    "check_prediction_erasures",
    "create_app",
    "expire_predictions",
    "load_spec",
    "prediction_owners",
    "serve_in_thread",
]

__getattr__ = lazy_names(__name__, _LAZY)


def __dir__() -> list[str]:
    return sorted(__all__)
