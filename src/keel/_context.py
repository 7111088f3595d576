"""What is running now: the active run (later the active pipeline step), per context.

Data, validation and the registry ask this module who produces or consumes what they
record, instead of importing tracking. The value is a context variable, so threads and
asyncio tasks each see their own.
"""

from __future__ import annotations

import contextvars
from typing import Any, Protocol

__all__ = ["ActiveRun", "active_run", "pop_run", "push_run"]


class ActiveRun(Protocol):
    """What other concepts need of the active run."""

    id: str
    experiment: str

    def log_input(self, record: Any) -> None: ...


_runs: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
    "keel_active_runs", default=()
)


def active_run() -> Any | None:
    """The innermost active run of this context, or None."""
    stack = _runs.get()
    return stack[-1] if stack else None


def push_run(run: Any) -> None:
    """Make ``run`` the active run of this context (inside any active one)."""
    _runs.set((*_runs.get(), run))


def pop_run(run: Any) -> None:
    """Stop ``run`` being active in this context (wherever it is on the stack)."""
    _runs.set(tuple(r for r in _runs.get() if r is not run))
