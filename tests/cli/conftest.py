"""Run the real ``keel`` command in a subprocess."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._cli import run_keel


@pytest.fixture
def keel(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``keel(*args, cwd=..., env=...)`` runs the CLI and returns the finished process."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
        return run_keel(*args, cwd=cwd or tmp_path, env=env)

    return run
