"""Checks on names and values that users log, with messages that say what to do.

Every value is checked here, once, before anything is written, so SQLite and PostgreSQL
accept exactly the same things and the direct and HTTP transports refuse the same things:
no NUL characters or lone surrogates in any stored text (PostgreSQL cannot store either),
integers within 64 bits, and free-form JSON of bounded depth and size (a document nested
deeper than a JSON encoder's recursion limit can be written but never read back).
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from keel.errors import InvalidInput

__all__ = [
    "INT64_MAX",
    "INT64_MIN",
    "MAX_JSON_DEPTH",
    "MAX_NAME",
    "CheckedText",
    "check_artifact_name",
    "check_key",
    "check_run_id",
    "check_started_at",
    "check_step",
    "check_text",
    "check_text_limit",
    "check_timestamp",
    "json_field",
    "limit_text",
    "metric_value",
    "text_values",
]

MAX_KEY = 250
MAX_NAME = 200
"""Widest experiment or run name (experiments.name, runs.name)."""
MAX_VALUE = 8000
MAX_JSON_DEPTH = 32
"""Deepest nesting of a run's ``code`` or ``environment`` (captured ones are 3 deep)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored unchanged in every database, or None if it can."""
    if "\x00" in text:
        return "contains a NUL character (\\x00)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"contains a lone surrogate ({text[exc.start]!r}) that is not valid Unicode"
    return None


def _show(value: object) -> str:
    """A short repr, also of integers too long for repr() (over 4300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of {value.bit_length()} bits"
    return f"{value!r:.60}"


_RUN_ID = re.compile(r"[0-9a-f]{32}")
_CLOCK_SKEW_MS = 24 * 3600 * 1000
"""How far after the store's clock a client may say its run started (another host)."""


def check_run_id(run_id: object) -> str:
    """A run id chosen by the client (a deferred run): 32 lowercase hex characters, as
    :func:`keel.store.new_id` makes them."""
    if type(run_id) is not str or not _RUN_ID.fullmatch(run_id):
        raise InvalidInput(
            f"A run id is 32 lowercase hex characters, as keel.store.new_id() makes them. "
            f"Got {_show(run_id)}."
        )
    return run_id


def check_started_at(started_at: object, now: int) -> int:
    """When a run started, in ms since the epoch: not negative, and not later than
    ``now`` (the store's clock) by more than a day of clock skew."""
    if (
        isinstance(started_at, bool)
        or not isinstance(started_at, numbers.Integral)
        or not 0 <= started_at <= now + _CLOCK_SKEW_MS
    ):
        raise InvalidInput(
            "A run's start time is an integer number of milliseconds since the epoch, not "
            f"in the future. Got {_show(started_at)}."
        )
    return int(started_at)


def check_text(what: str, text: str) -> str:
    """Refuse text that a database cannot store unchanged (NUL, lone surrogates)."""
    problem = _text_problem(text)
    if problem:
        raise InvalidInput(
            f"The {what} {text[:60]!r} {problem}. Remove it, or log binary data as an artifact."
        )
    return text


def check_key(kind: str, key: object, max_length: int = MAX_KEY) -> str:
    """A metric, param or tag name: a non-empty string of at most 250 characters (or
    ``max_length``: the width of the column it goes into)."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"A {kind} name must be a non-empty string. Got {key!r:.80}.")
    if len(key) > max_length or key != key.strip():
        raise InvalidInput(
            f"The {kind} name {key[:60]!r} ({len(key)} characters) must be at most {max_length} "
            "characters, without leading or trailing spaces. Use a shorter name."
        )
    if _text_problem(key):  # the message is built only for a problem
        check_text(f"{kind} name", key)
    return key


def check_text_limit(what: str, text: str, limit: int) -> str:
    """Text of at most ``limit`` characters that every database can store."""
    if len(text) > limit:
        raise InvalidInput(
            f"The {what} is {len(text)} characters long; the limit is {limit} "
            "(setting max_field_kb). Shorten it, or log it as an artifact."
        )
    return check_text(what, text)


def limit_text(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text`` (a traceback's end says the most)."""
    if len(text) <= limit:
        return text
    marker = "[... truncated by keel ...]\n"
    return marker + text[len(text) - limit + len(marker) :]


