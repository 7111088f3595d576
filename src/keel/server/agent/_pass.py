"""What one pass of the agent did: a value the CLI prints and tests read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["AgentPass"]


@dataclass
class AgentPass:
    """One tick of an agent.

    Attributes:
        holder: the agent's name in the lease.
        leader: whether it held the lease (an agent that does not lead does nothing).
        expired: runs marked failed because their process stopped renewing their lease.
        monitors: ``(project, monitor, result or error)`` for each monitor evaluated.
        fired: the triggers that queued a run (or could not be checked).
        started: the runs handed to a worker: id, project, pipeline, resumed.
        errors: a phase that failed as a whole (the store away, ...), in words.
    """

    holder: str
    leader: bool = False
    expired: list[str] = field(default_factory=list)
    monitors: list[tuple[str, str, Any]] = field(default_factory=list)
    fired: list[Any] = field(default_factory=list)
    started: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, str]]:
        """One row per thing done: what, project, name, detail (for a table or JSON)."""
        rows = []
        for run in self.expired:
            rows.append(_row("expired run", "", run, "failed: its lease expired"))
        for project, monitor, outcome in self.monitors:
            if isinstance(outcome, Exception):
                detail = f"error: {getattr(outcome, 'message', outcome)}"
            else:
                detail = "passed" if outcome.passed else "breached"
            rows.append(_row("monitor", project, monitor, detail))
        for fired in self.fired:
            kind = fired.trigger.get("kind", "?")
            detail = f"queued run {fired.run}" if fired.run else f"error: {fired.error}"
            rows.append(_row(f"trigger ({kind})", fired.project, fired.pipeline, detail))
        for run in self.started:
            verb = "resumed" if run["resumed"] else "started"
            rows.append(_row("run", run["project"], run["pipeline"], f"{verb} {run['id']}"))
        for error in self.errors:
            rows.append(_row("error", "", "", error))
        return rows

    def to_dict(self) -> dict[str, Any]:
        """The pass as JSON: holder, leader and its rows."""
        return {"holder": self.holder, "leader": self.leader, "did": self.rows()}


def _row(what: str, project: str, name: str, detail: str) -> dict[str, str]:
    return {"what": what, "project": project, "name": name, "detail": detail}
