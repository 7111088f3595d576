"""Serving: the model server, routing, micro-batching and prediction logging."""

from __future__ import annotations

from ._models import ModelServer
from .app import ServingApp, create_app, load_spec

__all__ = ["ModelServer", "ServingApp", "create_app", "load_spec"]
