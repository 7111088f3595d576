"""When a pipeline runs by itself: its triggers.

A pipeline lists its triggers in ``@keel.pipeline(triggers=[...])``; they are recorded in
its spec as plain dicts, and the agent (inside ``keel server``, or ``keel agent``) checks
them at every tick and queues a run when one fires:

================================== ======================================================
``keel.cron("0 3 * * *")``          at each occurrence of the cron line (UTC) after the
                                    trigger is first seen; occurrences missed while no
                                    agent ran fire once, not as a burst
``keel.on_dataset("credit-train",   when a version of the dataset newer than the one seen
param="data")``                     last is registered; its ref (``credit-train:v4``) is
                                    the run's param ``param`` when given
``keel.on_files("s3://b/in/",       when files matching ``pattern`` appear or change below
pattern="*.csv", param="files")``   the folder or bucket prefix (any fsspec URL); the list
                                    of their URLs is the run's param ``param`` when given
``keel.on_alert(monitor="drift")``  when the monitor opens an alert
================================== ======================================================

Each trigger remembers what it saw last per pipeline (``trigger_state``), so what is
there when a trigger is first seen does not fire it. A run a trigger queued records why in
its ``trigger`` (``{"kind": "schedule", "cron": ..., "scheduled_for": ...}``, ...).

Example::

    >>> import keel
    >>> keel.on_files("/data/in", pattern="*.csv", param="files").to_dict()
    {'kind': 'files', 'path': '/data/in', 'pattern': '*.csv', 'param': 'files'}
    >>> parse_trigger({"kind": "schedule", "cron": "0 3 * * *"})
    keel.cron('0 3 * * *')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from keel.errors import InvalidInput

__all__ = [
    "Cron",
    "OnAlert",
    "OnDataset",
    "OnFiles",
    "Trigger",
    "cron",
    "on_alert",
    "on_dataset",
    "on_files",
    "parse_trigger",
    "parse_triggers",
    "trigger_key",
]


class Trigger:
    """What every trigger is: a kind and a dict of its arguments."""

    kind: ClassVar[str]
    maker: ClassVar[str]

    def to_dict(self) -> dict[str, Any]:
        """The trigger as the JSON-able dict a pipeline's spec records."""
        return {"kind": self.kind, **self._args()}

    def _args(self) -> dict[str, Any]:
        return dict(vars(self))

    def __repr__(self) -> str:
        args = self._args()
        first, *rest = args
        shown = [repr(args[first])] + [f"{k}={v!r}" for k in rest if (v := args[k]) is not None]
        return f"keel.{self.maker}({', '.join(shown)})"

    @property
    def key(self) -> str:
        """The digest of :meth:`to_dict`: what the trigger's state is kept under."""
        return trigger_key(self)


def _text(maker: str, name: str, value: object, limit: int = 1000) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise InvalidInput(
            f"{maker}(): {name} must be a non-empty string of at most {limit} characters, "
            f"not {value!r}."
        )
    return value.strip()