def metric_value(key: str, value: object) -> float:
    """A metric value as a float; NaN and infinities are kept, non-numbers refused."""
    if isinstance(value, numbers.Real):
        try:
            return float(value)
        except OverflowError as exc:
            raise InvalidInput(
                f"The value of metric {key!r} is too large for a 64-bit float: {_show(value)}."
            ) from exc
    if (
        hasattr(value, "item")
        and isinstance(getattr(value, "shape", None), tuple)
        and not value.shape
    ):
        return metric_value(key, value.item())  # a NumPy or torch scalar
    raise InvalidInput(
        f"The value of metric {key!r} must be a number (int, float, NumPy scalar). "
        f"Got {type(value).__name__} {value!r:.60}. Log text as a tag or param instead."
    )


def check_step(key: str, step: object) -> int:
    """A metric step: an integer from 0 to 2**63-1."""
    if (
        isinstance(step, bool)
        or not isinstance(step, numbers.Integral)
        or not 0 <= step <= INT64_MAX
    ):
        raise InvalidInput(
            f"The step of metric {key!r} must be an integer from 0 to 2**63-1. Got {_show(step)}."
        )
    return int(step)


def check_timestamp(key: str, timestamp: object) -> int:
    """A metric timestamp in milliseconds: an integer within 64 bits."""
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, numbers.Integral)
        or not INT64_MIN <= timestamp <= INT64_MAX
    ):
        raise InvalidInput(
            f"The timestamp of metric {key!r} must be an integer number of milliseconds "
            f"within 64 bits (-2**63 to 2**63-1). Got {_show(timestamp)}."
        )
    return int(timestamp)


class CheckedText(dict):
    """Params or tags that :func:`text_values` has checked and turned into text; given to
    it again (a deferred run's, on their way to the store in the same process), they are
    taken as they are. Only :func:`text_values` makes them."""

    __slots__ = ()


def text_values(kind: str, values: Mapping[str, Any] | None) -> dict[str, str]:
    """Params or tags as text; None and oversized values are refused."""
    if values is None:
        return CheckedText()
    if type(values) is CheckedText:
        return values
    if not isinstance(values, Mapping):
        raise InvalidInput(
            f"{kind.capitalize()}s must be a mapping of names to values. Got {values!r:.80}."
        )
    out: dict[str, str] = CheckedText()
    for key, value in values.items():
        check_key(kind, key)
        if value is None:
            raise InvalidInput(
                f"The {kind} {key!r} has no value (None). Give a value or leave it out."
            )
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_VALUE:
            raise InvalidInput(
                f"The {kind} {key!r} is {len(text)} characters long; the limit is {MAX_VALUE}. "
                "Log large values as an artifact."
            )
        if _text_problem(text):
            check_text(f"value of {kind} {key!r}", text)
        out[key] = text
    return out


def json_field(what: str, value: Mapping[str, Any] | None, max_bytes: int) -> dict[str, Any] | None:
    """A JSON object every database stores and every client reads back unchanged.

    At most :data:`MAX_JSON_DEPTH` levels deep and ``max_bytes`` long once serialised;
    string keys; text without NUL or lone surrogates; integers within 64 bits.
    """
    if not value:
        return None
    import orjson

    if not isinstance(value, Mapping):
        raise InvalidInput(f"The run's {what} must be a JSON object. Got {value!r:.80}.")
    # orjson (in C) refuses non-string keys, lone surrogates and integers past 64 bits;
    # the Python walk that names where a problem is runs only when something looks wrong.
    try:
        data = orjson.dumps(dict(value))
    except (TypeError, orjson.JSONEncodeError) as exc:
        _check_json_tree(what, value)
        raise InvalidInput(f"The run's {what} must be a JSON object: {exc}.") from exc
    if b"\\u0000" in data or (_may_need_walk(data) and _needs_walk(value)):
        _check_json_tree(what, value)
    if len(data) > max_bytes:
        raise InvalidInput(
            f"The run's {what} is {len(data)} bytes as JSON; the limit is {max_bytes} "
            "(setting max_field_kb). Record less, or log the rest as an artifact."
        )
    return orjson.loads(data)


