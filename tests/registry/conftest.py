"""Registry fixtures: a fresh load cache for every test, and a local object store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.registry._loaded import clear_cache
from keel.store.objects import LocalObjectStore


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Loaded packages are cached per process: no test sees another's."""
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def objects(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects", fsync=False)
