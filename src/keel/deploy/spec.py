"""Deployment specs: the YAML file a team keeps in git, parsed and checked before anything runs.

A deployment names a model, the versions that answer (routes with weights summing to 100),
shadow versions that see live traffic but never answer, an optional sticky key, a canary
policy, micro-batching, prediction logging and request limits::

    name: credit-scoring
    model: credit
    routes:
      - {version: "@champion", weight: 90}
      - {version: "@challenger", weight: 10}
    shadow: ["credit:7"]
    sticky_key: customer_id
    canary: {steps: [5, 25, 50, 100], interval: 5m, max_error_rate: 0.01, max_p99_ms: 50}
    batching: {max_batch_size: 64, max_wait_ms: 2}
    logging: {sample: 1.0, exclude: [ssn], hash: [customer_id]}
    limits: {max_body_bytes: 1048576, max_queue: 1024}
    probabilities: true        # a classifier answers (and logs) its class probabilities

:func:`parse_spec` reads such a file and names the line of the first mistake;
:meth:`DeploymentSpec.for_model` makes the one-route spec ``keel serve credit@champion`` uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from keel._yaml_spec import COLUMN_RE as _COLUMN_RE
from keel._yaml_spec import Checker as _Checker
from keel._yaml_spec import Locator as _Locator
from keel._yaml_spec import field_lines as _field_lines
from keel._yaml_spec import load as _load
from keel._yaml_spec import read_text as _read_text
from keel.errors import InvalidInput

__all__ = [
    "Batching",
    "Canary",
    "DeploymentSpec",
    "Limits",
    "LoggingPolicy",
    "Route",
    "parse_duration",
    "parse_spec",
    "parse_spec_text",
    "qualify",
]

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object, *, what: str = "duration") -> float:
    """Seconds in ``500ms``, ``30s``, ``5m``, ``1h``, ``7d`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a duration such as '30s' or '5m', not {value!r}.")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(value) if isinstance(value, str) else None
        if match is None:
            raise InvalidInput(
                f"{what} must be a duration such as '500ms', '30s', '5m', '1h' or '7d', "
                f"not {value!r}."
            )
        seconds = float(match[1]) * _UNITS[match[2]]
    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput(f"{what} must be a positive duration, not {value!r}.")
    return seconds


def qualify(version: str, model: str) -> str:
    """A route's version as a full model reference: ``@champion`` -> ``credit@champion``,
    ``7`` -> ``credit:7``; ``other:3`` and ``other@x`` stay as they are."""
    version = version.strip()
    if version.startswith("@"):
        return f"{model}{version}"
    if version.isdigit():
        return f"{model}:{version}"
    return version


@dataclass(frozen=True)
class Route:
    """One answering version and its share of traffic (percent)."""

    version: str
    weight: float = 100.0


@dataclass(frozen=True)
class Canary:
    """Walk the traffic of a new rollout's routes up ``steps`` (percent), one step per
    ``interval`` seconds, while the new versions' error rate and p99 latency stay in bounds."""

    steps: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)
    interval: float = 300.0
    max_error_rate: float = 0.01
    max_p99_ms: float | None = None
    min_requests: int = 20
    """Requests a step must see before it is judged; fewer and the step waits."""


@dataclass(frozen=True)
class Batching:
    """Requests arriving together are predicted as one batch of at most ``max_batch_size``
    rows, the first waiting at most ``max_wait_ms`` for others."""

    max_batch_size: int = 64
    max_wait_ms: float = 2.0


@dataclass(frozen=True)
class LoggingPolicy:
    """Which predictions are logged, and what is kept of their inputs: columns in
    ``exclude`` are dropped, columns in ``hash`` are replaced by a keyed hash."""

    enabled: bool = True
    sample: float = 1.0
    exclude: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 1024 * 1024
    max_queue: int = 1024


@dataclass(frozen=True)
class DeploymentSpec:
    """A deployment as its YAML file states it (see the module docstring)."""

    name: str
    model: str
    routes: tuple[Route, ...]
    shadow: tuple[str, ...] = ()
    sticky_key: str | None = None
    canary: Canary | None = None
    batching: Batching = field(default_factory=Batching)
    logging: LoggingPolicy = field(default_factory=LoggingPolicy)
    limits: Limits = field(default_factory=Limits)
    probabilities: bool = False
    """Answer with each row's class probabilities instead of its predicted class (a
    classifier's ``predict_proba``); the prediction log keeps both, which a monitor needs
    for ROC AUC. Left out of :meth:`to_dict` when false, as specs recorded before it were."""
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    """Where each field stood in its YAML file (``{"routes.1.version": 7}``); empty unless
    the spec came from :func:`parse_spec`. Not part of the spec: ignored by ``==`` and
    :meth:`to_dict`."""
    source: str | None = field(default=None, compare=False, repr=False)
    """The file (or ``"the deployment"`` for text) the spec was parsed from, if it was."""

    def locate(self, path: str) -> str:
        """Where a field is, for a message: ``deploy.yaml line 7 (routes.1.version)`` for a
        parsed spec, ``deployment field routes.1.version`` otherwise."""
        if self.source is None:
            return f"Deployment field {path}"
        probe = path
        while probe and probe not in self.lines:
            probe = probe.rpartition(".")[0]
        line = self.lines.get(probe) if probe else None
        at = f" line {line}" if line is not None else ""
        return f"{self.source}{at} ({path})"

    @property
    def refs(self) -> tuple[str, ...]:
        """Every model reference the deployment serves: routes first, then shadows."""
        seen: dict[str, None] = {}
        for route in self.routes:
            seen[qualify(route.version, self.model)] = None
        for ref in self.shadow:
            seen[qualify(ref, self.model)] = None
        return tuple(seen)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON-able data (what a rollout records)."""
        data = asdict(self)
        del data["lines"], data["source"]
        if self.canary is None:
            data["canary"] = None
        if not self.probabilities:
            del data["probabilities"]
        return _lists(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeploymentSpec:
        """The spec :meth:`to_dict` gave, or the mapping a YAML file holds; checked."""
        return _build(data, None)

    @classmethod
    def for_model(cls, ref: str, **options: Any) -> DeploymentSpec:
        """The deployment ``keel serve credit@champion`` runs: one route, named after the model."""
        from keel.registry import parse_model_ref

        parsed = parse_model_ref(ref)
        return cls.from_dict(
            {
                "name": parsed.name,
                "model": parsed.name,
                "routes": [{"version": ref.strip(), "weight": 100}],
                **options,
            }
        )


def parse_spec(source: str | Path) -> DeploymentSpec:
    """Read a deployment YAML file (a path) or text, naming the line of any mistake.

    Raises:
        InvalidInput: the YAML does not parse, or a field is missing, unknown or wrong;
            the message names the line and the reason.
    """

    text, where = _read_text(source, "deployment")
    return parse_spec_text(text, source=where)


def parse_spec_text(text: str, *, source: str = "the deployment") -> DeploymentSpec:
    """Read a deployment from YAML ``text`` (never a path), naming ``source`` and the line
    of any mistake; what a server does with a spec a client sent.

    Raises:
        InvalidInput: as :func:`parse_spec`.
    """
    where = source
    data, node = _load(text, where, "deployment", "name, model and routes")
    spec = _build(data, _Locator(node, where))
    return replace(spec, lines=_field_lines(node), source=where)


_TOP = {
    "name",
    "model",
    "routes",
    "shadow",
    "sticky_key",
    "canary",
    "batching",
    "logging",
    "limits",
    "description",
    "probabilities",
}


def _build(data: Mapping[str, Any], locator: _Locator | None) -> DeploymentSpec:
    from keel.registry import parse_model_ref

    c = _Checker(locator)
    c.mapping(data, [], _TOP)
    for required in ("name", "model"):
        if required not in data:
            raise c.fail([], f"missing field {required!r}.")
    name = c.text(data["name"], ["name"])
    model = c.text(data["model"], ["model"])
    raw_routes = data.get("routes") or [{"version": "@champion", "weight": 100}]
    if not isinstance(raw_routes, list) or not raw_routes:
        raise c.fail(["routes"], "expected a list of {version, weight}.")
    routes: list[Route] = []
    for i, raw in enumerate(raw_routes):
        if isinstance(raw, str):
            raw = {"version": raw, "weight": 100 if len(raw_routes) == 1 else None}
        c.mapping(raw, ["routes", i], {"version", "weight"})
        version = raw.get("version")
        if not isinstance(version, str | int) or isinstance(version, bool):
            raise c.fail(["routes", i, "version"], "expected '@alias', 'N' or 'model:N'.")
        version = str(version)
        try:
            parse_model_ref(qualify(version, model))
        except InvalidInput as exc:
            raise c.fail(["routes", i, "version"], str(exc)) from None
        weight = c.number(raw.get("weight"), ["routes", i, "weight"], low=0, high=100)
        routes.append(Route(version, weight))
    total = sum(r.weight for r in routes)
    if abs(total - 100) > 1e-6:
        raise c.fail(["routes"], f"weights sum to {total:g}; they must sum to 100.")
    refs = [qualify(r.version, model) for r in routes]
    if len(set(refs)) != len(refs):
        raise c.fail(["routes"], "a version is routed twice; give each version one route.")
    shadow_raw = data.get("shadow") or []
    if not isinstance(shadow_raw, list):
        raise c.fail(["shadow"], "expected a list of model references such as 'credit:7'.")
    shadow: list[str] = []
    for i, ref in enumerate(shadow_raw):
        if not isinstance(ref, str | int) or isinstance(ref, bool):
            raise c.fail(["shadow", i], "expected a model reference such as 'credit:7'.")
        try:
            parse_model_ref(qualify(str(ref), model))
        except InvalidInput as exc:
            raise c.fail(["shadow", i], str(exc)) from None
        if qualify(str(ref), model) in refs:
            raise c.fail(["shadow", i], f"{ref} already answers in routes; shadow another.")
        shadow.append(str(ref))
    sticky = data.get("sticky_key")
    if sticky is not None:
        sticky = c.text(sticky, ["sticky_key"], _COLUMN_RE, "1-200 characters")
    probabilities = data.get("probabilities", False)
    if not isinstance(probabilities, bool):
        raise c.fail(["probabilities"], f"expected true or false, got {probabilities!r}.")
    return DeploymentSpec(
        name=name,
        model=model,
        routes=tuple(routes),
        shadow=tuple(shadow),
        sticky_key=sticky,
        canary=_canary(c, data.get("canary")),
        batching=_batching(c, data.get("batching")),
        logging=_logging(c, data.get("logging")),
        limits=_limits(c, data.get("limits")),
        probabilities=probabilities,
    )


def _canary(c: _Checker, raw: Any) -> Canary | None:
    if raw is None or raw is False:
        return None
    c.mapping(
        raw, ["canary"], {"steps", "interval", "max_error_rate", "max_p99_ms", "min_requests"}
    )
    default = Canary()
    steps_raw = raw.get("steps", list(default.steps))
    if not isinstance(steps_raw, list) or not steps_raw:
        raise c.fail(["canary", "steps"], "expected a list of percentages such as [5, 25, 100].")
    steps = tuple(
        c.number(s, ["canary", "steps", i], low=0, high=100, low_open=True)
        for i, s in enumerate(steps_raw)
    )
    if list(steps) != sorted(set(steps)) or steps[-1] != 100:
        raise c.fail(["canary", "steps"], "steps must rise strictly and end at 100.")
    try:
        interval = parse_duration(raw.get("interval", default.interval), what="interval")
    except InvalidInput as exc:
        raise c.fail(["canary", "interval"], str(exc)) from None
    p99 = raw.get("max_p99_ms")
    return Canary(
        steps=steps,
        interval=interval,
        max_error_rate=c.number(
            raw.get("max_error_rate", default.max_error_rate),
            ["canary", "max_error_rate"],
            low=0,
            high=1,
        ),
        max_p99_ms=None
        if p99 is None
        else c.number(p99, ["canary", "max_p99_ms"], low=0, high=3_600_000, low_open=True),
        min_requests=int(
            c.number(
                raw.get("min_requests", default.min_requests),
                ["canary", "min_requests"],
                low=0,
                high=10**9,
                integer=True,
            )
        ),
    )


def _batching(c: _Checker, raw: Any) -> Batching:
    if raw is None:
        return Batching()
    c.mapping(raw, ["batching"], {"max_batch_size", "max_wait_ms"})
    default = Batching()
    return Batching(
        max_batch_size=int(
            c.number(
                raw.get("max_batch_size", default.max_batch_size),
                ["batching", "max_batch_size"],
                low=1,
                high=100_000,
                integer=True,
            )
        ),
        max_wait_ms=c.number(
            raw.get("max_wait_ms", default.max_wait_ms),
            ["batching", "max_wait_ms"],
            low=0,
            high=10_000,
        ),
    )


def _logging(c: _Checker, raw: Any) -> LoggingPolicy:
    if raw is None:
        return LoggingPolicy()
    if raw is False:
        return LoggingPolicy(enabled=False)
    c.mapping(raw, ["logging"], {"enabled", "sample", "exclude", "hash"})
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise c.fail(["logging", "enabled"], f"expected true or false, got {enabled!r}.")
    exclude = c.names(raw.get("exclude"), ["logging", "exclude"])
    hashed = c.names(raw.get("hash"), ["logging", "hash"])
    both = set(exclude) & set(hashed)
    if both:
        raise c.fail(["logging", "hash"], f"{sorted(both)[0]!r} is both excluded and hashed.")
    return LoggingPolicy(
        enabled=enabled,
        sample=c.number(raw.get("sample", 1.0), ["logging", "sample"], low=0, high=1),
        exclude=exclude,
        hash=hashed,
    )


def _limits(c: _Checker, raw: Any) -> Limits:
    if raw is None:
        return Limits()
    c.mapping(raw, ["limits"], {"max_body_bytes", "max_queue"})
    default = Limits()
    return Limits(
        max_body_bytes=int(
            c.number(
                raw.get("max_body_bytes", default.max_body_bytes),
                ["limits", "max_body_bytes"],
                low=1,
                high=2**31,
                integer=True,
            )
        ),
        max_queue=int(
            c.number(
                raw.get("max_queue", default.max_queue),
                ["limits", "max_queue"],
                low=1,
                high=10**7,
                integer=True,
            )
        ),
    )


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_lists(v) for v in value]
    return value
