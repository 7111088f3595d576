"""Rich's output for a stream that is not a terminal, without importing rich.

Importing rich costs ``keel data status`` about 30 ms, a third of its budget, while what
it prints into a pipe or a file is plain text: no colour, no markup left, a table drawn
with box characters. This module writes that same text for the few shapes the quick
commands print (lines and one heavy-head table) and answers ``None`` whenever it cannot
be sure the text would be byte for byte what rich prints; the caller then prints through
rich as before. Doubt means: rich could style the stream (a terminal, ``FORCE_COLOR``,
``TTY_COMPATIBLE``), the stream is not UTF-8 (rich then draws ASCII boxes), a value holds
anything but printable ASCII (wide characters, tabs, control characters), or a line is
wider than the console (rich would wrap it).
"""

from __future__ import annotations

import builtins
import os

__all__ = ["plain_json", "plain_lines", "plain_width", "table_lines"]

# the environment variables with which rich may treat a non-tty stream as a terminal
_FORCING = ("FORCE_COLOR", "TTY_COMPATIBLE")


def plain_width(stream: object) -> int | None:
    """The width rich's ``Console`` gives ``stream`` when it would print it unstyled;
    ``None`` when rich might style it (or draw ASCII boxes), so that only rich can tell."""
    if any(name in os.environ for name in _FORCING):
        return None
    if hasattr(builtins, "get_ipython"):  # IPython or a notebook: rich decides
        return None
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower()
    if not encoding.startswith("utf"):
        return None
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is None or isatty():
            return None
    except ValueError:  # closed
        return None
    return _console_width()


def _console_width() -> int:
    """Rich's ``Console.size`` width: the first of stdin, stdout, stderr that is a
    terminal, ``COLUMNS`` over that, else 80."""
    width = 0
    for fd in (0, 1, 2):
        try:
            width = os.get_terminal_size(fd).columns
        except (AttributeError, ValueError, OSError):
            continue
        break
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()


def plain_lines(lines: list[str], width: int) -> list[str] | None:
    """``lines`` as rich prints them unstyled at ``width``: as they are, when each is
    printable ASCII, has no edge spaces rich would treat differently and fits; else None."""
    for line in lines:
        if not _printable(line) or len(line) > width or line != line.rstrip():
            return None
    return lines


def table_lines(
    headers: list[str], right: set[int], rows: list[list[str]], width: int
) -> list[str] | None:
    """A rich ``Table`` (heavy head, padding 1, no title) of ``rows`` under ``headers``,
    columns whose index is in ``right`` justified right; None when rich would have to
    shrink or wrap it to ``width`` or a cell is not printable ASCII."""
    cells = [headers, *rows]
    if any(not _printable(cell) or cell != cell.strip() for row in cells for cell in row):
        return None
    sizes = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if sum(sizes) + 3 * len(sizes) + 1 > width:
        return None

    def line(row: list[str], bar: str) -> str:
        parts = [
            cell.rjust(size) if i in right else cell.ljust(size)
            for i, (cell, size) in enumerate(zip(row, sizes, strict=True))
        ]
        return f"{bar} " + f" {bar} ".join(parts) + f" {bar}"

    def rule(left: str, fill: str, cross: str, end: str) -> str:
        return left + cross.join(fill * (size + 2) for size in sizes) + end

    return [
        rule("┏", "━", "┳", "┓"),
        line(headers, "┃"),
        rule("┡", "━", "╇", "┩"),
        *(line(row, "│") for row in rows),
        rule("└", "─", "┴", "┘"),
    ]


def plain_json(data: object) -> str | None:
    """``orjson.dumps(data, option=OPT_INDENT_2)`` as text, for data made of dicts with
    string keys, lists, printable ASCII strings, ints, booleans and None; None for
    anything else (orjson, which imports ``uuid``, ``dataclasses`` and ``json``, then
    writes it)."""
    out: list[str] = []
    return "".join(out) if _json(data, "", out) else None


def _json(value: object, indent: str, out: list[str]) -> bool:
    if value is None or isinstance(value, bool):
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**64:  # orjson refuses it: let it say so
            return False
        out.append(str(int(value)))
    elif isinstance(value, str):
        if not _printable(value) and value:
            return False
        out.append('"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"')
    elif isinstance(value, list | dict):
        items = list(value.items()) if isinstance(value, dict) else value
        close = "}" if isinstance(value, dict) else "]"
        if not items:
            out.append("{}" if close == "}" else "[]")
            return True
        inner = indent + "  "
        out.append("{" if close == "}" else "[")
        for i, item in enumerate(items):
            out.append(("," if i else "") + "\n" + inner)
            if close == "}":
                key, item = item
                if not isinstance(key, str) or not _json(key, inner, out):
                    return False
                out.append(": ")
            if not _json(item, inner, out):
                return False
        out.append("\n" + indent + close)
    else:
        return False
    return True
