"""How big one run search may be, checked before any SQL is built.

The SDK on a local store and the server check searches here, with the limits of the store's
configuration, so a search that one transport refuses the other refuses too. The limits
keep a search's cost bounded: each filter comparison costs memory and time to compile and
plan (PostgreSQL plans 100 ``and`` terms in seconds), and every ``order_by`` key is one
more lookup per run.
"""

from __future__ import annotations

from dataclasses import dataclass

from keel.config import Config
from keel.errors import InvalidInput, QueryTooComplex

from ._filter import BoolOp, Node, OrderKey, parse_filter, parse_order_by
from ._records import RunQuery
from ._validate import MAX_KEY

_MAX_ORDER_ITEM = 2 * MAX_KEY + 20
"""Longest ``order_by`` item: a key of up to MAX_KEY characters, quoted, and a direction."""

__all__ = ["ORDER_BY_CEILING", "SearchLimits", "check_search"]

ORDER_BY_CEILING = 10
"""Most ``order_by`` keys whatever ``max_order_by`` says: each is one outer join, and
SQLite 3.40 crashes the process on 16 or more joins in one query."""


@dataclass(frozen=True)
class SearchLimits:
    """The largest search a store answers; see ``docs/configuration.md``."""

    filter_chars: int = 20_000
    filter_terms: int = 50
    in_values: int = 1000
    order_by: int = 5
    experiments: int = 100
    results: int = 10_000

    @classmethod
    def from_config(cls, config: Config) -> SearchLimits:
        return cls(
            filter_chars=config.max_filter_chars,
            filter_terms=config.max_filter_terms,
            in_values=config.max_in_values,
            order_by=min(config.max_order_by, ORDER_BY_CEILING),
            experiments=config.max_search_experiments,
            results=config.max_search_results,
        )


def _too_much(fact: str, limit: int, setting: str, advice: str) -> QueryTooComplex:
    return QueryTooComplex(
        f"{fact}, more than the limit of {limit} (setting {setting}, "
        f"KEEL_{setting.upper()}). {advice}"
    )


def check_search(query: RunQuery, limits: SearchLimits) -> tuple[Node | None, list[OrderKey]]:
    """The parsed filter and order of a search that is within ``limits``.

    Raises:
        InvalidInput: a malformed filter, order or ``max_results``.
        QueryTooComplex: the search is within the language but beyond a limit.
    """
    results = query.max_results
    if not isinstance(results, int) or isinstance(results, bool) or results < 1:
        raise InvalidInput(
            "The number of runs to return (max_results; --limit in the CLI) must be a whole "
            f"number of at least 1. Got {results!r:.40}."
        )
    if results > limits.results:
        raise _too_much(
            f"{results} runs were asked for (max_results; --limit in the CLI)",
            limits.results,
            "max_search_results",
            "Ask for fewer.",
        )
    offset = query.offset
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInput(f"offset must be an integer of at least 0. Got {offset!r:.40}.")
    if len(query.experiments) > limits.experiments:
        raise _too_much(
            f"The search names {len(query.experiments)} experiments",
            limits.experiments,
            "max_search_experiments",
            "Search fewer experiments at a time, or all of them by naming none.",
        )
    for name in query.experiments:
        if isinstance(name, str) and len(name) > MAX_KEY:
            raise InvalidInput(
                f"The experiment name {name[:60]!r}... is {len(name)} characters long; names "
                f"have at most {MAX_KEY}. List experiments with keel.list_experiments()."
            )
    order_by = [query.order_by] if isinstance(query.order_by, str) else list(query.order_by)
    if len(order_by) > limits.order_by:
        raise _too_much(
            f"order_by has {len(order_by)} keys",
            limits.order_by,
            "max_order_by",
            "Order by fewer keys and sort further in Python.",
        )
    for index, item in enumerate(order_by):
        if isinstance(item, str) and len(item) > _MAX_ORDER_ITEM:
            raise InvalidInput(
                f"order_by item {index} ({item[:60]!r}...) is {len(item)} characters long; an "
                f"item is one key and a direction, at most {_MAX_ORDER_ITEM} characters, "
                "such as 'metrics.auc desc'."
            )
    text = query.filter
    if isinstance(text, str) and len(text) > limits.filter_chars:
        raise _too_much(
            f"The filter is {len(text)} characters long",
            limits.filter_chars,
            "max_filter_chars",
            f"The filter begins {text[:60]!r}; write fewer conditions.",
        )
    node = parse_filter(text)
    _check_terms(node, limits)
    return node, parse_order_by(order_by)


def _check_terms(node: Node | None, limits: SearchLimits) -> None:
    terms, pending = 0, [node] if node is not None else []
    while pending:
        item = pending.pop()
        if isinstance(item, BoolOp):
            pending.extend(item.operands)
            continue
        terms += 1
        if isinstance(item.value, tuple) and len(item.value) > limits.in_values:
            raise _too_much(
                f"The {item.op} list of {item.entity}.{item.key[:60]} has {len(item.value)} values",
                limits.in_values,
                "max_in_values",
                "Split the list over several searches.",
            )
    if terms > limits.filter_terms:
        raise _too_much(
            f"The filter has {terms} comparisons",
            limits.filter_terms,
            "max_filter_terms",
            "Write fewer conditions (one IN list instead of many ORs, say).",
        )
