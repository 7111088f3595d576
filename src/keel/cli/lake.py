"""``keel lake query``: SQL over every dataset version and platform table."""

from __future__ import annotations

import typer

from ._output import console, print_json

__all__ = ["app"]

app = typer.Typer(
    help="Query datasets and platform tables with SQL (DuckDB).", no_args_is_help=True
)


@app.command("query")
def query(
    sql: str = typer.Argument(..., help='e.g. "SELECT region, count(*) FROM credit GROUP BY 1"'),
    limit: int = typer.Option(50, "--limit", "-n", help="Most rows to print."),
    json: bool = typer.Option(False, "--json", help="Print rows as JSON."),
) -> None:
    """Run SQL; datasets are views by name (latest) or "name:vN"."""
    from keel.lake import query as run_query

    from ._table import Table

    frame = run_query(sql)
    if json:
        print_json(frame.to_dict(orient="records"))
        return
    table = Table(title=f"{len(frame):,} rows", title_justify="left")
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)


@app.command("tables")
def tables(json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """List the names a query can use."""
    from keel.data import dataset_service
    from keel.lake import view_names

    names = view_names(dataset_service())
    if json:
        print_json(names)
    else:
        for name in names:
            console.print(name, markup=False, highlight=False)
