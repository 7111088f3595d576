"""Pipeline fixtures: a real client over each metadata backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.client import Client
from keel.config import Config, resolve
from keel.store import init_project


@pytest.fixture
def client(store_config: Config, tmp_path: Path) -> Iterator[Client]:
    """A client over an initialised store, on SQLite and on PostgreSQL."""
    init_project(tmp_path, store_config).close()
    with Client(config=store_config) as opened:
        yield opened


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[Client]:
    """A client over a SQLite store only (for tests that are not about the records)."""
    config = resolve(
        uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=str(tmp_path / "objects"), fsync=False
    )
    init_project(tmp_path, config).close()
    with Client(config=config) as opened:
        yield opened
