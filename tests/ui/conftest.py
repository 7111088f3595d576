"""Fixtures of the browser tests: a live keel server over the module's ``project``, one
Chromium per module, and one page that records its problems (see ``_browser``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from keel.config import Config
from tests.conftest import live_server

from ._browser import CHROMIUM, Watch


@pytest.fixture(scope="module")
def server(project: tuple[Config, dict[str, Any]]) -> Iterator[str]:
    with live_server(project[0]) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    opened.watch = Watch(opened)
    yield opened
    context.close()
