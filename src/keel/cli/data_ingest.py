"""``keel data ingest``: read a file, a SQL query or a JSON API into a dataset version."""

from __future__ import annotations

import typer

from ._output import console, esc, print_json

__all__ = ["register"]


def ingest(
    source: str = typer.Argument(
        ..., help="A file, glob or fsspec URL; a SQLAlchemy URL (with --query); an http(s) URL."
    ),
    name: str = typer.Option(..., "--name", "-n", help="The dataset to version."),
    query: str = typer.Option(None, "--query", "-q", help="SQL selecting the rows."),
    format: str = typer.Option(None, "--format", help="csv, parquet or jsonl (else by suffix)."),
    watermark: str = typer.Option(
        None, "--watermark", "-w", help="Column that grows: fetch only rows past the last mark."
    ),
    records_path: str = typer.Option(
        None, "--records-path", help="Dotted path to the records in JSON pages (data.items)."
    ),
    next_path: str = typer.Option(
        None, "--next-path", help="Dotted path to the next page's URL (links.next)."
    ),
    param: list[str] = typer.Option(
        None, "--param", "-p", help="KEY=VALUE: SQL bind parameter or HTTP query parameter."
    ),
    header: list[str] = typer.Option(None, "--header", "-H", help="'Name: value' HTTP header."),
    max_pages: int = typer.Option(1000, "--max-pages", help="The most HTTP pages to read."),
    description: str = typer.Option(None, "--description", "-d", help="What this version is."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Read data where it lives and register it as the next version of a dataset."""
    from keel._data_sdk import ingest as run_ingest

    result = run_ingest(
        source,
        name,
        query=query,
        format=format,
        watermark=watermark,
        records_path=records_path,
        next_path=next_path,
        params=_pairs(param, "=", "--param", "KEY=VALUE"),
        headers=_pairs(header, ":", "--header", "'Name: value'"),
        max_pages=max_pages,
        description=description,
    )
    if json:
        print_json(result.to_dict())
        return
    src, version = result.source, result.version
    mark = src.get("watermark") or {}
    since = esc(f"  watermark {mark['column']} = {mark['value']}") if mark else ""
    console.print(
        f"read [bold]{src['rows']:,}[/] rows from {esc(src['uri'])} ({esc(src['type'])})",
        highlight=False,
    )
    total = f"{version.row_count:,} rows" if version.row_count is not None else version.kind
    if result.new_rows:
        console.print(
            f"[green]{esc(version.ref)}[/]: {result.new_rows:,} new rows, {total}{since}",
            highlight=False,
        )
    else:
        console.print(f"[dim]nothing new: {esc(version.ref)} is unchanged ({total}){since}[/]")


def _pairs(items: list[str] | None, sep: str, option: str, form: str) -> dict[str, str] | None:
    from keel.errors import InvalidInput

    if not items:
        return None
    out = {}
    for item in items:
        key, found, value = item.partition(sep)
        if not found or not key.strip():
            raise InvalidInput(f"{option} takes {form}. Got {item!r}.")
        out[key.strip()] = value.strip()
    return out


def register(app: typer.Typer) -> None:
    """Add ``ingest`` to the ``keel data`` group."""
    app.command("ingest")(ingest)
