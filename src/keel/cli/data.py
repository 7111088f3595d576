"""``keel data``: list, show, get and diff dataset versions (add/pull/status, ingest plug in)."""

from __future__ import annotations

from pathlib import Path

import typer

from ._output import console, count, esc, print_json

__all__ = ["app"]

app = typer.Typer(help="Version, inspect, compare and fetch datasets.", no_args_is_help=True)

_BARS = " ▁▂▃▄▅▆▇█"


def _service():
    from keel.client import default_client

    return default_client().datasets


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


def _spark(counts: list[int]) -> str:
    top = max(counts) if counts else 0
    return "".join(_BARS[round(8 * c / top)] if top else " " for c in counts)


@app.command("ls")
def ls(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List datasets with their latest version."""
    from ._table import Table

    entries = _service().list()
    if json:
        print_json(entries)
        return
    table = Table(title=count(len(entries), "dataset"), title_justify="left")
    for column in ("name", "latest", "versions", "kind", "rows", "size", "tags"):
        table.add_column(
            column, justify="right" if column in ("versions", "rows", "size") else "left"
        )
    for e in entries:
        v = e["latest"]
        rows = f"{v['row_count']:,}" if v["row_count"] is not None else ""
        table.add_row(
            e["name"],
            v["ref"],
            str(e["versions"]),
            v["kind"],
            rows,
            _size(v["size"]),
            ", ".join(v["tags"]),
        )
    console.print(table)


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="name, name:vN, name@tag or a digest."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show a version: schema, profile (with histograms) or files."""
    from keel.client import default_client

    from ._table import Table

    client = default_client()
    service = client.datasets
    version = service.resolve(ref)
    profile = service.profile(version)
    manifest = service.manifest(version)
    # through the client: the store's reports, or a keel server's
    validations = [
        {k: r[k] for k in ("id", "passed", "summary", "created_at")}
        for r in client.reports(version.ref)
    ]
    if json:
        print_json(
            {
                **version.to_dict(),
                "profile": profile,
                "files": [e.__dict__ for e in manifest.entries],
                "validations": validations,
            }
        )
        return
    rows = f"{version.row_count:,} rows, " if version.row_count is not None else ""
    files = f"{count(len(manifest.entries), 'file')}, {_size(version.size)}"
    console.print(f"[bold]{esc(version.ref)}[/] {esc(version.kind)}: {rows}{files}")
    console.print(f"[dim]manifest {esc(version.manifest_digest)}[/]")
    if version.kind == "files":
        table = Table(title="files", title_justify="left")
        for column in ("path", "size", "digest"):
            table.add_column(column)
        for entry in manifest.entries[:200]:
            table.add_row(entry.path, _size(entry.size), entry.digest[:16])
        console.print(table)
        return
    columns = (profile or {}).get("columns", {})
    wide = console.width >= 110  # else the histograms get a table of their own
    table = Table(title="schema and profile", title_justify="left")
    for column in ("column", "type", "nulls", "min", "mean", "max", "distinct"):
        table.add_column(
            column,
            overflow="fold" if column == "type" else "ellipsis",
            no_wrap=column == "column",
            min_width=None if column in ("column", "type") else 6,
        )
    shapes = Table(title="histograms and top values", title_justify="left")
    shapes.add_column("column", no_wrap=True)
    shapes.add_column("histogram / top", no_wrap=True, overflow="crop")
    if wide:
        table.add_column("histogram / top", no_wrap=True, min_width=12, overflow="crop")
    for field in version.schema or []:
        p = columns.get(field["name"], {})
        hist = p.get("histogram") or {}
        if hist.get("counts"):
            shape = _spark(hist["counts"])
        else:
            shape = " ".join(f"{v}:{c}" for v, c in (p.get("top") or [])[:3])
        cells = [
            field["name"],
            _type_text(field["type"]),
            _fmt(p.get("null_count")),
            _fmt(p.get("min")),
            _fmt(p.get("mean")),
            _fmt(p.get("max")),
            _fmt(p.get("distinct_approx")),
        ]
        table.add_row(*cells, shape) if wide else table.add_row(*cells)
        shapes.add_row(field["name"], shape)
    console.print(table)
    if not wide:
        console.print(shapes)
    _print_validations(validations)


def _type_text(arrow_type: str) -> str:
    """Arrow's type text, short: ``category(string)`` for a dictionary of strings."""
    import re

    text = arrow_type.replace("large_", "")
    found = re.match(r"dictionary<values=([^,]+),", text)
    return f"category({found[1]})" if found else text


def _print_validations(validations: list[dict]) -> None:
    """The latest validation reports of a version, one line each."""
    import datetime as dt

    for report in validations[:5]:
        summary = report["summary"] or {}
        when = dt.datetime.fromtimestamp(report["created_at"] / 1000, dt.UTC)
        verdict = "[green]passed[/]" if report["passed"] else "[red]FAILED[/]"
        schema = esc(summary.get("schema") or "a schema")
        console.print(
            f"validated {when:%Y-%m-%d %H:%M} UTC against {schema}: "
            f"{verdict} ({summary.get('checks', '?')} checks, {summary.get('errors', 0)} errors, "
            f"{summary.get('warnings', 0)} warnings) report {report['id']}"
        )
    if len(validations) > 5:
        console.print(f"[dim]... and {len(validations) - 5} earlier validations (--json)[/]")


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if 1e4 <= abs(value) < 1e9:
            return f"{value:,.0f}"  # 43,950 reads better than 4.395e+04
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)[:20]


