"""Alembic migrations of the metadata schema, applied automatically when a store opens."""

HEAD = "0013"
"""The newest revision; a test checks it matches the scripts in ``versions/``."""
