"""What running a pipeline returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PipelineRun"]


@dataclass
class PipelineRun:
    """A pipeline run as it ended (or was left): its id, status, steps and output.

    ``steps`` are the step runs' records (step, status, attempt, cached_from, outputs,
    error, ...); ``output`` is the value of what the pipeline function returned (a step's
    output, or a tuple or dict of them), None unless the run succeeded.
    """

    id: str
    pipeline: str
    status: str
    params: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    output: Any = None
    error: str | None = None

    def __repr__(self) -> str:
        return f"PipelineRun({self.id!r}, pipeline={self.pipeline!r}, status={self.status!r})"

    @property
    def succeeded(self) -> bool:
        """Whether every step succeeded (ran or came from the cache)."""
        return self.status == "succeeded"

    def step(self, name: str) -> dict[str, Any]:
        """The record of step ``name`` (its latest step run)."""
        from keel.errors import NotFound, did_you_mean

        found = [s for s in self.steps if s["step"] == name]
        if not found:
            names = [s["step"] for s in self.steps]
            raise NotFound(f"Run {self.id} has no step {name!r}.{did_you_mean(name, names)}")
        return found[-1]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: everything but the output's value."""
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "status": self.status,
            "params": self.params,
            "steps": self.steps,
            "error": self.error,
        }
