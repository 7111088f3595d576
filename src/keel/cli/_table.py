"""The table every command prints: values in it are text, never markup.

Imported inside commands (rich's table costs start-up time that ``keel data status``
should not pay before it needs one).
"""

from __future__ import annotations

from typing import Any

from rich import table as _table
from rich.markup import escape
from rich.text import Text

__all__ = ["Table"]


def _text(value: Any) -> Any:
    return Text(value) if isinstance(value, str) else value


def _title(value: Any) -> Any:
    # escaped rather than made a Text: rich applies title_style only to a str title
    return escape(value) if isinstance(value, str) else value


class Table(_table.Table):
    """A rich table whose ``str`` cells, column headers, title and caption are plain text.

    A stored value such as ``[fast]`` prints as ``[fast]``, not as a style. keel's own
    styling goes through ``style=`` arguments or a ``rich.text.Text`` cell, used as given.
    """

    def __init__(self, *headers: Any, title: Any = None, caption: Any = None, **kw: Any) -> None:
        super().__init__(
            *(_text(h) for h in headers), title=_title(title), caption=_title(caption), **kw
        )

    def add_column(self, header: Any = "", footer: Any = "", **kw: Any) -> None:
        super().add_column(_text(header), _text(footer), **kw)

    def add_row(self, *renderables: Any, **kw: Any) -> None:
        super().add_row(*(_text(r) for r in renderables), **kw)
