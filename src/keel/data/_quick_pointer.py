"""Data pointers (``PATH.keel``) in the plain form keel writes, read and written with
the standard library's core alone.

:class:`keel.data._workspace.Pointer` reads any YAML and writes any name; it costs
``dataclasses``, ``re`` and ``pathlib`` at import. A clean ``keel data status`` or
``keel data add`` only needs the pointers keel itself wrote: ``key: value`` lines with
plain values. :func:`read_plain` reads those and answers ``None`` for anything else
(quoted or YAML-special values, a missing or malformed field, an unreadable file), and
:func:`plain_text` writes a pointer as ``Pointer.to_text`` does, or ``None`` when some
value would need quoting; the caller then goes the full way, which reads, writes and
reports as it always does (``tests/data/test_quick_clean.py`` checks both agree).
"""

from __future__ import annotations

__all__ = ["FIELDS", "HEADER", "plain_text", "read_plain"]

HEADER = "# keel data pointer: commit it with your code; 'keel data pull' restores the data."
FIELDS = ("name", "version", "digest", "path", "kind", "files", "size")
"""The fields of a pointer, in the order ``Pointer.to_text`` writes them."""

_KEY = frozenset("abcdefghijklmnopqrstuvwxyz_")
_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_NAME_START = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_HEX = frozenset("0123456789abcdef")
_NUMBERISH = frozenset("0123456789_.:eE+-")
_WORDS = frozenset(("true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"))
_YAML_START = "'[{&*!|>%@`\""  # values the fast reader of Pointer leaves to YAML, and quotes


def read_plain(file: str) -> dict[str, str | int] | None:
    """The fields of pointer ``file`` (``FIELDS``, ``files`` and ``size`` 0 when absent),
    checked as ``Pointer.read`` checks them; None for every doubt."""
    try:
        with open(file, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return None
    data: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, colon, rest = line.partition(":")
        value = rest.lstrip(" \t")
        if not colon or not key or not _KEY.issuperset(key) or value == rest:
            return None
        value = value.rstrip(" \t")
        if not value or value[0].isspace() or value[0] in _YAML_START or " #" in value:
            return None
        data[key] = value
    name, digest, path, kind = (data.get(k) for k in ("name", "digest", "path", "kind"))
    version = _number(data.get("version"), zero=False)
    files = _number(data.get("files", "0"), zero=True)
    size = _number(data.get("size", "0"), zero=True)
    if name is None or not (0 < len(name) <= 200 and name[0] in _NAME_START):
        return None
    if not _PLAIN.issuperset(name) or version is None or files is None or size is None:
        return None
    if digest is None or len(digest) != 64 or not _HEX.issuperset(digest):
        return None
    if path is None or path in (".", "..") or "/" in path or "\\" in path:
        return None
    if kind not in ("file", "folder"):
        return None
    return {
        "name": name,
        "version": version,
        "digest": digest,
        "path": path,
        "kind": kind,
        "files": files,
        "size": size,
    }


def plain_text(pointer: dict[str, str | int]) -> str | None:
    """``Pointer.to_text`` of ``pointer``; None when a value would be written quoted."""
    lines = [HEADER]
    for key in FIELDS:
        value = pointer[key]
        if not isinstance(value, int) and _needs_quotes(value):
            return None
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


def _number(value: str | None, *, zero: bool) -> int | None:
    if value is None or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if number >= (0 if zero else 1) else None


def _needs_quotes(text: str) -> bool:
    """Whether ``_scalar`` in keel.data._workspace quotes ``text``: anything but letters,
    digits, ``_.-``, or a word or number YAML would read as another type."""
    if not text or not _PLAIN.issuperset(text):
        return True
    if text.lower() in _WORDS:
        return True
    body = text[1:] if text[0] in "+-" else text
    if body[:1].isdigit() and _NUMBERISH.issuperset(body):
        return True
    return body[:1] == "." and body[1:].lower() in ("inf", "nan")