_LONG_NUMBER = re.compile(rb"\d{19}")


def _may_need_walk(data: bytes) -> bool:
    """Cheap, in C: too few brackets to nest too deep and no 19-digit number means the
    document cannot break a depth or int64 rule (text may trigger a needless walk)."""
    return (
        data.count(b"{") + data.count(b"[") > MAX_JSON_DEPTH
        or _LONG_NUMBER.search(data) is not None
    )


def _needs_walk(root: Mapping[str, Any]) -> bool:
    """Whether containers nest deeper than allowed or an integer passes int64 (orjson takes
    unsigned 64-bit ones): a walk over containers and integers only, not text."""
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        for child in node.values() if isinstance(node, Mapping) else node:
            if isinstance(child, Mapping | list | tuple):
                stack.append((child, depth + 1))
            elif type(child) is int and child > INT64_MAX:
                return True
    return False


def _check_json_tree(what: str, root: Mapping[str, Any]) -> None:
    # Iterative, so a hostile document cannot exhaust the interpreter's stack either.
    stack: list[tuple[Any, int, str]] = [(root, 1, what)]
    while stack:
        node, depth, where = stack.pop()
        if isinstance(node, Mapping | list | tuple):
            if depth > MAX_JSON_DEPTH:
                raise InvalidInput(
                    f"The run's {what} is nested more than {MAX_JSON_DEPTH} levels deep "
                    f"(at {where[:80]}). Flatten it, or log it as an artifact."
                )
            if isinstance(node, Mapping):
                for key, child in node.items():
                    if not isinstance(key, str):
                        raise InvalidInput(
                            f"The run's {what} has a key that is not a string at {where[:80]}: "
                            f"{key!r:.60}. JSON objects have string keys."
                        )
                    _check_json_text(what, key, where)
                    stack.append((child, depth + 1, f"{where}.{key[:40]}"))
            else:
                stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(node))
        elif isinstance(node, str):
            _check_json_text(what, node, where)
        elif isinstance(node, int) and not INT64_MIN <= node <= INT64_MAX:
            raise InvalidInput(
                f"The run's {what} holds an integer outside 64 bits at {where[:80]}: "
                f"{_show(node)}. Store it as a string."
            )


def _check_json_text(what: str, text: str, where: str) -> None:
    problem = _text_problem(text)
    if problem:
        raise InvalidInput(
            f"The run's {what} has text at {where[:80]} that {problem}: {text[:60]!r}. "
            "Remove it, or log the data as an artifact."
        )


def check_artifact_name(name: object) -> str:
    """A relative POSIX path such as 'model.skops' or 'plots/roc.html'.

    Refused: absolute paths, '.', '..' and empty parts, a part starting with '~' (a home
    folder to a shell), backslashes and control characters, so that downloading the
    artifacts of a run into a folder can only ever write inside that folder.
    """
    if not isinstance(name, str) or not name or len(name) > 500:
        raise InvalidInput(
            "An artifact name must be a non-empty string of at most 500 characters. "
            f"Got {name!r:.80}."
        )
    path = PurePosixPath(name)
    if (
        path.is_absolute()
        or name != str(path)
        or "\\" in name
        or any(part in (".", "..") or part.startswith("~") for part in name.split("/"))
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    ):
        raise InvalidInput(
            f"The artifact name {name[:80]!r} must be a relative path like 'model.skops' or "
            "'plots/roc.html': no '.' or '..' parts, no leading '/' or '~', no backslashes or "
            "control characters."
        )
    return check_text("artifact name", name)
