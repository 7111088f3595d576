"""How commands talk to people (rich) and to scripts (--json).

keel prints stored values exactly as they were stored. Rich reads ``[...]`` in a string as
markup and ``:name:`` as an emoji code, so a param ``[fast]`` would vanish and ``a:x:b``
would print as ``a❌b``. Two rules keep that from happening, by construction:

- The consoles never replace emoji codes (``emoji=False``).
- Markup is keel's own: a value enters a markup string only through :func:`esc`, and
  tables come from ``_table.Table``, which takes every plain ``str`` (cell, header, title)
  as text, never as markup.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from keel._plural import count as _count

__all__ = [
    "console",
    "count",
    "err_console",
    "esc",
    "print_json",
]

console = Console(emoji=False)
err_console = Console(stderr=True, emoji=False)


def esc(value: Any) -> str:
    """``value`` as markup that prints it as is: for stored or user text inside a markup
    string, e.g. ``console.print(f"[bold]{esc(run.name)}[/]")``."""
    return escape(str(value))


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``1,024 rows``: a number and its noun, agreeing."""
    return _count(n, noun, plural)


def print_json(data: Any) -> None:
    """Write ``data`` as one JSON document on stdout, for scripts."""
    import orjson

    sys.stdout.write(orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()
