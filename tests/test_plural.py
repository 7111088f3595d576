"""Nouns agree with their number in messages: "1 file", "2 files", never "file(s)"."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from keel._plural import count, plural

SRC = Path(__file__).resolve().parents[1] / "src" / "keel"


def test_a_noun_agrees_with_a_number_or_a_collection() -> None:
    assert [count(n, "file") for n in (0, 1, 2, 1024)] == [
        "0 files",
        "1 file",
        "2 files",
        "1,024 files",
    ]
    assert count(["x"], "entry", "entries") == "1 entry"
    assert count({"a", "b"}, "entry", "entries") == "2 entries"
    assert plural(["a"], "exists", "exist") == "exists"
    assert plural([], "project") == "projects"


def _strings(path: Path) -> list[tuple[int, str]]:
    """Every string literal of a module (f-strings' literal parts too), with its line."""
    tree = ast.parse(path.read_text())
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_message_says_a_plural_in_brackets() -> None:
    allowed = {"_plural.py"}
    found = [
        f"{path.relative_to(SRC)}:{line}: {text!r}"
        for path in sorted(SRC.rglob("*.py"))
        if str(path.relative_to(SRC)) not in allowed
        for line, text in _strings(path)
        if re.search(r"[a-z]\(s\)", text.replace("http(s)", ""))
    ]
    assert found == []
