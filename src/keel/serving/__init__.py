"""Serving: the model server, routing, micro-batching and prediction logging."""

from __future__ import annotations

__all__: list[str] = []
