"""Checking YAML specs (deployments, monitors) field by field, naming the line of a mistake.

A spec file is composed once to learn where each field stands; the checker then raises
:class:`~keel.errors.InvalidInput` messages such as ``deploy.yaml line 7 (routes.1.weight):
150 is out of range`` for a parsed file, or ``Deployment field routes.1.weight: ...`` for a
spec built from a dict.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from keel.errors import InvalidInput

__all__ = ["COLUMN_RE", "NAME_RE", "Checker", "Locator", "field_lines", "load", "read_text"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
COLUMN_RE = re.compile(r"^.{1,200}$", re.S)


def read_text(source: str | Path, what: str) -> tuple[str, str]:
    """``(text, where)`` of a spec given as a path (``*.yaml``/``*.yml`` or a Path) or as
    text; ``where`` names the file, or ``the <what>`` for text."""
    where = f"the {what}"
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))
    ):
        path = Path(source)
        where = str(path)
        try:
            return path.read_text(encoding="utf-8"), where
        except FileNotFoundError:
            raise InvalidInput(f"No {what} file {where}: check the path.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"Cannot read {where}: {exc}.") from None
    return source, where


def load(text: str, where: str, what: str, fields: str) -> tuple[Any, Any]:
    """``(data, node)``: the YAML ``text`` as Python data and as a composed node tree;
    ``fields`` names what the mapping needs, for the message when it is not one.

    Raises:
        InvalidInput: the text is not YAML (naming the line) or not a mapping.
    """
    import yaml

    if not isinstance(text, str):
        raise InvalidInput(f"{where}: a {what} is YAML text, not {type(text).__name__}.")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{where}{line}: not valid YAML ({problem}).") from None
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where}: a {what} is a mapping with {fields}.")
    return data, node


def field_lines(node: Any, prefix: str = "") -> dict[str, int]:
    """The line of every field and list item in a composed YAML document, by dotted path."""
    import yaml

    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        children = [(getattr(k, "value", None), v) for k, v in node.value]
    elif isinstance(node, yaml.SequenceNode):
        children = list(enumerate(node.value))
    else:
        return lines
    for key, child in children:
        if not isinstance(key, str | int):
            continue
        path = f"{prefix}.{key}" if prefix else str(key)
        lines[path] = child.start_mark.line + 1
        lines.update(field_lines(child, path))
    return lines


class Locator:
    """Finds the line of a path (``("routes", 1, "weight")``) in a composed YAML document."""

    def __init__(self, node: Any, where: str) -> None:
        self.node = node
        self.where = where

    def line(self, path: Sequence[str | int]) -> int | None:
        import yaml

        node = self.node
        found = node
        for key in path:
            if isinstance(node, yaml.MappingNode):
                match = [v for k, v in node.value if getattr(k, "value", None) == key]
                if not match:
                    break
                node = match[0]
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                if key >= len(node.value):
                    break
                node = node.value[key]
            else:
                break
            found = node
        return found.start_mark.line + 1 if found is not None else None


class Checker:
    """Checks fields of a spec, raising errors that name the field (and its line).

    Args:
        locator: the composed file, or None for a spec built from a dict.
        what: the spec's kind for messages (``Deployment``, ``Monitor``).
    """

    def __init__(self, locator: Locator | None, what: str = "Deployment") -> None:
        self.locator = locator
        self.what = what

    def fail(self, path: Sequence[str | int], reason: str) -> InvalidInput:
        field_name = ".".join(str(p) for p in path) or self.what.lower()
        if self.locator is None:
            return InvalidInput(f"{self.what} field {field_name}: {reason}")
        line = self.locator.line(path)
        at = f" line {line}" if line is not None else ""
        return InvalidInput(f"{self.locator.where}{at} ({field_name}): {reason}")

    def mapping(self, value: Any, path: Sequence[str | int], known: set[str]) -> Mapping:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping of {', '.join(sorted(known))}.")
        unknown = [k for k in value if k not in known]
        if unknown:
            raise self.fail(
                [*path, str(unknown[0])],
                f"unknown field {unknown[0]!r}; known fields: {', '.join(sorted(known))}.",
            )
        return value

    def number(
        self,
        value: Any,
        path: Sequence[str | int],
        *,
        low: float,
        high: float,
        integer: bool = False,
        low_open: bool = False,
    ) -> float:
        kind = "a whole number" if integer else "a number"
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not float(value).is_integer())
            or not math.isfinite(value)
        ):
            raise self.fail(path, f"expected {kind}, got {value!r}.")
        if value < low or value > high or (low_open and value == low):
            side = f"above {low:g}" if low_open else f"at least {low:g}"
            raise self.fail(path, f"{value!r} is out of range: {side} and at most {high:g}.")
        return int(value) if integer else float(value)

    def text(
        self,
        value: Any,
        path: Sequence[str | int],
        pattern: re.Pattern = NAME_RE,
        hint: str = "letters, digits, '.', '_' and '-'",
    ) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise self.fail(path, f"expected a name of {hint}, got {value!r}.")
        return value

    def names(self, value: Any, path: Sequence[str | int]) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(path, f"expected a list of column names, got {value!r}.")
        return tuple(
            self.text(v, [*path, i], COLUMN_RE, "1-200 characters") for i, v in enumerate(value)
        )
