"""What ``keel data add``, ``pull`` and ``status`` do and print, without typer.

``keel data status`` and ``keel data add`` should answer in a blink, so the entry point
(:mod:`keel.cli._main`) runs them from here without building the typer app, and with
``--json``, or into a pipe or file (:mod:`._plain`), without importing rich; the typer
commands in :mod:`.data_workspace` call the same functions, so both ways behave alike by
construction. ``add`` and ``status`` first ask :mod:`keel.data._quick_clean`, which
answers a clean workspace with the standard library's core alone, and open the
:class:`~keel.data._workspace.Workspace` only when it declines.
"""

from __future__ import annotations

import os
import sys
import time

TYPE_CHECKING = False  # typing, collections.abc and pathlib cost the quick commands
if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

__all__ = ["add", "pull", "status"]

_SHOW_FILES = 10
"""Changed files listed per path by ``status`` (``--json`` lists them all)."""


def add(path: str | os.PathLike[str], *, name: str | None, json: bool) -> None:
    """Version ``path`` (``keel data add``) and print what was done."""
    from keel.data import _quick_clean

    scanned: list[Any] = []  # the quick way's scan of the path, if it made one
    result: Any = _quick_clean.add(os.fspath(path), name, scanned)
    if result is None:  # not known unchanged: the full way
        from pathlib import Path

        from keel.data._workspace import Workspace

        _configure_logging()
        workspace = Workspace.find()
        try:
            with _Bar("storing", "bytes", enabled=not json) as bar:
                # no bar, no callback: store_files then flushes all files in one batch
                result = workspace.add(
                    Path(path),
                    name=name,
                    on_progress=bar if bar.enabled else None,
                    scanned=scanned[0] if scanned else None,
                )
        finally:
            workspace.close()
    if json:
        _print_json(result.to_dict())
        return
    what = f"{result.files:,} files" if result.files != 1 else "1 file"
    tracked = " ".join(p for p in (result.pointer, result.gitignore) if p)
    if _print_plain(
        [
            f"added {result.path} as {result.ref} ({what}, {_size(result.size)}): "
            f"{result.hashed:,} read, {result.unchanged:,} unchanged"
            if result.new_version
            else f"{result.path} is unchanged: {result.ref} ({what})",
            f"to record it with the code: git add {tracked}",
        ]
    ):
        return
    from ._output import console, esc

    if result.new_version:
        console.print(
            f"[green]added[/] {esc(result.path)} as [bold]{esc(result.ref)}[/] ({what}, "
            f"{_size(result.size)}): {result.hashed:,} read, {result.unchanged:,} unchanged"
        )
    else:
        console.print(f"{esc(result.path)} is unchanged: [bold]{esc(result.ref)}[/] ({what})")
    console.print(f"[dim]to record it with the code: git add {esc(tracked)}[/]")


def pull(paths: Sequence[Path], *, force: bool, json: bool) -> None:
    """Restore every pointed-to path (``keel data pull``) and print what was done."""
    from keel.data._workspace import Workspace

    workspace = Workspace.find()
    try:
        with _Bar("restoring", "files", enabled=not json) as bar:
            results = workspace.pull(paths, force=force, on_progress=bar)
    finally:
        workspace.close()
    if json:
        _print_json([r.to_dict() for r in results])
        return
    from ._output import console

    if not results:
        console.print(_NO_POINTERS)
        return
    from rich.text import Text

    from ._table import Table

    table = Table(title_justify="left")
    for column in ("path", "version", "restored", "unchanged", "kept", "size restored"):
        table.add_column(column, justify="left" if column in ("path", "version") else "right")
    for r in results:
        kept = Text(f"{len(r.kept):,}", style="yellow") if r.kept else "0"
        table.add_row(
            r.path, r.ref, f"{r.restored:,}", f"{r.unchanged:,}", kept, _size(r.bytes_restored)
        )
    console.print(table)
    kept = sum(len(r.kept) for r in results)
    if kept:
        console.print(
            f"[yellow]{kept:,} files differ from their version and were kept[/]; "
            "'keel data status' lists them, 'keel data pull --force' overwrites them."
        )


def status(paths: Sequence[str | os.PathLike[str]], *, json: bool, exit_code: bool) -> int:
    """Print how each pointed-to path differs from its version (``keel data status``);
    the exit code: 1 when ``exit_code`` and anything changed, else 0."""
    from keel.data import _quick_clean

    results: Any = _quick_clean.status([os.fspath(p) for p in paths])
    if results is None:  # not known clean: the full way
        from pathlib import Path

        from keel.data._workspace import Workspace

        _configure_logging()
        workspace = Workspace.find()
        try:
            with _Bar("checking", "files", enabled=not json) as bar:
                results = workspace.status([Path(p) for p in paths], on_progress=bar)
        finally:
            workspace.close()
    changed = any(r.state != "clean" for r in results)
    if json:
        _print_json([r.to_dict() for r in results])
    elif not results:
        if not _print_plain([_NO_POINTERS]):
            from ._output import console

            console.print(_NO_POINTERS)
    else:
        _print_status(results)
    return 1 if exit_code and changed else 0


