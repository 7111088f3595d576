"""``keel lake query``: SQL over every dataset version and platform table."""

from __future__ import annotations

import typer

from ._output import console, count, err_console, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Query datasets and platform tables with SQL (DuckDB).", no_args_is_help=True
)


@app.command("query")
def query(
    sql: str = typer.Argument(..., help='e.g. "SELECT region, count(*) FROM credit GROUP BY 1"'),
    limit: int = typer.Option(50, "--limit", "-n", help="Most rows to print."),
    json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
    unsafe: bool = typer.Option(
        False,
        "--unsafe",
        help="Run any SQL, not just one read-only SELECT over the lake: it may write and read "
        "files, ATTACH databases and load extensions. Only for SQL you wrote yourself.",
    ),
) -> None:
    """Run one read-only SQL query; datasets are views by name (latest) or "name:vN".

    Limits: KEEL_MAX_LAKE_ROWS rows, KEEL_LAKE_QUERY_TIMEOUT_MS milliseconds.
    """
    import warnings

    from keel.lake import query as run_query

    from ._table import Table

    with warnings.catch_warnings():
        # the note below says it instead, on stderr, so --json output stays one document
        warnings.filterwarnings("ignore", "The lake query", UserWarning)
        frame = run_query(sql, unsafe=unsafe)
    if frame.attrs.get("truncated"):
        err_console.print(
            f"[yellow]note:[/] the result was truncated to its first "
            f"{frame.attrs['max_rows']:,} rows (setting max_lake_rows, KEEL_MAX_LAKE_ROWS).",
            highlight=False,
        )
    if json:
        print_json(frame.to_dict(orient="records"))
        return
    table = Table(title=count(len(frame), "row"), title_justify="left")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)


@app.command("tables")
def tables(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the names a query can use."""
    from keel.client import default_client
    from keel.lake import view_names

    names = view_names(default_client().datasets)
    if json:
        print_json(names)
    else:
        for name in names:
            console.print(name, markup=False, highlight=False)
