"""Nouns that agree with their number in messages: "1 file", "2 files", never "file(s)"."""

from __future__ import annotations

from collections.abc import Sized

__all__ = ["count", "plural"]


def plural(n: int | Sized, noun: str, many: str | None = None) -> str:
    """``noun`` as it agrees with ``n`` (a number, or a collection's length): ``noun`` for
    one, ``many`` (``noun + "s"`` by default) otherwise.

    Example::

        >>> plural(1, "project"), plural(["a", "b"], "column"), plural(0, "is", "are")
        ('project', 'columns', 'are')
    """
    number = n if isinstance(n, int) else len(n)
    return noun if number == 1 else (many or noun + "s")


def count(n: int | Sized, noun: str, many: str | None = None) -> str:
    """``1 file``, ``2 files``, ``1,024 rows``: a number (or a collection's length) and its
    noun, agreeing.

    Example::

        >>> count(1, "file"), count(1024, "row"), count([], "entry", "entries")
        ('1 file', '1,024 rows', '0 entries')
    """
    number = n if isinstance(n, int) else len(n)
    return f"{number:,} {plural(number, noun, many)}"
