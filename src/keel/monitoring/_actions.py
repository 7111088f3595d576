"""What an alert does when it opens: the ``on_alert`` actions of a monitor.

Each action is one mapping in the monitor's ``on_alert`` list:

=============================== ==========================================================
``{log: true}``                  a WARNING record on the ``keel.alerts`` logger, with the
                                 alert as a JSON-able ``alert`` extra
``{webhook: URL}``               an HTTP POST of the alert as JSON; retried on a network
                                 error, 408, 429 or 5xx with exponential backoff (``tries``
                                 3, ``backoff`` 0.5 s, ``timeout`` 5 s per try)
``{rollback: true}``             roll the monitor's deployment back (or ``{rollback: NAME}``)
``{command: [argv...]}``         run a program (no shell unless the list names one), with
                                 ``timeout`` (60 s) and KEEL_ALERT_* in its environment
``{callable: "module:func"}``    import and call ``func(alert)``: code named by the monitor
                                 file runs in the monitoring process, so only trusted
                                 monitor files belong in a project
``{trigger_pipeline: NAME}``     queue a run of pipeline NAME of the monitor's project
                                 (``params``: a mapping of the run's params)
                                 (its trigger ``{kind: alert, alert, monitor}``; the agent
                                 executes it); at most ``alerting.max_retrains_per_day``
                                 (2) per model in any 24 hours, and one held back is
                                 recorded so; an unknown pipeline fails, naming the others
=============================== ==========================================================

Every action ends as one entry in the alert's ``actions`` (type, target, status, detail,
started_at, ended_at and what the action adds, such as ``attempts`` or ``exit_code``) and
one audit event ``alert.<type>``; ``status`` is ``ok``, ``failed``, ``skipped``,
``unavailable`` or ``held_back``. An action that fails never stops the others.
"""

from __future__ import annotations

import importlib
import logging
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from keel._plural import count
from keel.errors import InvalidInput, KeelError
from keel.store import now_ms
from keel.store import schema as t

from ._alert_records import Alert

__all__ = ["ACTION_TYPES", "Action", "ActionContext", "parse_actions", "run_actions"]

log = logging.getLogger("keel.alerts")

ACTION_TYPES = ("log", "webhook", "rollback", "command", "callable", "trigger_pipeline")
_OPTIONS = {
    "webhook": {"timeout": 5.0, "tries": 3, "backoff": 0.5},
    "command": {"timeout": 60.0},
    "trigger_pipeline": {"params": None},
}
_LIMITS = {"timeout": (0.1, 3600.0), "tries": (1, 10), "backoff": (0.0, 60.0)}
DAY_MS = 86_400_000
_TAIL = 2000
_BUDGET_LOCK = threading.Lock()


@dataclass(frozen=True)
class Action:
    """One parsed ``on_alert`` entry: its type, its target and its options."""

    type: str
    target: Any
    options: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> Any:
        """The target as JSON: what the entry in the alert's ``actions`` names."""
        return list(self.target) if isinstance(self.target, tuple) else self.target


@dataclass
class ActionContext:
    """What an action needs: the client, the alert, its JSON body and the retrain budget."""

    client: Any
    alert: Alert
    payload: dict[str, Any]
    project_id: str
    max_retrains_per_day: int = 2


def parse_actions(on_alert: object) -> list[Action]:
    """The actions of a monitor's ``on_alert`` list, checked for shape.

    Raises:
        InvalidInput: not a list of one-action mappings; the message names the entry.
    """
    if on_alert is None:
        return []
    if isinstance(on_alert, str | bytes) or not isinstance(on_alert, list | tuple):
        raise InvalidInput(
            f"on_alert must be a list of actions such as [{{webhook: 'http://...'}}, "
            f"{{rollback: true}}], not {type(on_alert).__name__}."
        )
    return [_parse_one(i, entry) for i, entry in enumerate(on_alert)]


def _parse_one(index: int, entry: object) -> Action:
    where = f"on_alert[{index}]"
    if not isinstance(entry, Mapping):
        raise InvalidInput(f"{where} must be a mapping such as {{log: true}}, not {entry!r}.")
    kinds = [k for k in entry if k in ACTION_TYPES]
    if len(kinds) != 1:
        raise InvalidInput(
            f"{where} must name exactly one action of {', '.join(ACTION_TYPES)}; "
            f"it has {', '.join(map(str, entry)) or 'none'}."
        )
    kind = kinds[0]
    allowed = _OPTIONS.get(kind, {})
    extra = [k for k in entry if k != kind and k not in allowed]
    if extra:
        hint = f" (it takes {', '.join(allowed)})" if allowed else ""
        raise InvalidInput(f"{where}: {kind} has no option {', '.join(map(str, extra))}{hint}.")
    options = {k: _option(where, k, entry.get(k, default)) for k, default in allowed.items()}
    return Action(kind, _TARGETS[kind](where, entry[kind]), options)


