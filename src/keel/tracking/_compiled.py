"""SQLAlchemy Core statements compiled once per dialect, then run as text on the driver.

Building a search's statement (constructs, coercions, a cache key, a lookup in
SQLAlchemy's compiled cache) costs more than SQLite takes to answer a page of 100 runs.
:func:`rows` keeps the text of a statement, its bound values and its type conversions
under a key the caller chooses (the statement's shape plus every value that is not
passed at call time), and hands the text to a cursor of the connection's driver within
the connection's transaction, as :mod:`keel.tracking._statements` does for the write
paths. The key must determine the statement: two calls with the same key and dialect get
the same SQL and the same bound values, but for ``values`` (named bind parameters given
per call).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from threading import Lock
from typing import Any

import sqlalchemy as sa

__all__ = ["CACHE_SIZE", "rows"]

CACHE_SIZE = 256
"""Compiled statements kept (least recently used first out): a process repeats few
search shapes (a dashboard's page, a benchmark's loop), each worth a few kilobytes."""


@dataclass
class _Compiled:
    sql: str
    names: tuple[str, ...] | None  # positional parameter order; None for named styles
    params: dict[str, Any]  # bound values as compiled (before conversion)
    binds: dict[str, Callable[[Any], Any]]  # the driver conversions of bound values
    types: tuple[Any, ...]  # of the result columns
    results: tuple[tuple[int, Callable[[Any], Any]], ...] | None = None
    """Conversions of result columns, known once the driver has described them."""


_cache: OrderedDict[tuple[str, Hashable], _Compiled] = OrderedDict()
_lock = Lock()


def rows(
    conn: sa.Connection,
    key: Hashable,
    build: Callable[[], sa.Select[Any]],
    values: Mapping[str, Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Every row of the statement ``build()`` makes, compiled once per dialect and
    ``key``; ``values`` set named bind parameters of this call (each made with a
    placeholder value, ``sa.bindparam(name, value)``). A driver error is raised as
    SQLAlchemy's (the store's error handling expects it)."""
    dialect = conn.dialect
    full = (dialect.name, key)
    with _lock:
        compiled = _cache.get(full)
        if compiled is not None:
            _cache.move_to_end(full)
    if compiled is None:
        compiled = _compile(build(), dialect)
        with _lock:
            _cache[full] = compiled
            while len(_cache) > CACHE_SIZE:
                _cache.popitem(last=False)
    params = dict(compiled.params)
    if values:
        params.update(values)
    for name, convert in compiled.binds.items():
        params[name] = convert(params[name])
    args: Any = params if compiled.names is None else tuple(params[n] for n in compiled.names)
    dbapi = dialect.loaded_dbapi
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        try:
            cursor.execute(compiled.sql, args)
            found = cursor.fetchall()
        except dbapi.Error as exc:
            raise sa.exc.DBAPIError.instance(compiled.sql, args, exc, dbapi.Error) from exc
        if compiled.results is None:
            compiled.results = _result_conversions(compiled.types, cursor.description, dialect)
    finally:
        cursor.close()
    if not compiled.results:
        return found
    converted = []
    for row in found:
        row = list(row)
        for index, convert in compiled.results:
            row[index] = convert(row[index])
        converted.append(tuple(row))
    return converted


def _compile(statement: sa.Select[Any], dialect: sa.Dialect) -> _Compiled:
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    params = dict(compiled.construct_params())
    binds = {}
    for name in params:
        # an IN list's values are named after its parameter: name_1, name_2, ...
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds.get(name.rsplit("_", 1)[0])
        if bind is None:
            raise ValueError(f"No bind parameter for {name!r} in {compiled.string!r}")
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            binds[name] = convert
    return _Compiled(
        sql=compiled.string,
        names=tuple(compiled.positiontup or ()) if compiled.positional else None,
        params=params,
        binds=binds,
        types=tuple(c.type for c in statement.selected_columns),
    )


def _result_conversions(
    types: tuple[Any, ...], description: Any, dialect: sa.Dialect
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    found = []
    for index, (type_, described) in enumerate(zip(types, description, strict=True)):
        convert = type_.dialect_impl(dialect).result_processor(dialect, described[1])
        if convert is not None:
            found.append((index, convert))
    return tuple(found)
