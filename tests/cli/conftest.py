"""Run the real ``keel`` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

KEEL = [sys.executable, "-m", "keel"]


@pytest.fixture
def keel(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``keel(*args, cwd=..., env=...)`` runs the CLI and returns the finished process."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
        full_env.update(env or {})
        full_env["COLUMNS"] = "200"
        return subprocess.run(
            [*KEEL, *args],
            cwd=cwd or tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run
