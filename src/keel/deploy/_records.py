"""Deployment records: rollouts (each applied change), their canary steps, and plans.

A rollout's ``status`` says what part it plays now:

========== =================================================================================
status     meaning
========== =================================================================================
active     the current rollout: it serves all traffic (a first apply, an apply without a
           canary policy, or a rollback)
canary     the current rollout, walked in by the canary controller: it serves its step's
           share of traffic, the rollout of ``previous_revision`` the rest
promoted   the current rollout: a canary that passed every step and serves all traffic
superseded a later rollout was applied over it
rolled_back undone: by ``keel deploy rollback`` or by a canary that breached its limits
========== =================================================================================

The newest revision of a deployment is always its current rollout (``active``, ``canary``
or ``promoted``); a rollback never edits history, it writes a new revision carrying an
older spec (``restores`` names that revision).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .spec import DeploymentSpec

__all__ = ["LIVE", "STATUSES", "Change", "Plan", "Rollout", "RolloutStep"]

STATUSES = ("active", "canary", "promoted", "superseded", "rolled_back")
LIVE = ("active", "canary", "promoted")
"""Statuses of a current rollout."""


@dataclass(frozen=True)
class RolloutStep:
    """One step the canary controller took: the traffic ``weight`` (percent) the new rollout
    had, how the step ended (``passed``, ``promoted``, ``rolled_back``) and what it saw."""

    step: int
    weight: float
    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    created_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "weight": self.weight,
            "status": self.status,
            "metrics": dict(self.metrics),
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutStep:
        return cls(
            step=int(data["step"]),
            weight=float(data["weight"]),
            status=str(data["status"]),
            metrics=dict(data.get("metrics") or {}),
            created_at=int(data.get("created_at") or 0),
        )


@dataclass(frozen=True)
class Rollout:
    """One applied change of a deployment (see the module docstring for ``status``).

    ``previous_revision`` is the revision a rollback of this one returns to: the one that
    was current when it was applied (for a rollback, the one before the revision it
    restores); None when there is nothing earlier.
    """

    id: str
    deployment: str
    revision: int
    spec: DeploymentSpec
    status: str
    actor: str
    created_at: int
    previous_revision: int | None = None
    restores: int | None = None
    steps: tuple[RolloutStep, ...] = ()

    @property
    def live(self) -> bool:
        """Whether this is the deployment's current rollout."""
        return self.status in LIVE

    @property
    def kind(self) -> str:
        """``rollback`` if it brought an older spec back, else ``apply``."""
        return "apply" if self.restores is None else "rollback"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deployment": self.deployment,
            "revision": self.revision,
            "spec": self.spec.to_dict(),
            "status": self.status,
            "actor": self.actor,
            "created_at": self.created_at,
            "previous_revision": self.previous_revision,
            "restores": self.restores,
            "kind": self.kind,
            "steps": [s.to_dict() for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Rollout:
        """The rollout :meth:`to_dict` gave (as a keel server sends it)."""
        return cls(
            id=data["id"],
            deployment=data["deployment"],
            revision=int(data["revision"]),
            spec=DeploymentSpec.from_dict(data["spec"]),
            status=data["status"],
            actor=data["actor"],
            created_at=int(data["created_at"]),
            previous_revision=data.get("previous_revision"),
            restores=data.get("restores"),
            steps=tuple(RolloutStep.from_dict(s) for s in data.get("steps") or ()),
        )


@dataclass(frozen=True)
class Change:
    """One field that differs: ``before`` is None for an addition, ``after`` for a removal."""

    path: str
    before: Any = None
    after: Any = None

    @property
    def action(self) -> str:
        """``+`` added, ``-`` removed, ``~`` changed (as Terraform prints them)."""
        if self.before is None:
            return "+"
        if self.after is None:
            return "-"
        return "~"

    def render(self) -> str:
        if self.action == "+":
            return f"+ {self.path}: {_show(self.after)}"
        if self.action == "-":
            return f"- {self.path}: {_show(self.before)}"
        return f"~ {self.path}: {_show(self.before)} -> {_show(self.after)}"


@dataclass(frozen=True)
class Plan:
    """What applying a spec would change against the deployment's current rollout."""

    deployment: str
    current_revision: int | None
    changes: tuple[Change, ...] = ()

    @property
    def create(self) -> bool:
        """Whether the deployment does not exist yet (applying creates it)."""
        return self.current_revision is None

    @property
    def empty(self) -> bool:
        """Whether applying would change nothing."""
        return not self.changes

    def render(self) -> str:
        """The plan as text: a heading, then one ``+``/``-``/``~`` line per field."""
        if self.empty:
            return (
                f"deployment {self.deployment}: no changes "
                f"(revision {self.current_revision} already runs this spec)"
            )
        if self.create:
            head = f"deployment {self.deployment} will be created"
        else:
            head = (
                f"deployment {self.deployment} will change "
                f"(revision {self.current_revision} -> {self.current_revision + 1})"
            )
        counts = {a: sum(1 for c in self.changes if c.action == a) for a in "+~-"}
        tail = f"{counts['+']} to add, {counts['~']} to change, {counts['-']} to remove"
        return "\n".join([head, *("  " + c.render() for c in self.changes), tail])

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "current_revision": self.current_revision,
            "create": self.create,
            "empty": self.empty,
            "changes": [
                {"path": c.path, "action": c.action, "before": c.before, "after": c.after}
                for c in self.changes
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return cls(
            deployment=data["deployment"],
            current_revision=data.get("current_revision"),
            changes=tuple(
                Change(c["path"], c.get("before"), c.get("after")) for c in data.get("changes", ())
            ),
        )


def diff_specs(before: DeploymentSpec | None, after: DeploymentSpec) -> tuple[Change, ...]:
    """Every field that differs, by dotted path (``routes.1.weight``), in the spec's order.

    A list of plain values (``canary.steps``, ``shadow``) is one field; a list of mappings
    (``routes``) is compared item by item. An unset field (None) counts as absent.
    """
    old = _flatten(before.to_dict()) if before is not None else {}
    new = _flatten(after.to_dict())
    paths = list(new) + [p for p in old if p not in new]
    return tuple(Change(p, old.get(p), new.get(p)) for p in paths if old.get(p) != new.get(p))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        items: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        items = list(enumerate(value))
    else:
        if value is not None and value != []:
            out[prefix] = value
        return out
    for key, child in items:
        out.update(_flatten(child, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _show(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
