"""Monitor specs: what to watch on a deployment, kept as YAML in git and checked before use.

::

    name: credit-drift
    deployment: credit-scoring
    reference: credit-train@latest       # a dataset version, or "champion" (its training data)
    window: {size: 1h}                   # or {last: 5000} predictions
    schedule: every 1h                   # or a cron line; default: every window size
    drift: {method: auto, threshold: 0.1, share_of_columns: 0.3}
    prediction: {drift: true, bias: {max: 0.05}, range: {min: 0, max: 1}}
    ranges: {age: {min: 18, max: 120}}   # range checks on inputs
    performance: {metric: roc_auc, min: 0.80, label_delay: 7d}
    service: {max_p99_ms: 50, max_error_rate: 0.01}
    segments: [region]
    on_alert: [{webhook: "https://hooks.example/keel"}, {trigger_pipeline: retrain},
               {rollback: true}]

:func:`parse_monitor` reads such a file and names the line of the first mistake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from keel._yaml_spec import COLUMN_RE, Checker, Locator, field_lines, load, read_text
from keel.errors import InvalidInput

__all__ = [
    "METRICS",
    "DriftPolicy",
    "MonitorSpec",
    "Performance",
    "PredictionPolicy",
    "Range",
    "Service",
    "Window",
    "every_ms",
    "parse_monitor",
    "parse_monitor_text",
]

METRICS = {"roc_auc": "min", "accuracy": "min", "f1": "min", "rmse": "max", "mae": "max"}
"""Performance metrics and the bound that makes sense for each (higher or lower is better)."""
DRIFT_METHODS = {
    "auto": "auto",
    "ks": "ks",
    "chi2": "chisquare",
    "chisquare": "chisquare",
    "z": "z",
    "wasserstein": "wasserstein",
    "js": "jensenshannon",
    "jensenshannon": "jensenshannon",
    "psi": "psi",
}
"""Method names a monitor accepts, and the drift test each names."""
ACTIONS = ("log", "webhook", "trigger_pipeline", "rollback", "command", "callable")
_CALLABLE_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_EVERY_RE = re.compile(r"^\s*every\s+(.+)$")


def every_ms(schedule: str) -> int | None:
    """The interval of an ``every <duration>`` schedule in milliseconds; None for a cron line."""
    from keel.deploy import parse_duration

    match = _EVERY_RE.match(schedule)
    return round(parse_duration(match[1].strip()) * 1000) if match else None


@dataclass(frozen=True)
class Window:
    """The predictions one evaluation looks at: the last ``size_ms`` milliseconds, or the
    ``last`` N predictions."""

    size_ms: int | None = 3_600_000
    last: int | None = None


@dataclass(frozen=True)
class DriftPolicy:
    """Data drift of the inputs against the reference (see :func:`keel.monitoring.drift`)."""

    method: str = "auto"
    threshold: float | None = None
    share_of_columns: float = 0.5


@dataclass(frozen=True)
class Range:
    """Values must lie in ``[min, max]`` (either bound may be open)."""

    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class PredictionPolicy:
    """Checks on the model's outputs: drift, bias against observed labels, range."""

    drift: bool = True
    bias_max: float | None = None
    range: Range | None = None


@dataclass(frozen=True)
class Performance:
    """A metric on predictions joined with their labels; ``min_labels`` must have arrived."""

    metric: str = "accuracy"
    min: float | None = None
    max: float | None = None
    label_delay_ms: int = 0
    min_labels: int = 30


@dataclass(frozen=True)
class Service:
    """Service health from the logs: p99 latency and (when logged) the error rate."""

    max_p99_ms: float | None = None
    max_error_rate: float | None = None


