"""Checks on names and values that users log, with messages that say what to do."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from keel.errors import InvalidInput

__all__ = ["check_artifact_name", "check_key", "check_step", "metric_value", "text_values"]

MAX_KEY = 250
MAX_VALUE = 8000


def check_key(kind: str, key: object) -> str:
    """A metric, param or tag name: a non-empty string of at most 250 characters."""
    if not isinstance(key, str) or not key.strip():
        raise InvalidInput(f"A {kind} name must be a non-empty string. Got {key!r}.")
    if len(key) > MAX_KEY or key != key.strip():
        raise InvalidInput(
            f"The {kind} name {key[:60]!r} must be at most {MAX_KEY} characters, "
            "without leading or trailing spaces."
        )
    return key


def metric_value(key: str, value: object) -> float:
    """A metric value as a float; NaN and infinities are kept, non-numbers refused."""
    if isinstance(value, numbers.Real):
        return float(value)
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
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise InvalidInput(f"The step of metric {key!r} must be an integer >= 0. Got {step!r}.")
    return int(step)


def text_values(kind: str, values: Mapping[str, Any] | None) -> dict[str, str]:
    """Params or tags as text; None and oversized values are refused."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidInput(
            f"{kind.capitalize()}s must be a mapping of names to values. Got {values!r:.80}."
        )
    out: dict[str, str] = {}
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
        out[key] = text
    return out


def check_artifact_name(name: object) -> str:
    """A relative POSIX path such as 'model.skops' or 'plots/roc.html'."""
    if not isinstance(name, str) or not name or len(name) > 500:
        raise InvalidInput(
            f"An artifact name must be a non-empty string of at most 500 characters. Got {name!r}."
        )
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or name != str(path):
        raise InvalidInput(
            f"The artifact name {name!r} must be a relative path like 'model.skops' or "
            "'plots/roc.html', without '..', backslashes or a leading '/'."
        )
    return name