def _configure_logging() -> None:
    """keel's CLI logging, unless the typer app set it up already: the quick answers of
    :mod:`keel.data._quick_clean` log nothing, so ``logging`` is imported only here."""
    from keel._logging import configured

    from ._main import configure_cli_logging

    if not configured():
        configure_cli_logging(debug=False)


def _print_json(data: Any) -> None:
    """``print_json`` of :mod:`._output`, without importing rich (which that module does),
    nor orjson where :func:`._plain.plain_json` writes the same text."""
    from ._plain import plain_json

    text = plain_json(data)
    if text is None:
        import orjson

        text = orjson.dumps(data, default=str, option=orjson.OPT_INDENT_2).decode()
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _print_plain(lines: list[str], table: list[str] | None = None) -> bool:
    """Write ``table`` (already drawn) and ``lines`` to stdout as rich would print them,
    without importing rich; False (nothing written) when only rich can tell how."""
    from ._plain import plain_lines, plain_width

    width = plain_width(sys.stdout)
    if width is None or plain_lines(lines, width) is None:
        return False
    sys.stdout.write("".join(f"{line}\n" for line in [*(table or ()), *lines]))
    return True


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def _may_be_terminal(stream: object) -> bool:
    """Whether rich might take ``stream`` for a terminal (False: it surely would not)."""
    from ._plain import plain_width

    return plain_width(stream) is None


class _Bar:
    """A progress callback that shows a bar on a terminal once a step takes a while."""

    def __init__(self, label: str, unit: str, *, enabled: bool) -> None:
        self.label = label
        self.unit = unit
        self.console: Any = None
        if enabled and _may_be_terminal(sys.stderr):  # rich only when a bar may be shown
            from ._output import err_console

            self.console = err_console
        self.enabled = self.console is not None and self.console.is_terminal
        self.started: float | None = None
        self.progress = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if self.progress is None:
            if now - self.started < 0.3 or done >= total:
                return
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            count = DownloadColumn() if self.unit == "bytes" else MofNCompleteColumn()
            self.progress = Progress(
                TextColumn(self.label),
                BarColumn(),
                count,
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total)
        self.progress.update(self.task, completed=done, total=total)

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


def _print_status(results: list) -> None:
    """The status table and the first changed files of each path."""
    headers = ["path", "version", "state", "added", "modified", "removed"]
    rows = [
        [r.path, r.ref, r.state, f"{len(r.added):,}", f"{len(r.modified):,}", f"{len(r.removed):,}"]
        for r in results
    ]
    notes = _status_notes(results)
    from ._plain import plain_width, table_lines

    width = plain_width(sys.stdout)
    drawn = None if width is None else table_lines(headers, {3, 4, 5}, rows, width)
    if drawn is not None and _print_plain([f"{a}{b}{c}" for a, _, b, c in notes], drawn):
        return
    from rich.text import Text

    from ._output import console, esc
    from ._table import Table

    table = Table(title_justify="left")
    for i, column in enumerate(headers):
        table.add_column(column, justify="right" if i >= 3 else "left")
    styles = {"clean": "green", "modified": "yellow", "missing": "red"}
    for row in rows:
        table.add_row(row[0], row[1], Text(row[2], style=styles[row[2]]), *row[3:])
    console.print(table)
    for indent, style, head, tail in notes:
        console.print(f"{indent}[{style}]{esc(head)}[/]{esc(tail)}")


def _status_notes(results: list) -> list[tuple[str, str, str, str]]:
    """The lines under the status table, each as (indent, style, styled head, plain tail)."""
    notes = []
    for r in results:
        changes = [
            *(("modified", p) for p in r.modified),
            *(("added", p) for p in r.added),
            *(("removed", p) for p in r.removed),
        ]
        for what, p in changes[:_SHOW_FILES]:
            where = f"{r.path}/{p}" if r.kind == "folder" else r.path
            notes.append(("  ", "yellow" if what == "modified" else "dim", f"{what}:", f" {where}"))
        if len(changes) > _SHOW_FILES:
            more = f"... and {len(changes) - _SHOW_FILES:,} more (--json lists all)"
            notes.append(("  ", "dim", more, ""))
    if any(r.state == "missing" for r in results):
        notes.append(("", "dim", "missing paths come back with 'keel data pull'", ""))
    elif all(r.state == "clean" for r in results):
        notes.append(("", "green", "clean", ": every path matches its version"))
    return notes


_NO_POINTERS = (
    "No data pointers (*.keel) in this project. Version a file or folder with 'keel data add PATH'."
)
