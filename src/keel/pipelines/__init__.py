"""Pipelines: steps, DAGs, caching, executors, approvals and triggers (being built)."""
