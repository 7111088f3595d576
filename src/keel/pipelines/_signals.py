"""What a step raises to stop its pipeline run without failing it."""

from __future__ import annotations

__all__ = ["AwaitingApproval"]


class AwaitingApproval(Exception):
    """Raised by ``keel.approval(...)`` inside a step while its approval is pending: the
    executor records the step and the run as ``waiting`` (not failed) and releases the run;
    once someone decides, the run is resumed and the step runs again, and the same
    ``keel.approval(...)`` call then returns (approved) or raises (rejected)."""

    def __init__(self, approval_id: str, title: str) -> None:
        super().__init__(f"waiting for approval {title!r} ({approval_id})")
        self.approval_id = approval_id
        self.title = title
