"""What a lake query may do: one read-only statement over the lake's own files.

Two locks, so that neither alone has to be perfect. DuckDB's parser classifies the SQL
before anything runs (one statement, of type SELECT). The connection is then shut to
the outside: after the views exist, external access is switched off except for the exact
Parquet files behind them, extensions can no longer be installed or loaded, and the
configuration is locked so the query cannot switch any of it back.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from keel.errors import InvalidInput

if TYPE_CHECKING:
    import duckdb

__all__ = ["check_read_only", "lock_down", "read_only_tables", "refusal", "shorten"]

# Why each kind of statement is refused; the rest are named by their type.
_WHY = {
    "COPY": "it copies data to or from a file (COPY)",
    "EXPORT": "it writes files (EXPORT DATABASE)",
    "COPY_DATABASE": "it copies a database (COPY FROM DATABASE)",
    "ATTACH": "it attaches a database (ATTACH)",
    "DETACH": "it detaches a database (DETACH)",
    "LOAD": "it installs or loads an extension (INSTALL/LOAD)",
    "EXTENSION": "it manages extensions",
    "SET": "it changes a setting (SET/RESET/USE)",
    "VARIABLE_SET": "it changes a setting (SET)",
    "PRAGMA": "it runs a PRAGMA, which can change settings or import files",
    "CALL": "it calls a procedure (CALL)",
}
_WRITES = {"INSERT", "UPDATE", "DELETE", "CREATE", "CREATE_FUNC", "ALTER", "DROP", "MERGE_INTO"}


def shorten(sql: str, limit: int = 120) -> str:
    """The query as quoted in a message: one line, at most ``limit`` characters."""
    text = " ".join(sql.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def refusal(sql: str, why: str) -> InvalidInput:
    """The error for a query the lake will not run: what it does, the rule, the way out."""
    return InvalidInput(
        f"The lake query {shorten(sql)} was refused: {why}. Lake queries are read-only: "
        "one SELECT (WITH, FROM, VALUES, DESCRIBE and SUMMARIZE are SELECTs too) over the "
        "lake's views, which 'keel lake tables' lists. To run other SQL on your own machine, "
        "pass --unsafe to 'keel lake query' (unsafe=True in Python)."
    )


def check_read_only(sql: str) -> None:
    """Raise :class:`InvalidInput` unless ``sql`` is exactly one SELECT statement."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise InvalidInput(f"Cannot parse the lake query {shorten(sql)}: {exc}") from exc
    except ValueError as exc:  # a statement type the Python binding does not know
        raise refusal(sql, f"it is a kind of statement the lake does not run ({exc})") from exc
    if len(statements) != 1:
        got = f"{len(statements)} statements" if statements else "no statement"
        raise refusal(sql, f"it has {got}; give exactly one")
    kind = statements[0].type.name
    if kind == "SELECT":
        return
    if kind in _WRITES:
        raise refusal(sql, f"it writes ({kind.replace('_', ' ')} statement)")
    raise refusal(sql, _WHY.get(kind, f"it is a {kind} statement, not a SELECT"))


def read_only_tables(sql: str) -> set[str]:
    """The table names one read-only query mentions, found without running or binding it.

    DuckDB's own ``get_table_names`` binds the query on an open connection, and binding
    ``read_parquet('https://...')`` installs an extension from the internet; the parse
    tree (``json_serialize_sql``, on a shut connection) names the tables and touches nothing.

    Raises:
        InvalidInput: ``sql`` is not one SELECT statement, or does not parse.
    """
    import json

    import duckdb

    check_read_only(sql)
    con = duckdb.connect()
    try:
        lock_down(con, ())
        tree = json.loads(con.execute("SELECT json_serialize_sql($1)", [sql]).fetchone()[0])
    finally:
        con.close()
    if tree.get("error"):
        raise InvalidInput(
            f"Cannot parse the lake query {shorten(sql)}: {tree.get('error_message')}."
        )
    names: set[str] = set()
    _collect_tables(tree, names)
    return names


def _collect_tables(node: object, names: set[str]) -> None:
    if isinstance(node, dict):
        if node.get("type") == "BASE_TABLE" and node.get("schema_name") in ("", "main"):
            names.add(node["table_name"])
        for value in node.values():
            _collect_tables(value, names)
    elif isinstance(node, list):
        for value in node:
            _collect_tables(value, names)


def lock_down(con: duckdb.DuckDBPyConnection, files: Iterable[Path | str]) -> None:
    """Shut ``con`` to everything but ``files``, for good (the lake's views read them).

    DuckDB checks file access when a query runs, not when a view is defined, so the
    Parquet files behind the views stay readable through ``allowed_paths``; any other
    path, URL, database or extension is refused, and no setting can be changed again.
    """
    listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    con.execute(f"SET allowed_paths = [{listed}]")
    for statement in (
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET allow_community_extensions = false",
        "SET python_enable_replacements = false",  # no scans of the caller's variables
        "SET enable_external_access = false",
        "SET lock_configuration = true",  # last: nothing above can be switched back
    ):
        con.execute(statement)
