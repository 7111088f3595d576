"""Tracking contract fixtures: every backend (SQLite, PostgreSQL) x transport (direct, HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from keel.config import Config
from keel.store import Store
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
