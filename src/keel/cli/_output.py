"""How commands talk to people (rich) and to scripts (--json)."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console

__all__ = ["console", "err_console", "print_json"]

console = Console()
err_console = Console(stderr=True)


def print_json(data: Any) -> None:
    """Write ``data`` as one JSON document on stdout, for scripts."""
    import orjson

    sys.stdout.write(orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()
