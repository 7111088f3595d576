"""Alembic migrations of the metadata schema, applied automatically when a store opens."""

HEAD = "0014"
"""The newest revision; a test checks it matches the scripts in ``versions/``."""
