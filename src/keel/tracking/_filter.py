"""The run search filter language: parsed, checked, and compiled to SQL over the run tables.

A filter is comparisons joined by ``and``/``or`` (``and`` binds tighter) and parentheses::

    metrics.auc > 0.8 and (params.model = 'gbm' or tags.team IN ('risk', 'fraud'))

It is parsed by a tokenizer and a recursive-descent parser into :class:`Comparison` and
:class:`BoolOp` nodes; ``str(node)`` writes a node back as filter text. Values are bound
parameters, never pasted into SQL. Meaning:

- ``metrics.<key>`` compares the latest value numerically; a run without the metric never
  matches, except ``IS NULL``. ``inf`` and ``-inf`` are numbers. ``nan`` has no order: it is
  tested with ``=``, ``!=``, ``IN`` and ``NOT IN`` only, and a NaN value never matches
  ``<``, ``<=``, ``>`` or ``>=`` (as in IEEE 754; PostgreSQL would call NaN the largest).
  keel stores a NaN metric as NULL (SQLite cannot store NaN), which ``= nan`` matches.
- ``params.<key>`` is text. A quoted value compares as text; a number compares
  numerically, and then only with params whose whole value is a decimal number (``10``,
  ``-0.5``, ``1e-3``); other values, such as ``'auto'``, do not match.
- ``tags.<key>`` is text only. ``attributes.<name>`` (or a bare name) is a column of the run.
- ``LIKE`` and ``ILIKE`` take ``%`` and ``_``, and a backslash to match them literally;
  ``LIKE`` is case-sensitive on every database.

``order_by`` items such as ``"metrics.auc desc"`` sort runs without the value last in both
directions (NaN metrics just before them; params numerically, then as text), then by
``runs.id`` descending, newest first.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles

from keel.errors import InvalidInput, did_you_mean
from keel.store.schema import metadata

from ._filter_lexer import TokenStream, error, quote

__all__ = [
    "BoolOp",
    "Comparison",
    "Node",
    "OrderKey",
    "apply_order",
    "compile_filter",
    "parse_filter",
    "parse_order_by",
]

Value: TypeAlias = float | str | tuple[float | str, ...] | None

runs = metadata.tables["runs"]
_TABLES = {
    "metrics": metadata.tables["run_latest_metrics"],
    "params": metadata.tables["run_params"],
    "tags": metadata.tables["run_tags"],
}
_ENTITIES = {
    **{name: name for name in ("metrics", "params", "tags", "attributes")},
    **{"metric": "metrics", "param": "params", "tag": "tags"},
    **{"attribute": "attributes", "run": "attributes"},
}
_ATTRIBUTES = {
    "status": runs.c.status,
    "name": runs.c.name,
    "run_id": runs.c.id,
    "created_at": runs.c.created_at,
    "started_at": runs.c.started_at,
    "ended_at": runs.c.ended_at,
    "parent_id": runs.c.parent_id,
}
_TIMES = {"created_at", "started_at", "ended_at"}
_KEYWORDS = {"and", "or", "not", "in", "is", "null", "like", "ilike", "asc", "desc"}
_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LIKE = {"LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"}
_IN = {"IN", "NOT IN"}
_NULL = {"IS NULL", "IS NOT NULL"}
_BARE_KEY = re.compile(r"[\w\-/.:]+")
# A param is compared as a number only if all of it is a decimal number small enough for
# a double: PostgreSQL's CAST raises on anything else, and SQLite's silently gives 0.
_DECIMAL = r"\A[+-]?(?:[0-9]{1,200}(?:\.[0-9]{0,200})?|\.[0-9]{1,200})(?:[eE][+-]?[0-9]{1,2})?\Z"
_MAX_DEPTH = 50


@dataclass(frozen=True)
class Comparison:
    """``<entity>.<key> <op> <value>``; ``position`` is where it starts in the filter.

    ``op`` is one of ``= != < <= > >=``, ``LIKE``, ``ILIKE``, ``NOT LIKE``, ``NOT ILIKE``,
    ``IN``, ``NOT IN`` (value is a tuple), ``IS NULL`` or ``IS NOT NULL`` (value is None).
    """

    entity: str
    key: str
    op: str
    value: Value
    position: int = field(default=0, compare=False)

    def __str__(self) -> str:
        key = self.key if _BARE_KEY.fullmatch(self.key) else quote(self.key, "`")
        if self.op in _NULL:
            return f"{self.entity}.{key} {self.op}"
        return f"{self.entity}.{key} {self.op} {_render(self.value)}"


@dataclass(frozen=True)
class BoolOp:
    """``and`` or ``or`` of two or more operands."""

    op: str
    operands: tuple[Node, ...]

    def __str__(self) -> str:
        def wrap(node: Node) -> str:
            bare = isinstance(node, Comparison) or (self.op, node.op) == ("or", "and")
            return str(node) if bare else f"({node})"

        return f" {self.op} ".join(wrap(node) for node in self.operands)


Node: TypeAlias = Comparison | BoolOp


@dataclass(frozen=True)
class OrderKey:
    """One ``order_by`` item: what to sort by, and in which direction."""

    entity: str
    key: str
    descending: bool = False


def parse_filter(text: str | None) -> Node | None:
    """Parse filter text into a tree of nodes; None or blank text gives None.

    Raises:
        InvalidInput: the filter is malformed; the message points at the mistake.
    """
    if text is not None and not isinstance(text, str):
        raise InvalidInput(f"A filter must be a string such as 'metrics.auc > 0.8'. Got {text!r}.")
    if text is None or not text.strip():
        return None
    parser = _Parser(text, "the filter")
    node = parser.disjunction()
    if parser.peek().kind == ")":
        raise parser.error(parser.peek(), "unbalanced ')': there is no '(' for it to close.")
    parser.expect_end("'and', 'or' or the end of the filter")
    return node


def parse_order_by(items: list[str] | None) -> list[OrderKey]:
    """Parse ``order_by`` items: ``"metrics.auc desc"``, ``"params.lr"``, ``"name asc"``.

    A bare name is an attribute; one string is taken as a list of one item.

    Raises:
        InvalidInput: an item is malformed; the message points at the mistake.
    """
    keys = []
    for index, item in enumerate([items] if isinstance(items, str) else items or []):
        if not isinstance(item, str):
            raise InvalidInput(
                f"order_by items must be strings like 'metrics.auc desc'. Got {item!r}."
            )
        parser = _Parser(item, f"order_by item {index}")
        entity, key = parser.identifier()
        direction = parser.keyword("asc", "desc")
        parser.expect_end("the end of the item" if direction else "'asc', 'desc' or the end")
        keys.append(OrderKey(entity, key, direction == "DESC"))
    return keys


class _Parser(TokenStream):
    depth = 0

    def disjunction(self) -> Node:
        operands = [self.conjunction()]
        while self.keyword("or"):
            operands.append(self.conjunction())
        return _combine("or", operands)

    def conjunction(self) -> Node:
        operands = [self.primary()]
        while self.keyword("and"):
            operands.append(self.primary())
        return _combine("and", operands)

    def primary(self) -> Node:
        opening = self.peek()
        if opening.kind != "(":
            return self.comparison()
        if self.depth >= _MAX_DEPTH:
            raise self.error(opening, f"parentheses are nested more than {_MAX_DEPTH} deep.")
        self.take()
        self.depth += 1
        node = self.disjunction()
        if self.peek().kind != ")":
            raise self.expected(f"'and', 'or' or ')' to close the '(' at position {opening.pos}")
        self.take()
        self.depth -= 1
        return node

    def identifier(self) -> tuple[str, str]:
        token = self.peek()
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise self.expected("a key such as metrics.auc, params.model, tags.team or status")
        self.take()
        head, dot, key = token.text.partition(".")
        entity = _ENTITIES.get(head.lower()) if dot else "attributes"
        if entity is None:
            raise self.error(
                token,
                f"{head!r} is not metrics, params, tags or attributes."
                f"{did_you_mean(head.lower(), list(_ENTITIES))} "
                "Write metrics.<key>, params.<key>, tags.<key> or attributes.<name>.",
                verb="Unknown key in",
            )
        if not dot and head.lower() in _ENTITIES:
            raise self.error(token, f"expected a key after {head!r}, as in {head}.auc.")
        if dot and not key:
            quoted = self.peek()
            if quoted.kind != "string" or quoted.pos != token.end or not quoted.value:
                raise self.error(
                    token,
                    f"expected a key right after {token.text!r}, as in {head}.auc or "
                    f"{head}.`val loss` (quote a key that has spaces).",
                )
            key = str(self.take().value)
        key = key if dot else head
        if entity == "attributes" and key.lower() not in _ATTRIBUTES:
            hint = did_you_mean(key.lower(), list(_ATTRIBUTES))
            raise self.error(
                token,
                f"{key!r} is not an attribute of runs.{hint} Valid: {', '.join(_ATTRIBUTES)}.",
                verb="Unknown key in",
            )
        return entity, key.lower() if entity == "attributes" else key

    def comparison(self) -> Comparison:
        start = self.peek()
        entity, key = self.identifier()
        op_token = self.peek()
        value: Value = None
        if op_token.kind == "op":
            op = str(self.take().value)
            value = self.value(op)
        elif self.keyword("is"):
            op = "IS NOT NULL" if self.keyword("not") else "IS NULL"
            if not self.keyword("null"):
                raise self.expected(f"NULL after {op[:-5]}")
        else:
            op = self.keyword("not") or ""
            word = self.keyword("like", "ilike", "in")
            if word is None:
                raise self.expected(
                    "IN, LIKE or ILIKE after NOT"
                    if op
                    else "an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL "
                    f"or IS NOT NULL) after {self.text[start.pos : self.last_end]}"
                )
            op = f"{op} {word}".strip()
            value = self.in_list(op) if word == "IN" else self.value(op)
        node = Comparison(entity, key, op, value, start.pos)
        problem = _check(node)
        if problem:
            length, verb = self.last_end - op_token.pos, "Invalid condition in"
            raise error(self.text, self.what, op_token.pos, length, problem, verb=verb)
        return node

    def value(self, op: str) -> float | str:
        token = self.peek()
        if token.kind == "number" or (token.kind == "string" and token.text[0] != "`"):
            return self.take().value
        if token.kind == "string":
            problem = f"backticks quote keys, not values; write the value as '{token.value}'."
        elif token.kind == "word" and token.text.lower() == "null":
            problem = "compare with NULL using IS NULL or IS NOT NULL."
        elif token.kind == "word":
            problem = f"expected a value after {op}; quote text values, as in '{token.text}'."
        else:
            raise self.expected(f"a value (a number or a quoted string) after {op}")
        raise self.error(token, problem)

    def in_list(self, op: str) -> tuple[float | str, ...]:
        opening = self.peek()
        if opening.kind != "(":
            raise self.expected(f"'(' and a list of values after {op}")
        self.take()
        if self.peek().kind == ")":
            raise self.error(self.peek(), f"the list after {op} is empty; give at least one value.")
        values = [self.value(op)]
        while self.peek().kind == ",":
            self.take()
            values.append(self.value(op))
        if self.peek().kind != ")":
            raise self.expected(f"',' or ')' to close the list at position {opening.pos}")
        self.take()
        return tuple(values)


def _combine(op: str, operands: list[Node]) -> Node:
    """``op`` of the operands, absorbing operands that are the same ``op``."""
    flat: list[Node] = []
    for node in operands:
        if isinstance(node, BoolOp) and node.op == op:
            flat.extend(node.operands)
        else:
            flat.append(node)
    return flat[0] if len(flat) == 1 else BoolOp(op, tuple(flat))


def _render(value: Value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_render(item) for item in value) + ")"
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # 10, not 10.0: the same float once parsed
    return repr(value)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check(node: Comparison) -> str | None:
    """What is wrong with a comparison, or None: the same rules for parsed and built nodes."""
    name = f"{node.entity}.{node.key}"
    if node.entity not in _ENTITIES.values() or not node.key:
        return f"{name} is not a metric, param, tag or attribute."
    if node.entity == "attributes" and node.key not in _ATTRIBUTES:
        return f"unknown attribute {node.key!r}. Valid attributes: {', '.join(_ATTRIBUTES)}."
    if node.op in _NULL:
        return None if node.value is None else f"{node.op} takes no value."
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if node.op not in _COMPARE.keys() | _LIKE | _IN:
        return f"unknown operator {node.op!r}."
    if (node.op in _IN) != isinstance(node.value, tuple) or not values:
        return f"{node.op} needs a list of values." if node.op in _IN else "expected one value."
    numbers = [_is_number(value) for value in values]
    for value in values:
        if not _is_number(value) and not isinstance(value, str):
            return f"expected a number or a string, got {value!r}."
    if not all(numbers) and any(numbers):
        return "the list mixes numbers and strings; use one kind."
    shown, numeric = _render(values[0]), node.entity == "metrics" or node.key in _TIMES
    if numbers[0] and node.op in _LIKE:
        return f"{node.op} needs a quoted pattern, such as '{shown}%'."
    if numeric and not numbers[0]:
        what = "a metric" if node.entity == "metrics" else "a time in ms since the epoch"
        return f"{name} is {what}, so compare it with a number, not {shown}."
    if node.entity == "tags" and numbers[0]:
        return (
            f"tags are text, so {name} cannot be compared with the number {shown}. Quote it "
            f"('{shown}') to compare text, or log the value as a param or a metric to compare "
            "it as a number."
        )
    if node.entity == "attributes" and not numeric and numbers[0]:
        return f"{name} is text; quote the value, as in '{shown}'."
    if any(_is_number(value) and math.isnan(value) for value in values):
        if node.entity != "metrics":
            return (
                f"nan can only be compared with metrics; to match the text, write {name} = 'nan'."
            )
        if node.op not in _IN | {"=", "!="}:
            return "nan is not ordered; test for it with = nan or != nan."
    return None


def compile_filter(node: Node | None) -> sa.ColumnElement[bool]:
    """A WHERE clause over ``runs`` for a parsed filter (``true()`` for None).

    Raises:
        InvalidInput: a node built by hand breaks the rules the parser enforces.
    """
    if node is None:
        return sa.true()
    if isinstance(node, BoolOp):
        if node.op not in ("and", "or") or not node.operands:
            raise InvalidInput(f"Cannot compile {node!r}: a BoolOp is 'and' or 'or' of operands.")
        parts = [compile_filter(operand) for operand in node.operands]
        return sa.and_(*parts) if node.op == "and" else sa.or_(*parts)
    if not isinstance(node, Comparison):
        raise InvalidInput(f"Cannot compile {node!r}: expected a Comparison or a BoolOp.")
    problem = _check(node)
    if problem:
        raise InvalidInput(f"Invalid filter condition {node!r}: {problem}")
    numeric = _is_number(node.value[0] if isinstance(node.value, tuple) else node.value)
    if node.entity == "attributes":
        return _predicate(_ATTRIBUTES[node.key], node.op, node.value)
    table = _TABLES[node.entity]
    row = sa.exists().where(table.c.run_id == runs.c.id, table.c.key == node.key)
    if node.op in _NULL:
        return ~row.correlate(runs) if node.op == "IS NULL" else row.correlate(runs)
    value = _as_number(table.c.value) if node.entity == "params" and numeric else table.c.value
    if node.entity == "metrics" and node.op in ("<", "<=", ">", ">="):
        row = row.where(~_is_nan(value))  # NaN has no order; PostgreSQL puts it above all
    return row.where(_predicate(value, node.op, node.value)).correlate(runs)


def _predicate(column: Any, op: str, value: Value) -> sa.ColumnElement[bool]:
    if op in _NULL:
        return column.is_(None) if op == "IS NULL" else column.is_not(None)
    if isinstance(value, tuple):
        nan = [_is_nan(column)] if any(_is_number(v) and math.isnan(v) for v in value) else []
        items = [_literal(v) for v in value if not (_is_number(v) and math.isnan(v))]
        listed = [column.in_(items)] if items else []
        if op == "IN":
            return sa.or_(*listed, *nan)
        return sa.and_(*(~clause for clause in [*listed, *nan]))
    if op in _LIKE:
        match = _Like(column, str(value), ignore_case="ILIKE" in op)
        return ~match if op.startswith("NOT") else match
    if _is_number(value) and math.isnan(value):
        return _is_nan(column) if op == "=" else ~_is_nan(column)
    return _COMPARE[op](column, _literal(value))


def _literal(value: float | str) -> sa.ColumnElement[Any]:
    # An explicit type: PostgreSQL would otherwise cast 0.5 to BIGINT next to created_at.
    return sa.literal(value, sa.Float() if _is_number(value) else sa.Text())


def _is_nan(column: Any) -> sa.ColumnElement[bool]:
    # keel stores a NaN metric as NULL in a row that exists (SQLite cannot store NaN); a
    # NaN written into PostgreSQL by other means equals NaN there.
    is_nan = sa.func.coalesce(column == _literal(math.nan), sa.false(), type_=sa.Boolean)
    return sa.or_(column.is_(None), is_nan)


def _as_number(column: Any) -> sa.ColumnElement[float]:
    """A text column as a float where it is a decimal number, else NULL, on every database."""
    return sa.case((column.regexp_match(_DECIMAL), sa.cast(column, sa.Float)), else_=sa.null())


class _Like(sa.ColumnElement[bool]):
    """``column LIKE pattern`` (backslash escapes), case-sensitive unless ``ignore_case``.

    PostgreSQL's LIKE is case-sensitive but SQLite's is not, so SQLite gets GLOB instead.
    """

    inherit_cache = False  # plain Python attributes: statements holding it are not cached
    type = sa.Boolean()

    def __init__(self, column: Any, pattern: str, *, ignore_case: bool) -> None:
        self.column, self.pattern, self.ignore_case = column, pattern, ignore_case

    @property
    def _from_objects(self) -> list[Any]:
        return self.column._from_objects


@compiles(_Like)
def _compile_like(element: _Like, compiler: Any, **kw: Any) -> str:
    pattern = _like_pattern(element.pattern, glob=False)
    like = element.column.ilike if element.ignore_case else element.column.like
    return "(" + compiler.process(like(pattern, escape="\\"), **kw) + ")"


@compiles(_Like, "sqlite")
def _compile_like_sqlite(element: _Like, compiler: Any, **kw: Any) -> str:
    if element.ignore_case:
        return _compile_like(element, compiler, **kw)
    glob = element.column.op("GLOB", is_comparison=True)
    return "(" + compiler.process(glob(_like_pattern(element.pattern, glob=True)), **kw) + ")"


def _like_pattern(pattern: str, *, glob: bool) -> str:
    """A LIKE pattern in canonical form (only ``% _ \\`` escaped), or as a GLOB pattern."""
    out, chars = [], iter(pattern)
    for char in chars:
        wildcard = char in "%_"
        if char == "\\":
            char, wildcard = next(chars, "\\"), False
        if wildcard and glob:
            out.append("*" if char == "%" else "?")
        elif wildcard:
            out.append(char)
        elif glob:
            out.append(f"[{char}]" if char in "*?[" else char)
        else:
            out.append("\\" + char if char in "%_\\" else char)
    return "".join(out)


def filter_and_order(
    select: sa.Select[Any], node: Node | None, keys: list[OrderKey]
) -> sa.Select[Any]:
    """:func:`compile_filter` and :func:`apply_order` together, for a search.

    When the filter already requires the first order key, a metric, to have a number
    compared with (``metrics.auc > 0.8 and ...``, ordered by ``metrics.auc``), every run
    found has a finite value of it: that metric is joined (not outer-joined) with those
    comparisons, which leave the filter, and the runs are sorted by its value alone. The
    database can then walk the metric's (key, value) index in order and stop at the page's
    last run instead of finding and sorting every match (at 100,000 runs, tenths of a
    second instead of seconds), and PostgreSQL's planner is not misled by the same
    condition twice.
    """
    bounded = _bounded_metrics(node)
    first = keys[0] if keys else None
    if first is None or first.entity != "metrics" or first.key not in bounded:
        return apply_order(select.where(compile_filter(node)), keys)
    used = bounded[first.key]
    rest = [c for c in node.operands if c not in used] if isinstance(node, BoolOp) else []
    remaining = rest[0] if len(rest) == 1 else (BoolOp("and", tuple(rest)) if rest else None)
    for condition in used:
        problem = _check(condition)
        if problem:
            raise InvalidInput(f"Invalid filter condition {condition!r}: {problem}")
    return apply_order(select.where(compile_filter(remaining)), keys, used)


def apply_order(
    select: sa.Select[Any], keys: list[OrderKey], bounds: Sequence[Comparison] = ()
) -> sa.Select[Any]:
    """Order a select over ``runs`` by the keys, joining the metric/param/tag tables needed.

    Runs without a value sort last either way; ``runs.id`` (descending) breaks ties. With no
    keys, the newest runs come first. ``bounds``: comparisons of the first key, a metric,
    with numbers, that every run must meet (see :func:`filter_and_order`).
    """
    if not keys:
        return select.order_by(runs.c.created_at.desc(), runs.c.id.desc())
    clauses: list[sa.ColumnElement[Any]] = []
    for index, key in enumerate(keys):
        problem = _check(Comparison(key.entity, key.key, "IS NULL", None))
        if problem:
            raise InvalidInput(f"Cannot order by {key!r}: {problem}")
        if index == 0 and bounds:
            table = _TABLES["metrics"].alias()
            on = sa.and_(table.c.run_id == runs.c.id, table.c.key == key.key)
            value = table.c.value
            select = select.join_from(runs, table, on).where(
                ~_is_nan(value),  # NaN has no order; PostgreSQL puts it above all
                *(_predicate(value, c.op, c.value) for c in bounds),
            )
            clauses.append(value.desc() if key.descending else value.asc())
            continue
        if key.entity == "attributes":
            value = _ATTRIBUTES[key.key]
        else:
            # One outer join per key: each key's value is looked up once however many sort
            # terms use it (a correlated subquery per term was 2-4x slower). SQLite 3.40
            # crashes on 16 or more such joins; search limits keep order_by to at most
            # ORDER_BY_CEILING keys (see _search_limits).
            table = _TABLES[key.entity].alias()
            on = sa.and_(table.c.run_id == runs.c.id, table.c.key == key.key)
            select = select.outerjoin_from(runs, table, on)
            value = table.c.value
        clauses.append(value.is_(None))
        sorts = [value]
        if key.entity == "metrics":
            clauses.append(_is_nan(value))
        elif key.entity == "params":  # numbers by value, then other text, then missing
            sorts = [_as_number(value), value]
            clauses.append(sorts[0].is_(None))
        clauses.extend(sort.desc() if key.descending else sort.asc() for sort in sorts)
    return select.order_by(*clauses, runs.c.id.desc())


def _bounded_metrics(node: Node | None) -> dict[str, list[Comparison]]:
    """Metrics that every run matching ``node`` has a finite value of, with the
    comparisons that say so: top-level conditions comparing a metric with numbers."""
    conditions = [node] if isinstance(node, Comparison) else []
    if isinstance(node, BoolOp) and node.op == "and":
        conditions = [c for c in node.operands if isinstance(c, Comparison)]
    found: dict[str, list[Comparison]] = {}
    for c in conditions:
        values = c.value if isinstance(c.value, tuple) else (c.value,)
        if (
            c.entity == "metrics"
            and c.op in ("=", "<", "<=", ">", ">=", "IN")
            and values
            and all(_is_number(v) and not math.isnan(v) for v in values)
        ):
            found.setdefault(c.key, []).append(c)
    return found