def _param(maker: str, value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isidentifier():
        raise InvalidInput(
            f"{maker}(): param must be None or the name of one of the pipeline's params "
            f"(a Python identifier such as 'data'), not {value!r}."
        )
    return value


@dataclass(frozen=True, repr=False)
class Cron(Trigger):
    """Fires at each occurrence of a five-field cron line, in UTC."""

    cron: str
    kind: ClassVar[str] = "schedule"
    maker: ClassVar[str] = "cron"

    def __post_init__(self) -> None:
        from croniter import croniter

        line = _text("keel.cron", "the schedule", self.cron, 200)
        if len(line.split()) != 5 or not croniter.is_valid(line):
            raise InvalidInput(
                f"keel.cron(): {self.cron!r} is not a cron line. Give five fields, minute "
                "hour day-of-month month day-of-week, such as '0 3 * * *' (03:00 UTC daily) "
                "or '*/15 * * * *' (every 15 minutes)."
            )
        object.__setattr__(self, "cron", line)


@dataclass(frozen=True, repr=False)
class OnDataset(Trigger):
    """Fires when a new version of a dataset is registered."""

    dataset: str
    param: str | None = None
    kind: ClassVar[str] = "dataset"
    maker: ClassVar[str] = "on_dataset"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", _text("keel.on_dataset", "dataset", self.dataset, 200))
        object.__setattr__(self, "param", _param("keel.on_dataset", self.param))


@dataclass(frozen=True, repr=False)
class OnFiles(Trigger):
    """Fires when files matching ``pattern`` appear or change below a folder or prefix."""

    path: str
    pattern: str = "*"
    param: str | None = None
    kind: ClassVar[str] = "files"
    maker: ClassVar[str] = "on_files"

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", _text("keel.on_files", "path", self.path))
        object.__setattr__(self, "pattern", _text("keel.on_files", "pattern", self.pattern, 200))
        object.__setattr__(self, "param", _param("keel.on_files", self.param))


@dataclass(frozen=True, repr=False)
class OnAlert(Trigger):
    """Fires when a monitor opens an alert."""

    monitor: str
    kind: ClassVar[str] = "alert"
    maker: ClassVar[str] = "on_alert"

    def __post_init__(self) -> None:
        object.__setattr__(self, "monitor", _text("keel.on_alert", "monitor", self.monitor, 200))

    def __repr__(self) -> str:
        return f"keel.on_alert(monitor={self.monitor!r})"


def cron(schedule: str) -> Cron:
    """Run the pipeline at each occurrence of ``schedule``, a cron line in UTC.

    Raises:
        InvalidInput: not a five-field cron line.
    """
    return Cron(schedule)


def on_dataset(name: str, param: str | None = None) -> OnDataset:
    """Run the pipeline when a new version of dataset ``name`` is registered; its ref
    (``name:vN``) is the run's param ``param`` when given."""
    return OnDataset(name, param)


def on_files(path: str, pattern: str = "*", param: str | None = None) -> OnFiles:
    """Run the pipeline when files matching ``pattern`` (matched against each file's path
    below ``path``) land or change in folder ``path`` (a local folder or any fsspec URL such
    as ``s3://bucket/in/``); the list of their URLs is the run's param ``param`` when given."""
    return OnFiles(path, pattern, param)


def on_alert(monitor: str) -> OnAlert:
    """Run the pipeline when monitor ``monitor`` opens an alert."""
    return OnAlert(monitor)


_KINDS: dict[str, tuple[type[Trigger], tuple[str, ...], tuple[str, ...]]] = {
    # kind: (class, required keys, optional keys)
    "schedule": (Cron, ("cron",), ()),
    "dataset": (OnDataset, ("dataset",), ("param",)),
    "files": (OnFiles, ("path",), ("pattern", "param")),
    "alert": (OnAlert, ("monitor",), ()),
}


def parse_trigger(data: Trigger | Mapping[str, Any]) -> Trigger:
    """A trigger from its dict (as :meth:`Trigger.to_dict` made it), or the trigger itself.

    Raises:
        InvalidInput: not a mapping, an unknown kind, a missing or unknown key, a bad value.
    """
    if isinstance(data, Trigger):
        return data
    if not isinstance(data, Mapping):
        raise InvalidInput(
            "A trigger must be made by keel.cron, keel.on_dataset, keel.on_files or "
            f"keel.on_alert (or be its dict), not {type(data).__name__} {data!r}."[:300]
        )
    kind = data.get("kind")
    if kind not in _KINDS:
        from keel.errors import did_you_mean

        raise InvalidInput(
            f"A trigger's kind must be one of {', '.join(_KINDS)}, not {kind!r}."
            + (did_you_mean(kind, list(_KINDS)) if isinstance(kind, str) else "")
        )
    cls, required, optional = _KINDS[kind]
    missing = [k for k in required if k not in data]
    unknown = [k for k in data if k != "kind" and k not in required + optional]
    if missing or unknown:
        takes = ", ".join(required + optional)
        raise InvalidInput(
            f"A {kind!r} trigger takes {takes}: "
            + "; ".join(
                part
                for part in (
                    f"{', '.join(missing)} missing" if missing else "",
                    f"{', '.join(map(str, unknown))} unknown" if unknown else "",
                )
                if part
            )
            + f" in {dict(data)!r}."[:300]
        )
    return cls(**{k: data[k] for k in required + optional if k in data})


def parse_triggers(items: object) -> list[Trigger]:
    """Every trigger of a list (of triggers or their dicts).

    Raises:
        InvalidInput: not a list, or an entry is not a trigger (the message names it).
    """
    if items is None:
        return []
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, list | tuple):
        raise InvalidInput(
            f"triggers must be a list such as [keel.cron('0 3 * * *')], not {type(items).__name__}."
        )
    out = []
    for i, item in enumerate(items):
        try:
            out.append(parse_trigger(item))
        except InvalidInput as exc:
            raise InvalidInput(f"triggers[{i}]: {exc.message}") from None
    return out


def trigger_key(trigger: Trigger | Mapping[str, Any]) -> str:
    """The digest of a trigger's dict (keys sorted): what its state is kept under."""
    import orjson

    from keel.store.objects import hash_bytes

    data = parse_trigger(trigger).to_dict()
    return hash_bytes(orjson.dumps(data, option=orjson.OPT_SORT_KEYS))
