"""What each trigger looks at: a schedule, a dataset's versions, a folder, a monitor's alerts.

Each kind has two functions over a :class:`Look` (the store, the project and the time):
``first`` records what is there when the trigger is first seen (so it does not fire for
it), and ``poll`` compares what is there now with what was seen last, returning the run
to queue (its ``trigger`` record and ``params``) or None, and the state to keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from keel.errors import NotFound
from keel.store import Store, new_id

from .triggers import Cron, OnAlert, OnDataset, OnFiles, Trigger

__all__ = ["Fire", "Look", "first_state", "poll"]

State = dict[str, Any]
MAX_LISTED = 100  # files named in a run's trigger record (its param has them all)


@dataclass(frozen=True)
class Look:
    """Where a trigger looks: a store, one of its projects, and the time (ms)."""

    store: Store
    project: str
    now: int


@dataclass(frozen=True)
class Fire:
    """A run to queue: why (its ``trigger`` record) and the params the trigger gives it."""

    trigger: dict[str, Any]
    params: dict[str, Any]


# -- cron -------------------------------------------------------------------------------


def _next_after(line: str, ms: int) -> int:
    from croniter import croniter

    after = datetime.fromtimestamp(ms / 1000, UTC)
    return int(croniter(line, after).get_next(datetime).timestamp() * 1000)


def _cron_first(trigger: Cron, look: Look) -> State:
    return {"next": _next_after(trigger.cron, look.now)}


def _cron_poll(trigger: Cron, state: State, look: Look) -> tuple[Fire | None, State]:
    due = int(state.get("next") or 0)
    if look.now < due:
        return None, state
    # one run for however many occurrences passed; the next one is after now
    fire = Fire({"kind": "schedule", "cron": trigger.cron, "scheduled_for": due}, {})
    return fire, {"next": _next_after(trigger.cron, look.now)}


# -- dataset ----------------------------------------------------------------------------


def _latest_version(trigger: OnDataset, look: Look) -> int:
    from keel.data import DatasetService

    try:
        return DatasetService(look.store, project=look.project).resolve(trigger.dataset).version
    except NotFound:
        return 0


def _dataset_first(trigger: OnDataset, look: Look) -> State:
    return {"version": _latest_version(trigger, look)}


def _dataset_poll(trigger: OnDataset, state: State, look: Look) -> tuple[Fire | None, State]:
    latest, seen = _latest_version(trigger, look), int(state.get("version") or 0)
    if latest <= seen:
        return None, ({"version": latest} if latest < seen else state)  # erased and begun again
    ref = f"{trigger.dataset}:v{latest}"
    params = {trigger.param: ref} if trigger.param else {}
    return Fire({"kind": "dataset", "dataset": trigger.dataset, "version": ref}, params), {
        "version": latest
    }


# -- files ------------------------------------------------------------------------------


def _listing(trigger: OnFiles, look: Look) -> dict[str, str]:
    """Every matching file below the folder: its URL and a signature of its content."""
    import fnmatch

    import fsspec

    fs, root = fsspec.core.url_to_fs(trigger.path)
    fs.invalidate_cache()  # a listing cached at the last tick would hide new files
    if not fs.exists(root):
        return {}
    remote = "://" in trigger.path
    root = root.rstrip("/")
    out = {}
    for path, info in fs.find(root, detail=True).items():
        if info.get("type", "file") != "file":
            continue
        relative = path[len(root) :].lstrip("/")
        if not fnmatch.fnmatchcase(relative, trigger.pattern):
            continue
        when = info.get("mtime") or info.get("LastModified") or info.get("created") or ""
        tag = info.get("ETag") or info.get("etag") or info.get("md5") or ""
        out[fs.unstrip_protocol(path) if remote else path] = f"{info.get('size')}|{when}|{tag}"
    return out


def _files_first(trigger: OnFiles, look: Look) -> State:
    return {"files": _listing(trigger, look)}


def _files_poll(trigger: OnFiles, state: State, look: Look) -> tuple[Fire | None, State]:
    seen: dict[str, str] = state.get("files") or {}
    now = _listing(trigger, look)
    changed = sorted(p for p, signature in now.items() if seen.get(p) != signature)
    if not changed:
        return None, ({"files": now} if now != seen else state)  # files went: forget them
    record = {
        "kind": "files",
        "path": trigger.path,
        "count": len(changed),
        "files": changed[:MAX_LISTED],
    }
    params = {trigger.param: changed} if trigger.param else {}
    return Fire(record, params), {"files": now}


# -- alert ------------------------------------------------------------------------------


def _alert_first(trigger: OnAlert, look: Look) -> State:
    return {"after": new_id()}  # ids sort by creation time: every later alert sorts after


def _alert_poll(trigger: OnAlert, state: State, look: Look) -> tuple[Fire | None, State]:
    from keel.monitoring.alerts import AlertService

    after = str(state.get("after") or "")
    alerts = AlertService(look.store, project=look.project).list(
        status="all", monitor=trigger.monitor, limit=100
    )
    new = sorted(a.id for a in alerts if a.id > after)
    if not new:
        return None, state
    record = {"kind": "alert", "monitor": trigger.monitor, "alert": new[-1], "alerts": new}
    return Fire(record, {}), {"after": new[-1]}


_FIRST: dict[type[Trigger], Callable[[Any, Look], State]] = {
    Cron: _cron_first,
    OnDataset: _dataset_first,
    OnFiles: _files_first,
    OnAlert: _alert_first,
}
_POLL: dict[type[Trigger], Callable[[Any, State, Look], tuple[Fire | None, State]]] = {
    Cron: _cron_poll,
    OnDataset: _dataset_poll,
    OnFiles: _files_poll,
    OnAlert: _alert_poll,
}


def first_state(trigger: Trigger, look: Look) -> State:
    """What ``trigger`` sees when it is first seen: its state, so it fires only for what
    comes after."""
    return _FIRST[type(trigger)](trigger, look)


def poll(trigger: Trigger, state: State, look: Look) -> tuple[Fire | None, State]:
    """Whether ``trigger`` fires now given what it saw last (``state``), and its new state."""
    return _POLL[type(trigger)](trigger, state, look)
