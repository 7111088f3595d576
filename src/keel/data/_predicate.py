"""Row predicates written by people (``customer_id = 'c-123'``), checked and run in DuckDB.

A predicate is one SQL boolean expression over a table's columns. It is parsed by
DuckDB's own parser before it touches any data: a second statement (``; DROP ...``), a
set operation smuggled in through a closing parenthesis, clauses such as ``ORDER BY`` and
subqueries (which could read files) are all refused. Queries then run on a connection
that only sees the in-memory table they are given, with external access switched off.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from keel.errors import InvalidInput

__all__ = ["Matcher", "check_predicate", "equality_values"]

_ROW = "__keel_erase_row__"
"""Row-number column appended to a part, so matches are found by position, not order."""

_EXAMPLE = "customer_id = 'c-123'"


def check_predicate(where: object) -> str:
    """Return ``where`` stripped if it is a single SQL boolean expression; else raise."""
    if not isinstance(where, str) or not where.strip():
        raise InvalidInput(
            f"The predicate must be a SQL condition on the table's columns, such as "
            f'"{_EXAMPLE}". Got {where!r}.'
        )
    predicate = where.strip()
    import duckdb

    con = duckdb.connect()
    try:
        # the newlines keep a trailing '--' comment from swallowing the closing parenthesis
        raw = con.execute(
            "SELECT json_serialize_sql(?)", [f"SELECT 1 WHERE (\n{predicate}\n)"]
        ).fetchone()[0]
    finally:
        con.close()
    parsed = json.loads(raw)
    if parsed.get("error"):
        raise InvalidInput(
            f"Cannot read the predicate {predicate!r}: {parsed.get('error_message')}. "
            f'Write one SQL condition, such as "{_EXAMPLE}".'
        )
    statements = parsed.get("statements") or []
    node = statements[0]["node"] if len(statements) == 1 else {}
    if (
        node.get("type") != "SELECT_NODE"
        or node.get("modifiers")
        or node.get("group_expressions")
        or node.get("having")
        or node.get("qualify")
        or node.get("sample")
        or (node.get("cte_map") or {}).get("map")
        or (node.get("from_table") or {}).get("type") != "EMPTY"
    ):
        raise InvalidInput(
            f"The predicate {predicate!r} is not a single condition: it closes the condition "
            f'and adds more SQL. Write one SQL condition, such as "{_EXAMPLE}".'
        )
    if _has_subquery(node.get("where_clause")):
        raise InvalidInput(
            f"The predicate {predicate!r} contains a subquery, which may not be used here. "
            "Compare columns with values, e.g. \"customer_id IN ('c-1', 'c-2')\"."
        )
    return predicate


def equality_values(where: str) -> tuple[str, list[str]] | None:
    """``(column, values)`` when ``where`` is ``column = value`` or ``column IN (values)``
    (values as text), else None: the form other stores (prediction logs) can erase by.

    Raises:
        InvalidInput: ``where`` is not one SQL condition (see :func:`check_predicate`).
    """
    import duckdb

    predicate = check_predicate(where)
    con = duckdb.connect()
    try:
        raw = con.execute(
            "SELECT json_serialize_sql(?)", [f"SELECT 1 WHERE (\n{predicate}\n)"]
        ).fetchone()[0]
    finally:
        con.close()
    tree = json.loads(raw)["statements"][0]["node"]["where_clause"]
    if tree.get("class") == "COMPARISON" and tree.get("type") == "COMPARE_EQUAL":
        operands = [tree.get("left"), tree.get("right")]
    elif tree.get("class") == "OPERATOR" and tree.get("type") == "COMPARE_IN":
        operands = tree.get("children") or []
    else:
        return None
    column, *constants = operands
    if (column or {}).get("class") != "COLUMN_REF" or len(column["column_names"]) != 1:
        return None
    values = []
    for constant in constants:
        literal = (constant or {}).get("literal") or {}
        if constant.get("class") != "CONSTANT" or literal.get("text") is None:
            return None
        values.append(literal["text"])
    return column["column_names"][0], values


def _has_subquery(tree: Any) -> bool:
    if isinstance(tree, dict):
        if tree.get("class") == "SUBQUERY":
            return True
        return any(_has_subquery(v) for v in tree.values())
    if isinstance(tree, list):
        return any(_has_subquery(v) for v in tree)
    return False


class Matcher:
    """Finds the rows of Arrow tables that a checked predicate matches.

    Args:
        predicate: a predicate returned by :func:`check_predicate`.

    Example::

        >>> import pyarrow as pa
        >>> with Matcher("x > 1") as matcher:
        ...     matcher.rows(pa.table({"x": [1, 2, 3]})).tolist()
        [1, 2]
    """

    def __init__(self, predicate: str) -> None:
        import duckdb

        self.predicate = predicate
        self._con = duckdb.connect()
        self._con.execute("SET enable_external_access = false")

    def rows(self, table: pa.Table, *, where: str = "the table") -> np.ndarray:
        """Positions (sorted) of the rows of ``table`` where the predicate is true.

        Rows where it is NULL do not match, as in a SQL ``WHERE``.

        Raises:
            InvalidInput: the predicate names a missing column or does not fit the types;
                ``where`` names the table in the message.
        """
        import duckdb

        numbered = table.append_column(_ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
        self._con.register("part", numbered)
        try:
            found = self._con.execute(
                f'SELECT "{_ROW}" FROM part WHERE (\n{self.predicate}\n)'
            ).fetchnumpy()[_ROW]
        except duckdb.Error as exc:
            message = str(exc).split("\n")[0].rstrip("!. ")
            columns = ", ".join(table.column_names)
            raise InvalidInput(
                f"The predicate {self.predicate!r} cannot be evaluated on {where}: {message}. "
                f"Its columns are: {columns}. Fix the predicate; nothing was changed."
            ) from exc
        finally:
            self._con.unregister("part")
        return np.sort(np.asarray(found, dtype=np.int64))

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Matcher({self.predicate!r})"
