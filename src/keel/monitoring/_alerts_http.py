"""Alerts through a keel server: the same methods as :class:`AlertService`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._alert_records import Alert, check_comment, check_status

if TYPE_CHECKING:
    from keel._remote import RemoteClient

__all__ = ["HttpAlerts"]


class HttpAlerts:
    """The alerts of one project of a keel server (a reader token; a writer token to
    acknowledge or resolve one).

    Args:
        remote: the connection to the server.
        project: the project to read.
    """

    def __init__(self, remote: RemoteClient, *, project: str) -> None:
        self.remote = remote
        self.project = project

    def _path(self, *parts: str) -> str:
        tail = "".join("/" + quote(str(p), safe="") for p in parts)
        return f"/api/v1/projects/{quote(self.project, safe='')}/alerts{tail}"

    def list(
        self, *, status: str = "open", monitor: str | None = None, limit: int = 100
    ) -> list[Alert]:
        """Alerts with ``status`` (``open``, ``resolved`` or ``all``), newest first."""
        params: dict[str, Any] = {"status": check_status(status), "limit": limit}
        if monitor is not None:
            params["monitor"] = monitor
        return [Alert.from_dict(a) for a in self.remote.json("GET", self._path(), params=params)]

    def get(self, alert_id: str) -> Alert:
        """One alert by id."""
        return Alert.from_dict(self.remote.json("GET", self._path(str(alert_id))))

    def acknowledge(self, alert_id: str, comment: str | None = None) -> Alert:
        """Acknowledge an open alert (a writer token): it stays open, showing who is on it."""
        return self._act(alert_id, "acknowledge", comment)

    def resolve(self, alert_id: str, comment: str | None = None) -> Alert:
        """Resolve an open alert by hand (a writer token)."""
        return self._act(alert_id, "resolve", comment)

    def _act(self, alert_id: str, verb: str, comment: str | None) -> Alert:
        body = {"comment": check_comment(comment)}
        path = self._path(str(alert_id) or "-", verb)
        return Alert.from_dict(self.remote.json("POST", path, json=body))
