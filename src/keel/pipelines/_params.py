"""Typed pipeline params: read from a function's signature, checked and coerced before a run.

A param's type comes from its annotation (``int``, ``float``, ``str``, ``bool``, ``list``,
``dict``) or else its default's type; a param with neither takes any JSON value. Values
given as text (``--param month=7`` on the command line) are parsed; lists and dicts as JSON.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Mapping
from typing import Any

from keel.errors import InvalidInput, did_you_mean

__all__ = ["TYPES", "check_params", "coerce", "params_of", "parse_assignments"]

TYPES = ("int", "float", "str", "bool", "list", "dict", "json")
_BY_PYTHON = {int: "int", float: "float", str: "str", bool: "bool", list: "list", dict: "dict"}
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def params_of(fn: Callable[..., Any]) -> dict[str, dict[str, Any]]:
    """``{name: {"type", "default"}}`` of ``fn``'s parameters (no default: ``required``)."""
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # an annotation naming something not importable here
        hints = {}
    out: dict[str, dict[str, Any]] = {}
    for name, parameter in inspect.signature(fn).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise InvalidInput(
                f"Pipeline {fn.__name__!r} takes *{name}: a pipeline's params must be named "
                "one by one (with a type hint or a default) so runs can be checked and recorded."
            )
        hint = typing.get_origin(hints.get(name)) or hints.get(name)
        default = parameter.default
        kind = _BY_PYTHON.get(hint) if hint is not None else None  # type: ignore[call-overload]
        if kind is None and default is not parameter.empty and default is not None:
            kind = _BY_PYTHON.get(type(default))
        entry: dict[str, Any] = {"type": kind or "json"}
        if default is parameter.empty:
            entry["required"] = True
        else:
            entry["default"] = coerce(name, default, entry["type"], what=f"{fn.__name__}'s default")
        out[name] = entry
    return out


def coerce(name: str, value: Any, kind: str, *, what: str = "param") -> Any:
    """``value`` as a ``kind`` param (text is parsed), or a clear :class:`InvalidInput`."""
    if isinstance(value, str) and kind != "str":
        value = _parse_text(name, value, kind)
    ok = {
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "list": lambda v: isinstance(v, (list, tuple)),
        "dict": lambda v: isinstance(v, Mapping),
        "json": lambda v: True,
    }[kind]
    if value is None or not ok(value):
        raise InvalidInput(
            f"The {what} {name!r} must be {_article(kind)}. Got {_show(value)} "
            f"({type(value).__name__}) instead."
        )
    if kind == "float":
        return float(value)
    if kind == "list":
        value = list(value)
    if kind == "dict":
        value = dict(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"The {what} {name!r} must be a JSON value (numbers, text, booleans, lists, "
            f"dicts) so it can be recorded. Got {_show(value)}."
        ) from None
    return value


def _parse_text(name: str, text: str, kind: str) -> Any:
    stripped = text.strip()
    try:
        if kind == "int":
            return int(stripped)
        if kind == "float":
            return float(stripped)
        if kind == "bool":
            if stripped.lower() in _TRUE | _FALSE:
                return stripped.lower() in _TRUE
            raise ValueError
        if kind in ("list", "dict"):
            return json.loads(stripped)
        try:  # json: a number, list or dict if it reads as one, else the text itself
            return json.loads(stripped)
        except ValueError:
            return text
    except ValueError:
        raise InvalidInput(
            f"The param {name!r} must be {_article(kind)}. Got {_show(text)}, which does not "
            f"read as one{' (write lists and dicts as JSON)' if kind in ('list', 'dict') else ''}."
        ) from None


def check_params(
    pipeline: str, declared: Mapping[str, Mapping[str, Any]], given: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Every declared param's value: ``given`` checked and coerced, defaults filled in.

    Raises:
        InvalidInput: an unknown name (with a did-you-mean), a missing required param, or a
            value of the wrong type. Nothing has run yet.
    """
    if given is not None and not isinstance(given, Mapping):
        raise InvalidInput(f"Params of pipeline {pipeline!r} must be a dict of name -> value.")
    given = dict(given or {})
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise InvalidInput(
                f"Pipeline {pipeline!r} has no param {name!r}.{did_you_mean(name, list(declared))}"
                f" Its params: {known}."
            )
    out: dict[str, Any] = {}
    for name, entry in declared.items():
        if name in given:
            out[name] = coerce(name, given[name], entry.get("type", "json"))
        elif entry.get("required"):
            raise InvalidInput(
                f"Pipeline {pipeline!r} needs the param {name!r} ({entry.get('type')}), which "
                f"has no default. Give it, e.g. --param {name}=... or run({{{name!r}: ...}})."
            )
        else:
            out[name] = entry.get("default")
    return out


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    """``["month=7", "c=0.5"]`` -> ``{"month": "7", "c": "0.5"}`` (typed later)."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"A param is written name=value, e.g. month=7. Got {pair!r}.")
        out[name.strip()] = value
    return out


def _article(kind: str) -> str:
    return {
        "int": "an int (a whole number)",
        "float": "a float (a number)",
        "str": "a str (text)",
        "bool": "a bool (true or false)",
        "list": "a list",
        "dict": "a dict",
        "json": "a JSON value",
    }[kind]


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
