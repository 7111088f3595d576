"""Registry records: model versions, references, policies, approvals, history."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from keel._plural import plural
from keel.errors import InvalidInput

__all__ = ["AliasRule", "HistoryEvent", "ModelRef", "ModelVersion", "Policy", "parse_model_ref"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,99}$")
_REF_RE = re.compile(r"^(?P<name>[^:@]+)(?::[vV]?(?P<version>\d+)|@(?P<alias>[^:@]+))?$")
"""``name``, ``name:N``, ``name:vN`` (the datasets' form, accepted too) or ``name@alias``."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, such as ``credit:4``."""

    id: str
    model: str
    version: int
    flavor: str
    package_digest: str
    created_at: int
    signature: dict[str, Any] | None = None
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    description: str | None = None
    aliases: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.model}:{self.version}"

    def __str__(self) -> str:
        return self.ref

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ref"] = self.ref
        data["aliases"] = list(self.aliases)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelVersion:
        """The version :meth:`to_dict` gave (as a keel server sends it)."""
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        known["aliases"] = tuple(known.get("aliases") or ())
        known["metrics"] = dict(known.get("metrics") or {})
        return cls(**known)


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None


def check_model_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidInput(
            f"Model name {name!r} is not valid: use 1 to 200 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (e.g. 'credit-default')."
        )
    return name


def check_metrics(metrics: object) -> dict[str, float]:
    """``metrics`` as {name: float}; InvalidInput naming the first bad entry."""
    if metrics is None:
        return {}
    if not hasattr(metrics, "items"):
        raise InvalidInput(f"Metrics are a mapping of name to number. Got {metrics!r:.80}.")
    out = {}
    for key, value in metrics.items():  # type: ignore[attr-defined]
        if not isinstance(key, str) or not 0 < len(key) <= 250:
            raise InvalidInput(
                f"Metric name {key!r:.80} is not valid: use a string of 1 to 250 characters."
            )
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(
                f"Metric {key!r:.80} must be a number. Got {value!r:.80} instead."
            ) from None
    return out


def check_alias(alias: object) -> str:
    if not isinstance(alias, str) or not ALIAS_RE.match(alias) or alias == "latest":
        raise InvalidInput(
            f"Alias {alias!r} is not valid: start with a letter, then letters, digits, '_' or '-' "
            "(e.g. 'champion'); 'latest' is reserved for the newest version."
        )
    return alias


def parse_model_ref(ref: object) -> ModelRef:
    """``credit`` (latest), ``credit:4`` (or ``credit:v4``, as datasets are written),
    ``credit@champion`` or ``credit@latest``. A version prints as ``credit:4``."""
    if not isinstance(ref, str) or not (match := _REF_RE.match(ref.strip())):
        raise InvalidInput(
            f"Cannot read the model reference {ref!r}. Write 'name', 'name:N' (or 'name:vN') "
            "or 'name@alias', e.g. 'credit:4' or 'credit@champion'."
        )
    name = check_model_name(match["name"])
    alias = match["alias"]
    return ModelRef(
        name,
        int(match["version"]) if match["version"] else None,
        None if alias in (None, "latest") else alias,
    )


@dataclass(frozen=True)
class AliasRule:
    """What moving one alias requires."""

    approvals: int = 0
    gate: bool = False
    """A passing evaluation gate must be recorded for the version."""
    four_eyes: bool = False
    """The approvals must come from people other than whoever registered the version
    (at least one such approval, however few ``approvals`` asks for)."""


@dataclass(frozen=True)
class Policy:
    """A model's promotion policy: rules per alias. Aliases without a rule move freely."""

    rules: dict[str, AliasRule] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"aliases": {alias: asdict(rule) for alias, rule in self.rules.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Policy:
        if not data:
            return cls()
        if not isinstance(data, dict) or not isinstance(data.get("aliases", {}), dict):
            raise InvalidInput(
                "A policy looks like {'aliases': {'champion': {'approvals': 1, 'gate': True}}}."
            )
        rules = {}
        for alias, rule in data.get("aliases", {}).items():
            check_alias(alias)
            if not isinstance(rule, dict):
                raise InvalidInput(
                    f"The rule for alias {alias!r} must be a mapping such as "
                    f"{{'approvals': 1, 'gate': True, 'four_eyes': True}}. Got {rule!r:.80}."
                )
            unknown = set(rule) - {"approvals", "gate", "four_eyes"}
            if unknown:
                raise InvalidInput(
                    f"Unknown policy {plural(unknown, 'setting')} {sorted(unknown)} "
                    f"for alias {alias!r}; "
                    "use 'approvals' (a count), 'gate' and 'four_eyes' (true or false)."
                )
            approvals = rule.get("approvals", 0)
            if not isinstance(approvals, int) or isinstance(approvals, bool) or approvals < 0:
                raise InvalidInput(f"approvals for alias {alias!r} must be an integer >= 0.")
            flags = {}
            for flag in ("gate", "four_eyes"):
                value = rule.get(flag, False)
                if not isinstance(value, bool):
                    raise InvalidInput(
                        f"{flag} for alias {alias!r} must be true or false. Got {value!r:.40}."
                    )
                flags[flag] = value
            rules[alias] = AliasRule(approvals, flags["gate"], flags["four_eyes"])
        return cls(rules)


@dataclass(frozen=True)
class HistoryEvent:
    """One entry of ``keel models history``: who did what, when, and why."""

    at: int
    actor: str
    action: str
    target: str
    details: dict[str, Any]
