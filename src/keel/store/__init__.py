"""Storage: the metadata database, the content-addressed object store, and their checks."""

from __future__ import annotations

from ._ids import new_id, now_ms
from ._store import Store, init_project
from .objects import ObjectStore, open_object_store

__all__ = ["ObjectStore", "Store", "init_project", "new_id", "now_ms", "open_object_store"]
