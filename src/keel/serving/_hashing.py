"""The keyed hash that replaces personal values in prediction logs (``logging.hash``).

One secret per store (the ``predictions_salt`` setting, or a random one kept in
``.keel/predictions.salt`` beside a SQLite database) and one key per project derived from
it, so hashed columns of one project can be joined with each other (feedback by key,
erasure by value) but not with another project's, and nobody who can read the logs but not
the secret can test guesses of a value against them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from keel.config import Config, sqlite_path
from keel.errors import ConfigError

__all__ = ["SALT_FILE", "hash_value", "hash_values", "project_key"]

SALT_FILE = "predictions.salt"
"""The secret's file beside a SQLite database when the setting is not given."""

_CONTEXT = "keel 2025 prediction log hashing v1"


def project_key(config: Config, project: str) -> bytes:
    """The 32-byte hashing key of ``project`` in the store ``config`` points at.

    Raises:
        ConfigError: no ``predictions_salt`` setting and no SQLite folder to keep one in.
    """
    from blake3 import blake3

    secret = _secret(config)
    master = blake3(secret, derive_key_context=_CONTEXT).digest()
    return blake3(project.encode(), key=master).digest()


def _secret(config: Config) -> bytes:
    if config.predictions_salt:
        return config.predictions_salt.encode()
    db_file = sqlite_path(config.uri)
    if db_file is None:
        where = config.uri.split("?")[0]
        raise ConfigError(
            f"Prediction logs hash columns with a secret, and the store {where!r} "
            "has no folder to keep one in. Set KEEL_PREDICTIONS_SALT (16 characters or more) "
            "to the same secret wherever predictions are logged or erased."
        )
    path = db_file.parent / SALT_FILE
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    return _create(path)


def _create(path: Path) -> bytes:
    value = secrets.token_hex(32).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(value)
    return value


def hash_value(key: bytes, value: Any) -> str | None:
    """The keyed hash of one value as 32 hex characters; None stays None.

    Values hash by their text, so ``5`` and ``"5"`` hash alike (a number logged from JSON
    matches the same number typed in an erasure).
    """
    from blake3 import blake3

    if value is None or (isinstance(value, float) and value != value):
        return None
    return blake3(str(value).encode(), key=key).hexdigest(length=16)


def hash_values(key: bytes, values: Iterable[Any]) -> list[str | None]:
    """:func:`hash_value` of each of ``values``."""
    return [hash_value(key, v) for v in values]
