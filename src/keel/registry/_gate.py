"""The evaluation gate language: comparisons of metrics joined by ``and`` / ``or``.

Grammar (a tokenizer and a recursive-descent parser; the text is never ``eval``-ed)::

    gate       := and_expr ("or" and_expr)*
    and_expr   := comparison ("and" comparison)*   |  "(" gate ")"
    comparison := sum (">=" | "<=" | ">" | "<" | "==" | "!=") sum
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := "-" unary | NUMBER | METRIC | "(" sum ")"
    METRIC     := name | ("candidate" | "champion" | "against" | "baseline") "." name

A bare metric is the candidate's; ``champion.`` and ``against.`` both name the model
compared with. Example: ``roc_auc >= champion.roc_auc - 0.005 and latency_p99_ms <= 20``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import NoReturn

from keel.errors import InvalidInput, did_you_mean

__all__ = ["Gate", "GateResult", "parse_gate"]

SCOPES = {
    "candidate": "candidate",
    "champion": "against",
    "against": "against",
    "baseline": "baseline",
}
COMPARISONS = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
ARITHMETIC = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else (math.copysign(math.inf, a) if a else math.nan),
}
_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)"
    r"|(?P<op>>=|<=|==|!=|>|<|[-+*/()]))"
)
_HINTS = {
    "=": " (compare with '==', '>=' or '<=')",
    "&": " (join comparisons with 'and')",
    "|": " (join comparisons with 'or')",
}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, and, or, end
    text: str
    pos: int


# -- syntax tree ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Number:
    value: float
    text: str

    def value_in(self, metrics: Mapping[str, Mapping[str, float]]) -> float:
        return self.value

    def render(self, metrics: Mapping[str, Mapping[str, float]]) -> str:
        return self.text


@dataclass(frozen=True)
class _Metric:
    scope: str  # candidate, against, baseline
    name: str
    text: str
    pos: int

    def value_in(self, metrics: Mapping[str, Mapping[str, float]]) -> float:
        return float(metrics[self.scope][self.name])

    def render(self, metrics: Mapping[str, Mapping[str, float]]) -> str:
        return f"{self.text} {_fmt(self.value_in(metrics))}"


@dataclass(frozen=True)
class _Negate:
    operand: _Number | _Metric | _Negate | _Arithmetic

    def value_in(self, metrics: Mapping[str, Mapping[str, float]]) -> float:
        return -self.operand.value_in(metrics)

    def render(self, metrics: Mapping[str, Mapping[str, float]]) -> str:
        return f"-{self.operand.render(metrics)}"


@dataclass(frozen=True)
class _Arithmetic:
    op: str
    left: _Number | _Metric | _Negate | _Arithmetic
    right: _Number | _Metric | _Negate | _Arithmetic
    grouped: bool = False

    def value_in(self, metrics: Mapping[str, Mapping[str, float]]) -> float:
        return ARITHMETIC[self.op](self.left.value_in(metrics), self.right.value_in(metrics))

    def render(self, metrics: Mapping[str, Mapping[str, float]]) -> str:
        text = f"{self.left.render(metrics)} {self.op} {self.right.render(metrics)}"
        return f"({text})" if self.grouped else text


@dataclass(frozen=True)
class _Comparison:
    op: str
    left: _Number | _Metric | _Negate | _Arithmetic
    right: _Number | _Metric | _Negate | _Arithmetic

    def clauses(self) -> list[_Comparison]:
        return [self]

    def decide(self, metrics: Mapping[str, Mapping[str, float]]) -> bool:
        return bool(COMPARISONS[self.op](self.left.value_in(metrics), self.right.value_in(metrics)))


@dataclass(frozen=True)
class _Logical:
    op: str  # and, or
    operands: tuple[_Comparison | _Logical, ...]

    def clauses(self) -> list[_Comparison]:
        return [c for operand in self.operands for c in operand.clauses()]

    def decide(self, metrics: Mapping[str, Mapping[str, float]]) -> bool:
        results = [operand.decide(metrics) for operand in self.operands]
        return all(results) if self.op == "and" else any(results)


# -- parsing -------------------------------------------------------------------------------


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            start = len(text) - len(text[pos:].lstrip())
            hint = _HINTS.get(text[start], "")
            _fail(text, start, f"unexpected character {text[start]!r}{hint}")
        kind = match.lastgroup
        value, start = match[kind], match.start(kind)
        if kind == "name" and value.lower() in ("and", "or"):
            kind = value = value.lower()
        tokens.append(_Token(kind, value, start))
        pos = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _fail(text: str, pos: int, problem: str) -> NoReturn:
    raise InvalidInput(
        f"Gate syntax error at position {pos}: {problem}.\n  {text}\n  {' ' * pos}^\n"
        "Write comparisons joined by 'and'/'or', e.g. "
        "'roc_auc >= champion.roc_auc - 0.005 and latency_p99_ms <= 20'."
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, text: str, what: str) -> None:
        if self.token.kind != "op" or self.token.text != text:
            self.unexpected(what)
        self.take()

    def unexpected(self, expected: str) -> NoReturn:
        found = "the end of the gate" if self.token.kind == "end" else repr(self.token.text)
        _fail(self.text, self.token.pos, f"expected {expected} but found {found}")

    def parse(self) -> _Comparison | _Logical:
        if self.token.kind == "end":
            self.unexpected("a comparison such as 'roc_auc >= 0.8'")
        node = self.logical("or")
        if self.token.kind != "end":
            self.unexpected("'and', 'or' or the end of the gate")
        return node

    def logical(self, op: str) -> _Comparison | _Logical:
        parts = [self.logical("and") if op == "or" else self.condition()]
        while self.token.kind == op:
            self.take()
            parts.append(self.logical("and") if op == "or" else self.condition())
        return parts[0] if len(parts) == 1 else _Logical(op, tuple(parts))

    def condition(self) -> _Comparison | _Logical:
        if self.token.text == "(" and self._parenthesised_condition():
            self.take()
            node = self.logical("or")
            self.expect(")", "')'")
            return node
        left = self.sum()
        if self.token.text not in COMPARISONS or self.token.kind != "op":
            self.unexpected(f"a comparison ({', '.join(COMPARISONS)})")
        op = self.take().text
        right = self.sum()
        if self.token.text in COMPARISONS and self.token.kind == "op":
            self.unexpected("'and' or 'or' (comparisons do not chain)")
        return _Comparison(op, left, right)

    def _parenthesised_condition(self) -> bool:
        """Whether the '(' at the cursor opens a condition rather than arithmetic: its
        matching ')' encloses a comparison, 'and' or 'or'."""
        depth = 0
        for token in self.tokens[self.i :]:
            if token.text == "(":
                depth += 1
            elif token.text == ")":
                depth -= 1
                if depth == 0:
                    return False
            elif token.kind in ("and", "or") or (token.kind == "op" and token.text in COMPARISONS):
                return True
        return False

    def sum(self):
        node = self.product()
        while self.token.text in ("+", "-") and self.token.kind == "op":
            op = self.take().text
            node = _Arithmetic(op, node, self.product())
        return node

    def product(self):
        node = self.unary()
        while self.token.text in ("*", "/") and self.token.kind == "op":
            op = self.take().text
            node = _Arithmetic(op, node, self.unary())
        return node

    def unary(self):
        token = self.token
        if token.kind == "op" and token.text == "-":
            self.take()
            return _Negate(self.unary())
        if token.kind == "number":
            self.take()
            return _Number(float(token.text), token.text)
        if token.kind == "name":
            self.take()
            scope, _, name = token.text.rpartition(".")
            if scope and scope not in SCOPES:
                raise InvalidInput(
                    f"Unknown model {scope!r} in gate metric {token.text!r} at position "
                    f"{token.pos}.{did_you_mean(scope, list(SCOPES))} Prefix a metric with "
                    f"one of {', '.join(SCOPES)} (or none, for the candidate)."
                )
            return _Metric(SCOPES[scope or "candidate"], name, token.text, token.pos)
        if token.kind == "op" and token.text == "(":
            self.take()
            node = self.sum()
            self.expect(")", "')'")
            return replace(node, grouped=True) if isinstance(node, _Arithmetic) else node
        self.unexpected("a number, a metric or '('")


def parse_gate(text: str) -> Gate:
    """Parse a gate such as ``roc_auc >= champion.roc_auc - 0.005 and latency_p99_ms <= 20``.

    Raises:
        InvalidInput: the gate is not valid, with the position of the problem.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"A gate is a string such as 'roc_auc >= 0.8'. Got {text!r:.80}.")
    return Gate(text, _Parser(text).parse())


