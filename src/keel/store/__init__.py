"""Storage: the metadata database, the content-addressed object store, and their checks.

Names load on first use, so code that only needs the object store (or an HTTP client)
does not pay for importing SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module

TYPE_CHECKING = False  # typing costs 'keel data add' (keel.store.migrations) its start-up

__all__ = [
    "DEFAULT_PROJECT",
    "ObjectStore",
    "Store",
    "already_initialised",
    "check_project_name",
    "init_project",
    "new_id",
    "now_ms",
    "open_object_store",
]

_LAZY = {
    "DEFAULT_PROJECT": "keel.store._store",
    "Store": "keel.store._store",
    "init_project": "keel.store._store",
    "already_initialised": "keel.store._store",
    "check_project_name": "keel.store._store",
    "ObjectStore": "keel.store.objects",
    "open_object_store": "keel.store.objects",
    "new_id": "keel.store._ids",
    "now_ms": "keel.store._ids",
}

if TYPE_CHECKING:
    from typing import Any

    from ._ids import new_id, now_ms
    from ._store import (
        DEFAULT_PROJECT,
        Store,
        already_initialised,
        check_project_name,
        init_project,
    )
    from .objects import ObjectStore, open_object_store


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'keel.store' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # once: now_ms and new_id are called on hot paths
    return value
