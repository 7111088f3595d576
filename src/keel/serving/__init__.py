"""Serving: the model server, routing, micro-batching, prediction logging, batch scoring."""