def _option(where: str, name: str, value: object) -> Any:
    if name == "params":  # the queued run's params: names to JSON values
        if value is None:
            return None
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise InvalidInput(
                f"{where}: params must be a mapping of param names to values such as "
                f"{{months: [7, 8, 9]}}, not {value!r}."[:300]
            )
        return dict(value)
    low, high = _LIMITS[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidInput(f"{where}: {name} must be a number from {low} to {high}, not {value!r}.")
    return int(value) if name == "tries" else float(value)


def _url(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidInput(f"{where}: webhook must be an http:// or https:// URL, not {value!r}.")
    return value


def _flag_or_name(where: str, value: object) -> bool | str:
    if isinstance(value, bool) or (isinstance(value, str) and value.strip()):
        return value
    raise InvalidInput(
        f"{where}: rollback must be true, false or a deployment's name, not {value!r}."
    )


def _argv(where: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = shlex.split(value)
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(a, str) for a in value)
    ):
        raise InvalidInput(
            f"{where}: command must be a non-empty list of strings such as "
            f"['sh', '-c', 'echo $KEEL_ALERT_ID'], not {value!r}."
        )
    return tuple(value)


def _function(where: str, value: object) -> str:
    module, _, name = value.partition(":") if isinstance(value, str) else ("", "", "")
    if not module or not name:
        raise InvalidInput(
            f"{where}: callable must be 'module:function' (e.g. 'myteam.hooks:page'), "
            f"not {value!r}."
        )
    return str(value)


def _pipeline(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where}: trigger_pipeline must name a pipeline, not {value!r}.")
    return value


def _flag(where: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"{where}: log must be true or false, not {value!r}.")
    return value


_TARGETS: dict[str, Callable[[str, object], Any]] = {
    "log": _flag,
    "webhook": _url,
    "rollback": _flag_or_name,
    "command": _argv,
    "callable": _function,
    "trigger_pipeline": _pipeline,
}


# -- running ---------------------------------------------------------------------------


def run_actions(
    actions: list[Action],
    ctx: ActionContext,
    record: Callable[[int, dict[str, Any]], None],
) -> None:
    """Run every action in order; ``record(index, entry)`` stores each outcome as it ends."""
    for index, action in enumerate(actions):
        if action.type == "trigger_pipeline":
            # the budget is counted from the recorded triggers: count and record together
            with _BUDGET_LOCK:
                record(index, _run_one(action, ctx))
        else:
            record(index, _run_one(action, ctx))


def pending_entry(action: Action) -> dict[str, Any]:
    """The entry of an action that has not run yet."""
    return {"type": action.type, "target": action.describe(), "status": "pending"}


def _run_one(action: Action, ctx: ActionContext) -> dict[str, Any]:
    started = now_ms()
    try:
        outcome = _RUNNERS[action.type](action, ctx)
    except Exception as exc:  # an action's failure is recorded, never raised
        outcome = {"status": "failed", "detail": f"{type(exc).__name__}: {exc}"}
    entry = {"type": action.type, "target": action.describe(), **outcome}
    entry["started_at"], entry["ended_at"] = started, now_ms()
    return entry


def _log(action: Action, ctx: ActionContext) -> dict[str, Any]:
    if not action.target:
        return {"status": "skipped", "detail": "log: false"}
    alert = ctx.alert
    log.warning(
        "alert %s on %s: %s", alert.id, alert.monitor, alert.message, extra={"alert": ctx.payload}
    )
    return {"status": "ok", "detail": "logged at WARNING on the keel.alerts logger"}


def _webhook(action: Action, ctx: ActionContext) -> dict[str, Any]:
    import httpx

    options = action.options
    tries, timeout, backoff = options["tries"], options["timeout"], options["backoff"]
    attempts: list[str] = []
    headers = {"User-Agent": "keel-alerts", "X-Keel-Alert": ctx.alert.id}
    for attempt in range(tries):
        retry = True
        try:
            response = httpx.post(action.target, json=ctx.payload, timeout=timeout, headers=headers)
            if 200 <= response.status_code < 300:
                attempts.append(f"HTTP {response.status_code}")
                detail = f"delivered on try {attempt + 1}"
                return {"status": "ok", "detail": detail, "attempts": attempts}
            attempts.append(f"HTTP {response.status_code}")
            retry = response.status_code >= 500 or response.status_code in (408, 429)
        except httpx.HTTPError as exc:
            attempts.append(f"{type(exc).__name__}: {exc}"[:300])
        if not retry:
            break
        if attempt < tries - 1:
            time.sleep(backoff * 2**attempt)
    tries_made = f"{len(attempts)} tr{'y' if len(attempts) == 1 else 'ies'}"
    detail = f"not delivered after {tries_made}: {attempts[-1]}"
    return {"status": "failed", "detail": detail, "attempts": attempts}


def _rollback(action: Action, ctx: ActionContext) -> dict[str, Any]:
    if action.target is False:
        return {"status": "skipped", "detail": "rollback: false"}
    deployment = action.target if isinstance(action.target, str) else ctx.alert.deployment
    if not deployment:
        return {"status": "failed", "detail": "the monitor names no deployment to roll back"}
    try:
        rollout = ctx.client.deployments.rollback(deployment)
    except KeelError as exc:
        return {"status": "failed", "detail": exc.message, "deployment": deployment}
    return {
        "status": "ok",
        "detail": f"rolled {deployment} back: revision {rollout.revision} restores revision "
        f"{rollout.restores}",
        "deployment": deployment,
        "revision": rollout.revision,
    }


def _command(action: Action, ctx: ActionContext) -> dict[str, Any]:
    import orjson

    alert = ctx.alert
    env = {
        **os.environ,
        "KEEL_ALERT_ID": alert.id,
        "KEEL_ALERT_MONITOR": alert.monitor,
        "KEEL_ALERT_DEPLOYMENT": alert.deployment or "",
        "KEEL_ALERT_SEVERITY": alert.severity,
        "KEEL_ALERT_MESSAGE": alert.message,
        "KEEL_ALERT_JSON": orjson.dumps(ctx.payload, default=str).decode(),
    }
    timeout = action.options["timeout"]
    try:
        done = subprocess.run(
            list(action.target),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        return {"status": "failed", "detail": f"no program {action.target[0]!r} on PATH"}
    except subprocess.TimeoutExpired:
        return {"status": "failed", "detail": f"stopped after the timeout of {timeout:g} s"}
    return {
        "status": "ok" if done.returncode == 0 else "failed",
        "detail": f"exit code {done.returncode}",
        "exit_code": done.returncode,
        "stdout": done.stdout[-_TAIL:],
        "stderr": done.stderr[-_TAIL:],
    }


def _callable(action: Action, ctx: ActionContext) -> dict[str, Any]:
    module_name, _, attribute = action.target.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        return {"status": "failed", "detail": f"cannot import {action.target!r}: {exc}"}
    if not callable(target):
        return {"status": "failed", "detail": f"{action.target!r} is not callable"}
    returned = target(ctx.alert)
    entry: dict[str, Any] = {"status": "ok", "detail": f"called {action.target}"}
    if returned is not None:
        entry["returned"] = repr(returned)[:_TAIL]
    return entry


def _trigger_pipeline(action: Action, ctx: ActionContext) -> dict[str, Any]:
    model = _model_of(ctx)
    budget = ctx.max_retrains_per_day
    used = _retrains_since(ctx, model, now_ms() - DAY_MS)
    base = {"pipeline": action.target, "model": model}
    if used >= budget:
        return {
            **base,
            "status": "held_back",
            "detail": f"held back: model {model!r} already had "
            f"{count(used, 'retraining')} asked for "
            f"in the last 24 hours, the most alerting.max_retrains_per_day={budget} allows",
        }
    from keel.errors import InvalidInput, NotFound
    from keel.pipelines._records import submit_run

    project = _project_of(ctx)
    trigger = {"kind": "alert", "alert": ctx.alert.id, "monitor": ctx.alert.monitor}
    try:  # the params are checked against the pipeline's as any submission's are
        params = action.options.get("params")
        run = submit_run(ctx.client.store, project, action.target, params=params, trigger=trigger)
    except (NotFound, InvalidInput) as exc:
        return {**base, "status": "failed", "detail": exc.message}
    from keel.store.lineage import record_edges

    record_edges(ctx.client.store, [("alert", ctx.alert.id, "triggered", "pipeline_run", run)])
    return {
        **base,
        "status": "ok",
        "detail": f"queued run {run} of pipeline {action.target!r}",
        "run": run,
    }


def _project_of(ctx: ActionContext) -> str:
    """The name of the project the monitor is in."""
    projects = ctx.client.store.projects()
    return str(next(p["name"] for p in projects if p["id"] == ctx.project_id))


def _model_of(ctx: ActionContext) -> str:
    """The model the deployment serves (what the retraining budget is kept per), or the
    deployment's (else the monitor's) name when it cannot be read."""
    deployment = ctx.alert.deployment
    if deployment:
        try:
            current = ctx.client.deployments.current(deployment)
        except KeelError:
            current = None
        if current is not None and current.spec.model:
            return current.spec.model
        return deployment
    return ctx.alert.monitor


def _retrains_since(ctx: ActionContext, model: str, since: int) -> int:
    ev = t.audit_events
    query = sa.select(ev.c.details).where(
        ev.c.project_id == ctx.project_id,
        ev.c.action == "alert.trigger_pipeline",
        ev.c.created_at >= since,
    )
    with ctx.client.store.read() as conn:
        rows = conn.execute(query).scalars().all()
    # a request counts when it queued a run ("unavailable": asked before pipelines existed)
    return sum(1 for d in rows if d and d.get("model") == model and d.get("status") in _COUNTED)


_COUNTED = ("ok", "unavailable")


_RUNNERS: dict[str, Callable[[Action, ActionContext], dict[str, Any]]] = {
    "log": _log,
    "webhook": _webhook,
    "rollback": _rollback,
    "command": _command,
    "callable": _callable,
    "trigger_pipeline": _trigger_pipeline,
}