@app.command("get")
def get(
    ref: str = typer.Argument(..., help="name, name:vN, name@tag or a digest."),
    to: Path = typer.Option(..., "--to", help="Folder to write the files into."),
    json: bool = typer.Option(False, "--json", help="Print the files written as JSON."),
) -> None:
    """Materialise a version's files (Parquet parts for tables) into a folder."""
    service = _service()
    version = service.resolve(ref)
    paths = service.get(version, to)
    if json:
        print_json({"ref": version.ref, "to": str(to), "files": [str(p) for p in paths]})
        return
    console.print(f"wrote {count(len(paths), 'file')} to {esc(to)} ({esc(version.ref)})")


@app.command("tag")
def tag(
    ref: str = typer.Argument(..., help="The version to tag: name:vN, name@tag or a digest."),
    name: str = typer.Argument(..., help="The tag, e.g. golden (moved if it pointed elsewhere)."),
    json: bool = typer.Option(False, "--json", help="Print the tagged version as JSON."),
) -> None:
    """Point NAME@TAG at a version, so that 'credit@golden' names it from now on."""
    version = _service().tag(ref, name)
    if json:
        print_json(version.to_dict())
        return
    console.print(f"{esc(version.dataset)}@{esc(name)} -> {esc(version.ref)}")


@app.command("diff")
def diff(
    a: str = typer.Argument(..., help="The older version."),
    b: str = typer.Argument(..., help="The newer version."),
    key: str = typer.Option(None, "--key", help="Key column: count rows added, removed, changed."),
    json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """What changed between two versions: files; or schema, rows, statistics and keys."""
    from keel.data._diff import diff_versions

    from ._table import Table

    result = diff_versions(_service(), a, b, key=key)
    if json:
        print_json(result.to_dict())
        return
    console.print(
        f"[bold]{esc(result.a)} -> {esc(result.b)}[/]"
        + ("  [green]no differences[/]" if result.same else "")
    )
    for label, items, style in (
        ("added", result.files_added, "green"),
        ("removed", result.files_removed, "red"),
        ("changed", result.files_changed, "yellow"),
    ):
        for path in items:
            console.print(f"[{style}]{label:8}[/] {esc(path)}")
    if result.rows != (None, None):
        console.print(f"rows: {_fmt(result.rows[0])} -> {_fmt(result.rows[1])}")
    for column in result.columns_added:
        console.print(f"[green]+ column[/] {esc(column)}")
    for column in result.columns_removed:
        console.print(f"[red]- column[/] {esc(column)}")
    for column, (old, new) in result.types_changed.items():
        console.print(f"[yellow]~ type[/] {esc(column)}: {esc(old)} -> {esc(new)}")
    if result.stats:
        table = Table(title="statistics that moved", title_justify="left")
        for column in ("column", "statistic", result.a, result.b):
            table.add_column(column)
        for column, stats in result.stats.items():
            for stat, (old, new) in stats.items():
                table.add_row(column, stat, _fmt(old), _fmt(new))
        console.print(table)
    if result.keys:
        k = result.keys
        console.print(
            f"rows by {esc(k['key'])}: [green]{k['added']:,} added[/], "
            f"[red]{k['removed']:,} removed[/], [yellow]{k['changed']:,} changed[/]"
        )


def _plug_in() -> None:
    """Command modules built separately add themselves to this group when present."""
    import importlib

    for module in ("data_workspace", "data_ingest", "data_erase"):
        try:
            importlib.import_module(f"keel.cli.{module}").register(app)
        except ModuleNotFoundError:
            continue


_plug_in()
