"""Tracking contract fixtures: every backend (SQLite, PostgreSQL) x transport (direct, HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from keel.client import reset_default_client
from keel.config import Config
from keel.store import Store, init_project
from keel.tracking import SqlTracking, Tracker, TrackingBackend
from keel.tracking._http import HttpTracking
from tests.conftest import live_server

TRANSPORTS = ["direct", "http"]


@pytest.fixture(params=TRANSPORTS)
def backend(
    request: pytest.FixtureRequest, store: Store, store_config: Config
) -> Iterator[TrackingBackend]:
    """A tracking backend on each store, reached directly or through a live server."""
    if request.param == "direct":
        yield SqlTracking(store)
        return
    with live_server(store_config) as url:
        http = HttpTracking(url)
        yield http
        http.client.close()


@pytest.fixture
def tracker(backend: TrackingBackend) -> Iterator[Tracker]:
    tracker = Tracker(backend)
    yield tracker
    tracker.close()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A new project in ``tmp_path`` (the working folder), with the module-level SDK's
    default client reset before and after, so keel.start_run and friends use it."""
    init_project(tmp_path).close()
    reset_default_client()
    yield tmp_path
    reset_default_client()
