"""One step's execution, wherever it runs: in the orchestrating process, a worker process or
a Ray task. Inputs are loaded (or handed over live in-process), the body runs with retries
and its output captured, and the outputs are materialised; the orchestrator records states.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from keel._context import reset_step, set_step

from ._materialise import MaterialiseContext, load_output, save_output
from ._signals import AwaitingApproval

__all__ = ["ActiveStepInfo", "StepResult", "StepTask", "execute_step", "run_packed"]

MAX_LOG_BYTES = 1_000_000


@dataclass
class ActiveStepInfo:
    """The running step, as :func:`keel._context.active_step` tells approvals and lineage."""

    pipeline_run_id: str
    step: str
    project: str
    client: Any
    step_run_id: str = ""
    run_id: str | None = None  # the first tracking run the step started (set by push_run)


@dataclass
class StepTask:
    """What a worker needs to run one step (picklable; the step travels with cloudpickle)."""

    project: str
    pipeline: str
    pipeline_run_id: str
    node: str
    step_run_id: str
    params: dict[str, Any]
    inputs: dict[str, dict[str, Any]]  # argument -> upstream output's ref
    input_materializers: dict[str, Any] = field(default_factory=dict)  # argument -> materializer


@dataclass
class StepResult:
    """How a step run ended: its status, output refs, error, log and attempts."""

    status: str  # succeeded | failed | waiting
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    values: dict[str, Any] | None = None  # the live outputs, in-process only
    error: str | None = None
    log_digest: str | None = None
    attempts: int = 1
    approval: tuple[str, str] | None = None
    pid: int = 0
    run_id: str | None = None  # the tracking run the (last) attempt started, if any


_buffer: contextvars.ContextVar[io.StringIO | None] = contextvars.ContextVar(
    "keel_step_log", default=None
)


class _Capture(logging.Handler):
    """Copies log records to the log of the step running in this context, if any. One is
    added to the root logger the first time a step runs in a process (adding and removing
    a handler per step costs more than a trivial step)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        buffer = _buffer.get()
        if buffer is not None:
            with contextlib.suppress(Exception):
                buffer.write(self.format(record) + "\n")


_handler: _Capture | None = None


def _capture_logs() -> None:
    global _handler
    if _handler is None:
        _handler = _Capture()
        logging.getLogger().addHandler(_handler)


def execute_step(
    task: StepTask, step: Any, client: Any, live: dict[str, Any] | None = None
) -> StepResult:
    """Run ``step`` for ``task`` with its retries; never raises for the step's own errors."""
    live = live or {}
    ctx = MaterialiseContext(
        client,
        task.project,
        task.pipeline,
        task.node,
        "return",
        task.step_run_id,
        dataset=step.dataset,
        model=step.model,
    )
    buffer = io.StringIO()
    _capture_logs()
    buffer_token = _buffer.set(buffer)
    active = ActiveStepInfo(task.pipeline_run_id, task.node, task.project, client, task.step_run_id)
    token = set_step(active)
    attempts = 0
    result: StepResult
    try:
        while True:
            attempts += 1
            active.run_id = None  # a retry's run, not a failed attempt's, is the step's
            try:
                with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
                    kwargs = dict(task.params)
                    for arg, ref in task.inputs.items():
                        if arg in live:
                            kwargs[arg] = live[arg]
                        else:
                            kwargs[arg] = load_output(ref, ctx, task.input_materializers.get(arg))
                    value = step.fn(**kwargs)
                    outputs, values = _save(step, value, ctx)
                result = StepResult("succeeded", outputs, values)
                break
            except AwaitingApproval as exc:
                result = StepResult("waiting", approval=(exc.approval_id, exc.title))
                result.error = str(exc)
                break
            except Exception:
                text = traceback.format_exc()
                buffer.write(f"attempt {attempts} failed:\n{text}")
                if attempts > step.retries:
                    result = StepResult("failed", error=text)
                    break
                time.sleep(step.retry_backoff * 2 ** (attempts - 1))
    finally:
        _buffer.reset(buffer_token)
        reset_step(token)
    result.attempts = attempts
    result.pid = os.getpid()
    result.run_id = active.run_id
    text = buffer.getvalue()
    if text:
        data = text.encode()[-MAX_LOG_BYTES:]
        with contextlib.suppress(Exception):  # a log that cannot be kept never fails a step
            result.log_digest = client.objects.put(data)  # recorded with the step's end
    return result


def _save(step: Any, value: Any, ctx: MaterialiseContext) -> tuple[dict, dict]:
    names = step.outputs
    if names == ("return",):
        parts = {"return": value}
    elif isinstance(value, dict) and set(value) == set(names):
        parts = {n: value[n] for n in names}
    elif isinstance(value, (tuple, list)) and len(value) == len(names):
        parts = dict(zip(names, value, strict=True))
    else:
        from keel.errors import InvalidInput

        raise InvalidInput(
            f"Step {ctx.step!r} declares outputs {list(names)} but returned "
            f"{type(value).__name__}: return a tuple of {len(names)} values or a dict with "
            "these keys."
        )
    outputs = {}
    for name, part in parts.items():
        ctx.output = name
        outputs[name] = save_output(part, ctx, step.materializer)
    return outputs, parts


_clients: dict[Any, Any] = {}


def _client_for(config: Any) -> Any:
    """One client per worker process and configuration (made once, reused by every step)."""
    client = _clients.get(config)
    if client is None:
        from keel.client import Client

        client = _clients[config] = Client(config=config)
    return client


def run_packed(payload: bytes) -> StepResult:
    """The worker's entry point: ``payload`` is ``cloudpickle.dumps((config, task, step))``
    (so steps defined in a script or a notebook travel too)."""
    import cloudpickle

    config, task, step = cloudpickle.loads(payload)
    result = execute_step(task, step, _client_for(config))
    result.values = None  # values stay in the worker: downstream steps load the refs
    return result
