"""keel's pytest plugin (registered through the ``pytest11`` entry point): the
``assert_valid`` fixture."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import _resolve
from . import assert_valid as _assert_valid

__all__ = ["assert_valid"]


@pytest.fixture
def assert_valid(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """``assert_valid(data, schema, warnings_fail=False)``: fail the test when ``data``
    breaks ``schema``; a relative schema path is looked up beside the test file first."""
    folder = Path(str(request.node.fspath)).parent

    def check(data: Any, schema: Any, *, warnings_fail: bool = False) -> Any:
        __tracebackhide__ = True
        return _assert_valid(data, _resolve(schema, folder), warnings_fail=warnings_fail)

    return check
