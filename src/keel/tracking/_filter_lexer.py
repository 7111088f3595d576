"""Tokens of the run search filter language, a cursor over them, and errors with a caret.

The grammar, its meaning and its SQL live in :mod:`keel.tracking._filter`.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from keel.errors import InvalidInput

__all__ = ["Token", "TokenStream", "error", "quote", "tokenize"]


class Token(NamedTuple):
    """One token: its kind, its exact source text, its value and where it starts.

    Kinds: ``word`` (identifiers and keywords), ``number`` (value is a float), ``string``
    (value is the unescaped text; ``text[0]`` is the quote: ``'``, ``"`` or a backtick),
    ``op`` (value is the canonical operator), ``(``, ``)``, ``,`` and ``end``.
    """

    kind: str
    text: str
    value: str | float
    pos: int

    @property
    def end(self) -> int:
        return self.pos + len(self.text)


# Identifiers run on through the characters a key may hold, so metrics.val-loss/x:y is one
# word; a key with any other character is quoted. The number pattern refuses to stop in
# the middle of a word or of another number, so "1e5x" and "1.2.3" are errors, not two tokens.
_WORD = re.compile(r"[^\W\d][\w\-/.:]*")
_NUMBER = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|(?i:infinity|inf|nan))"
    r"(?![\w.])"
)
_NUMBERISH = re.compile(r"[+-]?[\w.]+(?:[eE][+-][\w.]*)?")
_OPERATOR = re.compile(r"==|!=|<>|<=|>=|=|<|>")
_CANONICAL_OPERATOR = {"==": "=", "<>": "!="}
_SPACE = re.compile(r"\s+")
_QUOTES = "'\"`"


def tokenize(text: str, what: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``end`` token.

    Raises:
        InvalidInput: an unexpected character, a malformed number or an unterminated
            string, with a caret under it. ``what`` names the text in the message.
    """
    tokens: list[Token] = []
    pos = 0
    while True:
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
        if pos >= len(text):
            tokens.append(Token("end", "", "", len(text)))
            return tokens
        char = text[pos]
        if char in _QUOTES:
            token = _string(text, pos, what)
        elif char in "(),":
            token = Token(char, char, char, pos)
        elif match := _NUMBER.match(text, pos):
            number = float(match.group())
            # one nan object, so that equal filters compare equal (nan != nan as floats)
            token = Token("number", match.group(), math.nan if number != number else number, pos)
        elif match := _WORD.match(text, pos):
            token = Token("word", match.group(), match.group(), pos)
        elif match := _OPERATOR.match(text, pos):
            op = match.group()
            token = Token("op", op, _CANONICAL_OPERATOR.get(op, op), pos)
        elif (match := _NUMBERISH.match(text, pos)) and (char.isdigit() or char in "+-."):
            raise error(text, what, pos, len(match.group()), f"{match.group()!r} is not a number.")
        else:
            problem = f"unexpected character {char!r}."
            if char == "\x00":
                problem = "the text contains a NUL character, which no value may hold."
            raise error(text, what, pos, 1, problem)
        tokens.append(token)
        pos = token.end


def _string(text: str, start: int, what: str) -> Token:
    """A quoted string from ``start``. A backslash escapes a quote or a backslash, and a
    doubled quote stands for one quote; other backslashes are kept, so LIKE '5\\%' works."""
    quote = text[start]
    chars: list[str] = []
    pos = start + 1
    while pos < len(text):
        char = text[pos]
        if char == "\\" and text[pos + 1 : pos + 2] in (*_QUOTES, "\\"):
            chars.append(text[pos + 1])
            pos += 2
        elif char == quote and text.startswith(quote * 2, pos):
            chars.append(quote)
            pos += 2
        elif char == quote:
            return Token("string", text[start : pos + 1], "".join(chars), start)
        elif char == "\x00":
            raise error(text, what, pos, 1, "a string holds a NUL character, which is not allowed.")
        else:
            chars.append(char)
            pos += 1
    raise error(
        text,
        what,
        start,
        len(text) - start,
        f"unterminated string starting with {quote}: add the closing {quote}.",
    )


def quote(text: str, mark: str = "'") -> str:
    """``text`` as a string token that :func:`tokenize` reads back as ``text``."""
    return mark + text.replace("\\", "\\\\").replace(mark, "\\" + mark) + mark


class TokenStream:
    """The tokens of one text, read one at a time by a parser, and its error messages."""

    def __init__(self, text: str, what: str) -> None:
        self.text, self.what = text, what
        self.tokens = tokenize(text, what)
        self.index = self.last_end = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index = min(self.index + 1, len(self.tokens) - 1)
        self.last_end = token.end
        return token

    def keyword(self, *words: str) -> str | None:
        """Take the next token if it is one of the (lower-case) words; return it upper-cased."""
        token = self.peek()
        if token.kind == "word" and token.text.lower() in words:
            return self.take().text.upper()
        return None

    def error(self, token: Token, problem: str, *, verb: str = "Cannot parse") -> InvalidInput:
        return error(self.text, self.what, token.pos, len(token.text), problem, verb=verb)

    def expected(self, what: str) -> InvalidInput:
        token = self.peek()
        got = f"the end of {self.what}" if token.kind == "end" else repr(token.text)
        return self.error(token, f"expected {what}, got {got}.")

    def expect_end(self, what: str) -> None:
        if self.peek().kind != "end":
            raise self.expected(what)


def error(
    text: str, what: str, pos: int, length: int, problem: str, *, verb: str = "Cannot parse"
) -> InvalidInput:
    """An :class:`InvalidInput` saying what is wrong where, with the text and a caret.

    Example::

        Cannot parse the filter at position 18: expected 'and', 'or' or the end of the
        filter, got 'andd'.
          metrics.auc > 0.8 andd params.model = 'gbm'
                            ^^^^
    """
    shown = _SPACE.sub(lambda m: " " * len(m.group()), text)  # one column per character
    caret = " " * pos + "^" * max(1, min(length, len(shown) - pos))
    return InvalidInput(f"{verb} {what} at position {pos}: {problem}\n  {shown}\n  {caret}")