# -- evaluating ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GateResult:
    """The verdict of a gate and each clause with its values."""

    passed: bool
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Gate:
    """A parsed gate; :meth:`check` decides it on a set of metrics."""

    text: str
    tree: _Comparison | _Logical = field(repr=False)

    def metrics(self) -> list[tuple[str, str, int]]:
        """The (scope, metric, position) of every metric the gate names."""
        found: list[tuple[str, str, int]] = []

        def walk(node) -> None:
            if isinstance(node, _Metric):
                found.append((node.scope, node.name, node.pos))
            elif isinstance(node, _Negate):
                walk(node.operand)
            elif isinstance(node, _Arithmetic | _Comparison):
                walk(node.left)
                walk(node.right)
            elif isinstance(node, _Logical):
                for operand in node.operands:
                    walk(operand)

        walk(self.tree)
        return found

    def without(self, scope: str) -> Gate | None:
        """This gate with every comparison that names a ``scope`` metric left out, so the
        rest decides alone (an ``and`` loses a condition, an ``or`` an alternative), or
        None when every comparison names it. Used when there is no model to compare with
        yet (no champion): ``roc_auc >= champion.roc_auc and roc_auc >= 0.7`` becomes
        ``roc_auc >= 0.7``."""

        def names_scope(node) -> bool:
            if isinstance(node, _Metric):
                return node.scope == scope
            if isinstance(node, _Negate):
                return names_scope(node.operand)
            if isinstance(node, _Arithmetic | _Comparison):
                return names_scope(node.left) or names_scope(node.right)
            return False

        def prune(node):
            if isinstance(node, _Comparison):
                return None if names_scope(node) else node
            kept = tuple(p for p in (prune(o) for o in node.operands) if p is not None)
            if not kept:
                return None
            return kept[0] if len(kept) == 1 else _Logical(node.op, kept)

        tree = prune(self.tree)
        return None if tree is None else Gate(self.text, tree)

    def check_names(self, known: Iterable[str], scopes: Iterable[str]) -> None:
        """Raise InvalidInput for a metric not in ``known`` or a model not in ``scopes``."""
        known, scopes = sorted(set(known)), set(scopes)
        for scope, name, pos in self.metrics():
            if name not in known:
                raise InvalidInput(
                    f"Unknown metric {name!r} in gate at position {pos}."
                    f"{did_you_mean(name, known)} Available metrics: {', '.join(known)}."
                )
            if scope not in scopes:
                raise InvalidInput(
                    f"The gate names {scope}.{name} (position {pos}), but there is no "
                    f"{scope} model in this evaluation. Give one with against=... (--against)."
                )

    def check(self, metrics: Mapping[str, Mapping[str, float]]) -> GateResult:
        """Decide the gate on ``{"candidate": {...}, "against": {...}, "baseline": {...}}``.

        Every clause is evaluated (none is short-circuited) so the details list them all.

        Raises:
            InvalidInput: the gate names a metric these results do not have.
        """
        for scope, name, pos in self.metrics():
            if name not in metrics.get(scope, {}):
                have = sorted(metrics.get(scope, {}))
                raise InvalidInput(
                    f"The gate needs {scope} metric {name!r} (position {pos}), which this "
                    f"evaluation could not compute. It has: {', '.join(have) or 'none'}."
                )
        details = []
        for clause in self.tree.clauses():
            verdict = clause.decide(metrics)
            details.append(
                f"{clause.left.render(metrics)} {clause.op} {clause.right.render(metrics)}: "
                f"{str(verdict).lower()}"
            )
        return GateResult(self.tree.decide(metrics), details)


def _fmt(value: float) -> str:
    return f"{value:.6g}"