@dataclass(frozen=True)
class MonitorSpec:
    """A monitor as its YAML file states it (see the module docstring)."""

    name: str
    deployment: str
    reference: str = "champion"
    window: Window = field(default_factory=Window)
    schedule: str | None = None
    drift: DriftPolicy | None = field(default_factory=DriftPolicy)
    prediction: PredictionPolicy | None = field(default_factory=PredictionPolicy)
    ranges: Mapping[str, Range] = field(default_factory=dict)
    performance: Performance | None = None
    service: Service | None = None
    segments: tuple[str, ...] = ()
    on_alert: tuple[Mapping[str, Any], ...] = ()
    cooldown_ms: int = 3_600_000
    """Alerts of one kind are not raised again within this long (the alerts' dedup)."""
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    source: str | None = field(default=None, compare=False, repr=False)

    @property
    def schedule_text(self) -> str:
        """The schedule as written, or ``every <window size>`` by default."""
        if self.schedule is not None:
            return self.schedule
        return f"every {(self.window.size_ms or 3_600_000) // 1000}s"

    def to_dict(self) -> dict[str, Any]:
        """The spec as the mapping its YAML file would hold (what the monitors table
        records); :meth:`from_dict` reads it back."""
        return _plain(_to_yaml(asdict(self)))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MonitorSpec:
        """The spec :meth:`to_dict` gave, or the mapping a YAML file holds; checked."""
        return _build(data, None)


def parse_monitor(source: str | Path) -> MonitorSpec:
    """Read a monitor YAML file (a path) or text, naming the line of any mistake.

    Raises:
        InvalidInput: the YAML does not parse, or a field is missing, unknown or wrong.
    """
    text, where = read_text(source, "monitor")
    return parse_monitor_text(text, source=where)


def parse_monitor_text(text: str, *, source: str = "the monitor") -> MonitorSpec:
    """Read a monitor from YAML ``text`` (never a path); what a server does with a file a
    client sent."""
    data, node = load(text, source, "monitor", "name, deployment and what to watch")
    spec = _build(data, Locator(node, source))
    return replace(spec, lines=field_lines(node), source=source)


# -- checking ------------------------------------------------------------------------------

_TOP = {
    "name",
    "deployment",
    "reference",
    "window",
    "schedule",
    "drift",
    "prediction",
    "ranges",
    "performance",
    "service",
    "segments",
    "on_alert",
    "cooldown",
    "description",
}


def _duration_ms(c: Checker, value: Any, path: list[Any]) -> int:
    from keel.deploy import parse_duration

    try:
        return round(parse_duration(value, what=".".join(map(str, path))) * 1000)
    except InvalidInput as exc:
        raise c.fail(path, str(exc)) from None


def _build(data: Mapping[str, Any], locator: Locator | None) -> MonitorSpec:
    c = Checker(locator, "Monitor")
    c.mapping(data, [], _TOP)
    for required in ("name", "deployment"):
        if required not in data:
            raise c.fail([], f"missing field {required!r}.")
    reference = data.get("reference", "champion")
    if reference != "champion":
        from keel.data import parse_ref

        if not isinstance(reference, str):
            raise c.fail(["reference"], "expected a dataset reference or 'champion'.")
        try:
            parse_ref(reference)
        except InvalidInput as exc:
            raise c.fail(
                ["reference"], f"{exc} Or write 'champion' for its training data."
            ) from None
    window = _window(c, data.get("window"))
    return MonitorSpec(
        name=c.text(data["name"], ["name"]),
        deployment=c.text(data["deployment"], ["deployment"]),
        reference=reference,
        window=window,
        schedule=_schedule(c, data.get("schedule")),
        drift=_drift(c, data.get("drift", {})),
        prediction=_prediction(c, data.get("prediction", {})),
        ranges=_ranges(c, data.get("ranges")),
        performance=_performance(c, data.get("performance")),
        service=_service(c, data.get("service")),
        segments=c.names(data.get("segments"), ["segments"]),
        on_alert=_on_alert(c, data.get("on_alert")),
        cooldown_ms=_duration_ms(c, data.get("cooldown", "1h"), ["cooldown"]),
    )


def _window(c: Checker, raw: Any) -> Window:
    if raw is None:
        return Window()
    c.mapping(raw, ["window"], {"size", "last"})
    if ("size" in raw) == ("last" in raw):
        raise c.fail(["window"], "give exactly one of size (such as 1h) or last (such as 5000).")
    if "last" in raw:
        last = c.number(raw["last"], ["window", "last"], low=1, high=10_000_000, integer=True)
        return Window(size_ms=None, last=int(last))
    return Window(size_ms=_duration_ms(c, raw["size"], ["window", "size"]))


