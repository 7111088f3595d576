"""What is running now: the active run and the active pipeline step, per context.

Data, validation and the registry ask this module who produces or consumes what they
record, instead of importing tracking. The value is a context variable, so threads and
asyncio tasks each see their own.
"""

from __future__ import annotations

import contextvars
from typing import Any, Protocol

__all__ = [
    "ActiveRun",
    "ActiveStep",
    "active_run",
    "active_step",
    "pop_run",
    "push_run",
    "reset_step",
    "set_step",
]


class ActiveRun(Protocol):
    """What other concepts need of the active run."""

    id: str
    experiment: str

    def log_input(self, record: Any) -> None: ...


class ActiveStep(Protocol):
    """What other concepts need of the pipeline step running now (approvals, lineage)."""

    pipeline_run_id: str
    step: str
    project: str
    client: Any
    run_id: str | None  # the first tracking run the step started, recorded on its step run


_runs: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
    "keel_active_runs", default=()
)


def active_run() -> Any | None:
    """The innermost active run of this context, or None."""
    stack = _runs.get()
    return stack[-1] if stack else None


def push_run(run: Any) -> None:
    """Make ``run`` the active run of this context (inside any active one).

    Inside a pipeline step, the first run the step starts is noted on the step (its step
    run records it, so lineage and pages link the step to the run).
    """
    _runs.set((*_runs.get(), run))
    step = _step.get()
    if step is not None and getattr(step, "run_id", "") is None:
        step.run_id = run.id


def pop_run(run: Any) -> None:
    """Stop ``run`` being active in this context (wherever it is on the stack)."""
    _runs.set(tuple(r for r in _runs.get() if r is not run))


_step: contextvars.ContextVar[Any | None] = contextvars.ContextVar("keel_active_step", default=None)


def active_step() -> Any | None:
    """The pipeline step running in this context, or None outside a pipeline."""
    return _step.get()


def set_step(step: Any | None) -> contextvars.Token:
    """Make ``step`` the running step of this context; reset with ``_step.reset(token)``
    through :func:`reset_step`."""
    return _step.set(step)


def reset_step(token: contextvars.Token) -> None:
    """Undo the :func:`set_step` that returned ``token``."""
    _step.reset(token)
