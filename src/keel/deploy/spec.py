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

:func:`parse_spec` reads such a file and names the line of the first mistake;
:meth:`DeploymentSpec.for_model` makes the one-route spec ``keel serve credit@champion`` uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

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

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$")
_COLUMN_RE = re.compile(r"^.{1,200}$", re.S)
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

    where = "the deployment"
    if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith((".yaml", ".yml"))
    ):
        path = Path(source)
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InvalidInput(f"No deployment file {where}: check the path.") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"Cannot read {where}: {exc}.") from None
    else:
        text = source
    return parse_spec_text(text, source=where)


def parse_spec_text(text: str, *, source: str = "the deployment") -> DeploymentSpec:
    """Read a deployment from YAML ``text`` (never a path), naming ``source`` and the line
    of any mistake; what a server does with a spec a client sent.

    Raises:
        InvalidInput: as :func:`parse_spec`.
    """
    import yaml

    where = source
    if not isinstance(text, str):
        raise InvalidInput(f"{where}: a deployment is YAML text, not {type(text).__name__}.")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{where}{line}: not valid YAML ({problem}).") from None
    if not isinstance(data, Mapping):
        raise InvalidInput(f"{where}: a deployment is a mapping with name, model and routes.")
    spec = _build(data, _Locator(node, where))
    return replace(spec, lines=_field_lines(node), source=where)


def _field_lines(node: Any, prefix: str = "") -> dict[str, int]:
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
        lines.update(_field_lines(child, path))
    return lines


class _Locator:
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


class _Checker:
    def __init__(self, locator: _Locator | None) -> None:
        self.locator = locator

    def fail(self, path: Sequence[str | int], reason: str) -> InvalidInput:
        field_name = ".".join(str(p) for p in path) or "deployment"
        if self.locator is None:
            return InvalidInput(f"Deployment field {field_name}: {reason}")
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
        pattern: re.Pattern = _NAME_RE,
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
            self.text(v, [*path, i], _COLUMN_RE, "1-200 characters") for i, v in enumerate(value)
        )


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
