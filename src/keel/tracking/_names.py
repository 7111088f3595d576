"""Friendly default run names ('brisk-heron-417'), easier to say than ids."""

from __future__ import annotations

import secrets

__all__ = ["random_run_name"]

_ADJECTIVES = (
    "amber",
    "bold",
    "brisk",
    "calm",
    "clever",
    "crisp",
    "daring",
    "eager",
    "fair",
    "gentle",
    "glad",
    "keen",
    "lively",
    "lucid",
    "merry",
    "nimble",
    "noble",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "serene",
    "sharp",
    "steady",
    "swift",
    "tidy",
    "vivid",
    "warm",
    "wise",
    "zesty",
)
_NOUNS = (
    "badger",
    "crane",
    "dolphin",
    "falcon",
    "fox",
    "gecko",
    "heron",
    "ibis",
    "jaguar",
    "koala",
    "lark",
    "lynx",
    "marten",
    "newt",
    "otter",
    "owl",
    "panda",
    "puffin",
    "quail",
    "raven",
    "robin",
    "salmon",
    "seal",
    "stork",
    "swan",
    "tern",
    "tiger",
    "viper",
    "wren",
    "yak",
)


def random_run_name() -> str:
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_NOUNS)}-{secrets.randbelow(1000)}"
