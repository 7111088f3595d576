"""``keel.approval(title)``: a pipeline step that stops for a person's decision.

Called inside a step, it asks for the approval ``title`` of that step (once per run, step
and title) and then:

- pending: raises :class:`~keel.pipelines._signals.AwaitingApproval`, which the executor
  turns into a ``waiting`` run (not a failed one); the run is resumed once someone
  decides (``keel approvals approve|reject ID``), and the step runs again from its start;
- approved: returns the :class:`Approval` (who, when, their comment), and the step goes on;
- rejected: raises :class:`~keel.errors.ApprovalRejected` naming who rejected it and why;
- no decision before ``timeout``: raises :class:`~keel.errors.ApprovalExpired`.

Example::

    @keel.step
    def promote(version: str) -> str:
        decision = keel.approval(f"promote {version}", timeout="2d")
        keel.Client().models.set_alias(version, "champion", reason=decision.comment)
        return version

The step's client decides the transport: a local store, or a keel server (a writer token
asks for approvals; an approver token decides them).
"""

from __future__ import annotations

from datetime import UTC, datetime

from keel._context import active_step
from keel.errors import ApprovalExpired, ApprovalRejected, InvalidInput

from ._approval_records import STATUSES, Approval, ApprovalService
from ._signals import AwaitingApproval

__all__ = ["STATUSES", "Approval", "ApprovalService", "approval"]

DEFAULT_TIMEOUT = "24h"


def approval(title: str, *, timeout: str | float | None = DEFAULT_TIMEOUT) -> Approval:
    """Stop the running pipeline step until someone approves ``title`` (see the module).

    Args:
        title: what is to be decided, e.g. ``"promote credit:7"``; one approval per run,
            step and title, so a resumed step finds the same one.
        timeout: how long to wait for a decision (``"30m"``, ``"24h"``, ``"7d"`` or
            seconds); ``None`` waits for ever.

    Returns:
        The approval, approved: ``decided_by``, ``decided_at``, ``comment``.

    Raises:
        AwaitingApproval: no decision yet (the executor makes the run ``waiting``).
        ApprovalRejected: an approver rejected it.
        ApprovalExpired: its timeout passed with no decision.
        InvalidInput: called outside a pipeline step, or a malformed title or timeout.
    """
    step = active_step()
    if step is None:
        raise InvalidInput(
            f"keel.approval({str(title)[:80]!r}) pauses a pipeline run until someone decides, "
            "so it works only inside a @keel.step function of a running pipeline. Call it in "
            "a step, or decide what needs no pipeline with 'keel models approve'."
        )
    found = step.client.approvals.request(step.pipeline_run_id, step.step, title, timeout=timeout)
    if found.status == "approved":
        return found
    if found.status == "pending":
        raise AwaitingApproval(found.id, found.title)
    if found.status == "rejected":
        why = f": {found.comment}" if found.comment else " (no comment given)"
        raise ApprovalRejected(
            f"Approval {found.title!r} of step {found.step!r} was rejected by "
            f"{found.decided_by} at {_when(found.decided_at)}{why}. The step fails; fix what "
            "was objected to and run the pipeline again."
        )
    raise ApprovalExpired(
        f"Approval {found.title!r} of step {found.step!r} expired at {_when(found.timeout_at)} "
        f"with no decision (approval {found.id}). The step fails; run the pipeline again and "
        "decide in time (keel approvals ls), or give keel.approval(...) a longer timeout."
    )


def _when(ms: int | None) -> str:
    if ms is None:
        return "an unknown time"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
