"""Hot reload and reconfigure: versions change under traffic and no request fails."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from keel.client import Client
from keel.deploy import DeploymentSpec
from keel.errors import NotFound
from keel.serving import create_app

from .conftest import serving

ROW = {"income": 61.5, "debt": 0.82}


class _Traffic:
    """A thread sending requests until stopped, keeping every status and version."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[int, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            while not self._stop.is_set():
                answer = http.post("/predict", json=[ROW])
                self.seen.append((answer.status_code, answer.headers.get("keel-model-version")))

    def __enter__(self) -> _Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait_for(self, version: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not any(v == version for _, v in self.seen[-5:]):
            assert time.monotonic() < deadline, f"{version} never answered: {self.seen[-5:]}"
            time.sleep(0.02)
        n = len(self.seen)
        while len(self.seen) < n + 5:  # a few more after the switch
            time.sleep(0.01)


def test_a_moved_alias_is_served_without_dropping_a_request(project: Client) -> None:
    app = create_app("credit@champion", project, poll_seconds=0.1)
    with serving(app) as url, _Traffic(url) as traffic:
        traffic.wait_for("credit:1")
        project.models.set_alias("credit:3", "champion")
        traffic.wait_for("credit:3")
    statuses = {status for status, _ in traffic.seen}
    versions = [v for _, v in traffic.seen]
    assert statuses == {200}
    switch = versions.index("credit:3")
    assert set(versions[:switch]) == {"credit:1"}
    assert set(versions[switch:]) == {"credit:3"}  # never back once switched


def test_reconfigure_swaps_a_whole_spec_under_traffic(project: Client) -> None:
    app = create_app("credit@champion", project)
    challenger = DeploymentSpec.from_dict(
        {"name": "credit", "model": "credit", "routes": ["@challenger"], "shadow": ["3"]}
    )
    with serving(app) as url, _Traffic(url) as traffic:
        traffic.wait_for("credit:1")
        assert app.loop is not None
        done = asyncio.run_coroutine_threadsafe(app.server.reconfigure(challenger), app.loop)
        models = done.result(timeout=30)
        assert models.versions == {"credit@challenger": "credit:2", "credit:3": "credit:3"}
        traffic.wait_for("credit:2")
        back = asyncio.run_coroutine_threadsafe(
            app.server.reconfigure(DeploymentSpec.for_model("credit@champion")), app.loop
        )
        back.result(timeout=30)
        traffic.wait_for("credit:1")
        meta = httpx.get(f"{url}/v2/models/credit").json()
    assert {status for status, _ in traffic.seen} == {200}
    assert meta["versions"] == ["credit:1"]


def test_a_spec_that_does_not_resolve_leaves_the_old_one_serving(project: Client) -> None:
    app = create_app("credit@champion", project)
    broken = DeploymentSpec.for_model("credit@nosuch")
    with serving(app) as url:
        assert app.loop is not None
        failed = asyncio.run_coroutine_threadsafe(app.server.reconfigure(broken), app.loop)
        with pytest.raises(NotFound, match="has no alias 'nosuch'"):
            failed.result(timeout=30)
        answer = httpx.post(f"{url}/predict", json=[ROW])
        assert answer.json()["model_version"] == "credit:1"