def _schedule(c: Checker, raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise c.fail(["schedule"], f"expected 'every 1h' or a cron line, got {raw!r}.")
    every = _EVERY_RE.match(raw)
    if every:
        _duration_ms(c, every[1], ["schedule"])
        return raw.strip()
    from croniter import croniter

    if not croniter.is_valid(raw):
        raise c.fail(
            ["schedule"], f"{raw!r} is neither 'every <duration>' nor a cron line ('0 * * * *')."
        )
    return raw.strip()


def _drift(c: Checker, raw: Any) -> DriftPolicy | None:
    if raw is False:
        return None
    if raw is None or raw is True:
        return DriftPolicy()
    c.mapping(raw, ["drift"], {"method", "threshold", "share_of_columns"})
    method = raw.get("method", "auto")
    if method not in DRIFT_METHODS:
        raise c.fail(
            ["drift", "method"],
            f"unknown method {method!r}; choose one of {', '.join(DRIFT_METHODS)}.",
        )
    threshold = raw.get("threshold")
    if threshold is not None:
        threshold = c.number(threshold, ["drift", "threshold"], low=0, high=1e9)
    share = c.number(
        raw.get("share_of_columns", 0.5),
        ["drift", "share_of_columns"],
        low=0,
        high=1,
        low_open=True,
    )
    return DriftPolicy(DRIFT_METHODS[method], threshold, share)


def _range(c: Checker, raw: Any, path: list[Any]) -> Range:
    c.mapping(raw, path, {"min", "max"})
    low, high = raw.get("min"), raw.get("max")
    if low is None and high is None:
        raise c.fail(path, "give min, max or both.")
    low = None if low is None else c.number(low, [*path, "min"], low=-1e300, high=1e300)
    high = None if high is None else c.number(high, [*path, "max"], low=-1e300, high=1e300)
    if low is not None and high is not None and low > high:
        raise c.fail(path, f"min {low:g} is above max {high:g}.")
    return Range(low, high)


def _prediction(c: Checker, raw: Any) -> PredictionPolicy | None:
    if raw is False:
        return None
    if raw is None or raw is True:
        return PredictionPolicy()
    c.mapping(raw, ["prediction"], {"drift", "bias", "range"})
    drift = raw.get("drift", True)
    if not isinstance(drift, bool):
        raise c.fail(["prediction", "drift"], f"expected true or false, got {drift!r}.")
    bias = raw.get("bias")
    bias_max = None
    if bias is not None:
        c.mapping(bias, ["prediction", "bias"], {"max"})
        bias_max = c.number(bias.get("max"), ["prediction", "bias", "max"], low=0, high=1e9)
    rng = raw.get("range")
    return PredictionPolicy(
        drift, bias_max, None if rng is None else _range(c, rng, ["prediction", "range"])
    )


def _ranges(c: Checker, raw: Any) -> dict[str, Range]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise c.fail(["ranges"], "expected a mapping of column: {min, max}.")
    out = {}
    for column, bounds in raw.items():
        c.text(column, ["ranges", column], COLUMN_RE, "1-200 characters")
        out[column] = _range(c, bounds, ["ranges", column])
    return out


def _performance(c: Checker, raw: Any) -> Performance | None:
    if raw is None or raw is False:
        return None
    c.mapping(raw, ["performance"], {"metric", "min", "max", "label_delay", "min_labels"})
    metric = raw.get("metric")
    if metric not in METRICS:
        raise c.fail(
            ["performance", "metric"],
            f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}.",
        )
    bound = METRICS[metric]
    other = "max" if bound == "min" else "min"
    if other in raw:
        better = "higher" if bound == "min" else "lower"
        raise c.fail(
            ["performance", other],
            f"{metric} is better {better}: give '{bound}', the worst value allowed.",
        )
    if bound not in raw:
        raise c.fail(["performance"], f"give '{bound}', the worst {metric} allowed.")
    value = c.number(raw[bound], ["performance", bound], low=0, high=1e12)
    delay = raw.get("label_delay")
    return Performance(
        metric=metric,
        min=value if bound == "min" else None,
        max=value if bound == "max" else None,
        label_delay_ms=0
        if delay is None
        else _duration_ms(c, delay, ["performance", "label_delay"]),
        min_labels=int(
            c.number(
                raw.get("min_labels", 30),
                ["performance", "min_labels"],
                low=1,
                high=10**9,
                integer=True,
            )
        ),
    )


