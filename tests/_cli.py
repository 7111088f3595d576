"""Running the real ``keel`` command in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KEEL = [sys.executable, "-m", "keel"]


def run_keel(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``keel *args`` in ``cwd`` without the caller's KEEL_* settings (``env`` adds
    some back), on a 200-column terminal, and return the finished process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    full_env.update(env or {})
    full_env["COLUMNS"] = "200"
    return subprocess.run(
        [*KEEL, *args],
        cwd=cwd,
        env=full_env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def run_python(code: str, *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter in ``cwd`` (as a user's script would, without
    the caller's KEEL_* settings); raise if it fails."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
