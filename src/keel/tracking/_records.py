"""Plain records that cross the tracking service boundary (in process or over HTTP)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "RUN_EXTRAS",
    "ArtifactRecord",
    "CheckedPoints",
    "ExperimentRecord",
    "MetricPoint",
    "RunQuery",
    "RunRecord",
    "RunStatus",
    "check_include",
    "decode_value",
    "encode_value",
]


class RunStatus:
    """The states a run moves through."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"
    ALL = (RUNNING, FINISHED, FAILED, KILLED)
    ENDED = (FINISHED, FAILED, KILLED)


MetricPoint = tuple[str, float, int, int]
"""One metric point: (key, value, step, timestamp in ms)."""


class CheckedPoints(list):
    """Metric points, (key, value, step, timestamp) tuples, that a :class:`~keel.tracking.Run`
    has already checked: keys valid names, values floats, steps and timestamps integers
    within range. The in-process writer takes them without checking each point again;
    anything else (a plain list, points from a request) is checked point by point."""

    __slots__ = ()


def encode_value(value: float) -> float | str:
    """A metric value as JSON can carry it: NaN and infinities become strings."""
    if not isinstance(value, float) or math.isfinite(value):
        return value  # anything else is for the receiver to accept or refuse
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def decode_value(value: float | str | None) -> float:
    """Inverse of :func:`encode_value`; None (SQL NULL) is NaN."""
    if value is None:
        return math.nan
    return float(value)


@dataclass(frozen=True)
class ExperimentRecord:
    id: str
    name: str
    created_at: int
    run_count: int = 0
    deleted_at: int | None = None


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    kind: str
    digest: str
    size: int
    created_at: int


@dataclass
class RunRecord:
    """Everything recorded about a run."""

    id: str
    experiment: str
    experiment_id: str
    name: str
    status: str
    created_at: int
    started_at: int | None = None
    ended_at: int | None = None
    parent_id: str | None = None
    error: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    """The latest value of each metric (highest step, then latest time)."""
    artifacts: list[ArtifactRecord] = field(default_factory=list)
    code: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    deleted_at: int | None = None
    """When the run (or its experiment) was deleted; None while it is live."""

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return (self.ended_at - self.started_at) / 1000

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-ready data (non-finite metrics as strings), field by field: a
        listing of a thousand runs makes a thousand of these."""
        data = dict(self.__dict__)
        data["metrics"] = {k: encode_value(v) for k, v in self.metrics.items()}
        data["artifacts"] = [asdict(a) for a in self.artifacts]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        data = dict(data)
        data["metrics"] = {k: decode_value(v) for k, v in data.get("metrics", {}).items()}
        data["artifacts"] = [ArtifactRecord(**a) for a in data.get("artifacts", [])]
        return cls(**data)


@dataclass(frozen=True)
class RunQuery:
    """What :func:`keel.search_runs` asks for."""

    experiments: tuple[str, ...] = ()
    filter: str | None = None
    order_by: tuple[str, ...] = ()
    max_results: int = 1000
    include_details: bool = True
    offset: int = 0
    """How many matching runs (in order) to skip: the dashboard's pages."""
    include_deleted: bool = False
    """Also return deleted runs, and runs of deleted experiments (not yet purged)."""
    include: tuple[str, ...] = ()
    """What a listing leaves out unless asked, any of :data:`RUN_EXTRAS`: the captured
    ``environment``, the ``code`` (git, entry point, argv) and the ``artifacts``."""


RUN_EXTRAS = ("environment", "code", "artifacts")
"""The parts of a run that a search returns only on request (``RunQuery.include``)."""


def check_include(include: object) -> tuple[str, ...]:
    """``include`` as a tuple of known extras; anything else is refused, naming them."""
    from keel.errors import InvalidInput

    if isinstance(include, str):
        include = tuple(part.strip() for part in include.split(",") if part.strip())
    if not isinstance(include, tuple | list | set | frozenset) or not all(
        isinstance(part, str) and part in RUN_EXTRAS for part in include
    ):
        raise InvalidInput(
            f"include takes any of {', '.join(RUN_EXTRAS)} (comma-separated over HTTP). "
            f"Got {include!r:.80}."
        )
    return tuple(include)