def _service(c: Checker, raw: Any) -> Service | None:
    if raw is None or raw is False:
        return None
    c.mapping(raw, ["service"], {"max_p99_ms", "max_error_rate"})
    p99, errors = raw.get("max_p99_ms"), raw.get("max_error_rate")
    return Service(
        None if p99 is None else c.number(p99, ["service", "max_p99_ms"], low=0, high=3.6e6),
        None if errors is None else c.number(errors, ["service", "max_error_rate"], low=0, high=1),
    )


def _check_action_options(c: Checker, path: list[Any], item: Mapping[str, Any]) -> None:
    """The options beside an action's name (a webhook's ``timeout``, a trigger's
    ``params``, ...), checked by the code that runs the actions."""
    from keel.errors import InvalidInput

    from ._actions import parse_actions

    try:
        parse_actions([item])
    except InvalidInput as exc:
        raise c.fail(path, exc.message.removeprefix("on_alert[0]: ")) from None


def _on_alert(c: Checker, raw: Any) -> tuple[Mapping[str, Any], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise c.fail(["on_alert"], "expected a list of actions such as [{webhook: URL}].")
    out = []
    for i, item in enumerate(raw):
        path = ["on_alert", i]
        kinds = [k for k in item if k in ACTIONS] if isinstance(item, Mapping) else []
        if len(kinds) != 1:
            raise c.fail(
                path, f"each action is a mapping with exactly one of {', '.join(ACTIONS)}."
            )
        kind = kinds[0]
        value = item[kind]
        at = [*path, kind]
        _check_action_options(c, path, item)
        if kind == "webhook":
            if not isinstance(value, str) or not value.startswith(("http://", "https://")):
                raise c.fail(at, f"expected an http(s) URL, got {value!r}.")
        elif kind == "trigger_pipeline":
            c.text(value, at)
        elif kind in ("rollback", "log"):
            if not isinstance(value, bool):
                raise c.fail(at, f"expected true or false, got {value!r}.")
        elif kind == "command":
            if (
                not isinstance(value, list)
                or not value
                or not all(isinstance(v, str) and v for v in value)
            ):
                raise c.fail(at, "expected a command as a list of strings, e.g. [make, retrain].")
        elif not isinstance(value, str) or not _CALLABLE_RE.match(value):
            raise c.fail(at, f"expected 'module:function', got {value!r}.")
        options = {k: v for k, v in item.items() if k != kind}  # checked above
        out.append({kind: list(value) if isinstance(value, list) else value, **options})
    return tuple(out)


# -- YAML form -----------------------------------------------------------------------------


def _to_yaml(data: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML-shaped mapping of a spec's fields (``dataclasses.asdict`` of it)."""
    out: dict[str, Any] = {
        k: data[k] for k in ("name", "deployment", "reference", "schedule", "segments")
    }
    if out["schedule"] is None:
        del out["schedule"]
    window = data["window"]
    out["window"] = (
        {"last": window["last"]} if window.get("last") else {"size": window["size_ms"] / 1000}
    )
    out["drift"] = False if data.get("drift") is None else _drop_none(data["drift"])
    pred = data.get("prediction")
    if pred is None:
        out["prediction"] = False
    else:
        out["prediction"] = {"drift": pred["drift"]}
        if pred.get("bias_max") is not None:
            out["prediction"]["bias"] = {"max": pred["bias_max"]}
        if pred.get("range"):
            out["prediction"]["range"] = _drop_none(pred["range"])
    out["ranges"] = {k: _drop_none(v) for k, v in (data.get("ranges") or {}).items()}
    perf = data.get("performance")
    if perf:
        out["performance"] = _drop_none(
            {
                "metric": perf["metric"],
                "min": perf.get("min"),
                "max": perf.get("max"),
                "min_labels": perf.get("min_labels", 30),
                "label_delay": perf["label_delay_ms"] / 1000
                if perf.get("label_delay_ms")
                else None,
            }
        )
    if data.get("service"):
        out["service"] = _drop_none(data["service"])
    out["on_alert"] = list(data.get("on_alert") or [])
    out["cooldown"] = data.get("cooldown_ms", 3_600_000) / 1000
    return out


def _drop_none(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
