"""Every example in docs/*.md and README.md runs as written.

A ```python block runs with this interpreter; a ```sh, ```bash, ```shell or ```console
block runs with bash under ``set -euo pipefail``. Each block runs on its own, in a fresh
temporary folder (and a fresh HOME), with the venv's ``bin`` first on PATH, no KEEL_* setting
inherited from the caller, so that every command finds the store the block makes there (with
``keel init`` or ``keel quickstart --dir``) as a user's would, and git's author set (as a
user has it). KEEL_URI is not set for the block: it would override that discovery, which
README.md's "inside demo/" commands rely on. A block that cannot run here as written
(it starts a server that serves until stopped, installs packages, needs a machine
elsewhere) has ``<!-- not run: reason -->`` on the line right above it; it is reported as
skipped with that reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
LANGUAGES = {"python": "python"} | dict.fromkeys(("sh", "bash", "shell", "console"), "shell")
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->", re.DOTALL)
TIMEOUT_S = 600


@dataclass(frozen=True)
class Example:
    """One fenced block of a page: its language family, its code and why it is not run."""

    page: str
    kind: str
    index: int
    code: str
    line: int
    not_run: str | None


def examples(page: str, text: str) -> list[Example]:
    """The runnable blocks of a page, numbered per language family (``data.md#sh2``)."""
    found: list[Example] = []
    counts: dict[str, int] = {}
    for match in FENCE.finditer(text):
        kind = LANGUAGES.get(match.group(1))
        if kind is None:
            continue
        index = counts.get(kind, 0)
        counts[kind] = index + 1
        reason = _not_run(text[: match.start()])
        line = text.count("\n", 0, match.start()) + 1
        found.append(Example(page, kind, index, match.group(2), line, reason))
    return found


def _not_run(before: str) -> str | None:
    """The reason of a ``<!-- not run: reason -->`` comment that ends right above a fence."""
    before = before.rstrip()
    if not before.endswith("-->"):
        return None
    comment = NOT_RUN.fullmatch(before[before.rfind("<!--") :])
    return comment.group(1) if comment else None


def _id(example: Example) -> str:
    return f"{example.page}#{'py' if example.kind == 'python' else 'sh'}{example.index}"


EXAMPLES = [
    pytest.param(e, id=_id(e)) for path in PAGES for e in examples(path.name, path.read_text())
]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEL_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)  # nothing read from or left in the caller's home
    env["COLUMNS"] = "200"
    for role in ("AUTHOR", "COMMITTER"):  # git as a user has it set up, for `git commit`
        env[f"GIT_{role}_NAME"], env[f"GIT_{role}_EMAIL"] = "Docs", "docs@example.com"
    return env


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_runs(example: Example, tmp_path: Path) -> None:
    if example.not_run:
        pytest.skip(f"not run ({example.page}:{example.line}): {example.not_run}")
    if example.kind == "python":
        command = [sys.executable, "-c", example.code]
    else:
        command = ["bash", "-c", "set -euo pipefail\n" + example.code]
    folder, home = tmp_path / "example", tmp_path / "home"
    folder.mkdir()
    home.mkdir()
    result = subprocess.run(
        command,
        cwd=folder,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    where = f"{example.page}:{example.line}"
    assert result.returncode == 0, (
        f"{where} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )


def test_the_examples_are_found() -> None:
    """The extraction sees blocks of both kinds and the not-run comments (so that a change
    to the fence syntax cannot silently turn the test above into no test)."""
    page = (
        "<!-- not run: not this one -->\ntext\n```python\nprint(1)\n```\n\n"
        "<!-- not run: starts a server -->\n"
        "```sh\nkeel server\n```\n```console\nkeel info\n```\n```yaml\na: 1\n```\n"
    )
    found = examples("probe.md", page)
    assert [(e.kind, e.code, e.not_run) for e in found] == [
        ("python", "print(1)\n", None),
        ("shell", "keel server\n", "starts a server"),
        ("shell", "keel info\n", None),
    ]
    kinds = {e.values[0].kind for e in EXAMPLES}
    assert kinds == {"python", "shell"}
    assert any(e.values[0].page == "README.md" for e in EXAMPLES)
