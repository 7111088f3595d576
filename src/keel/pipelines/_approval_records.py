"""Approvals of pipeline runs in the store: request, list, read and decide them.

A ``pipeline_approvals`` row is made the first time a step asks for an approval of a
title (one per run, step and title) and is ``pending`` until an approver approves or
rejects it, or until its timeout passes: a pending approval past its ``timeout_at`` reads
as ``expired`` everywhere at once, and is written as such (with its audit event) the next
time someone asks for it or tries to decide it. Every change is an audit event on the
``pipeline_approval`` object.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from keel.errors import Conflict, InvalidInput, NotFound
from keel.store import Store, new_id, now_ms
from keel.store import schema as t
from keel.store.actors import Actor
from keel.store.audit import record_event

__all__ = [
    "STATUSES",
    "Approval",
    "ApprovalService",
    "check_listing",
    "check_request",
    "timeout_ms",
]

STATUSES = ("pending", "approved", "rejected", "expired")
MAX_LIMIT = 1000
MAX_COMMENT = 2000
OBJECT_KIND = "pipeline_approval"
_PREFIX = re.compile(r"^[0-9a-f]{4,32}$")


@dataclass(frozen=True)
class Approval:
    """One approval a pipeline step asked for, and its decision.

    ``status`` is ``pending``, ``approved``, ``rejected`` or ``expired`` (a pending one
    past its ``timeout_at`` reads as expired). Times are milliseconds since the epoch.
    """

    id: str
    title: str
    status: str
    pipeline: str
    pipeline_run_id: str
    step: str
    requested_at: int
    timeout_at: int | None = None
    decided_by: str | None = None
    decided_at: int | None = None
    comment: str | None = None

    @property
    def approved(self) -> bool:
        return self.status == "approved"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Approval:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def from_row(cls, row: Any, now: int) -> Approval:
        status = row["status"]
        if status == "pending" and _timed_out(row["timeout_at"], now):
            status = "expired"
        return cls(
            id=row["id"],
            title=row["title"],
            status=status,
            pipeline=row["pipeline"],
            pipeline_run_id=row["pipeline_run_id"],
            step=row["step"],
            requested_at=row["requested_at"],
            timeout_at=row["timeout_at"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            comment=row["comment"],
        )


def _timed_out(timeout_at: int | None, now: int) -> bool:
    return timeout_at is not None and timeout_at <= now


def timeout_ms(timeout: object) -> int | None:
    """Milliseconds of a timeout such as ``"24h"``, ``"30m"``, ``"7d"`` or a number of
    seconds; None for ``None`` (wait for ever)."""
    if timeout is None:
        return None
    from keel.deploy import parse_duration

    return max(1, round(parse_duration(timeout, what="An approval's timeout") * 1000))


def check_request(run_id: object, step: object, title: object) -> None:
    """Refuse a malformed approval request before anything is touched."""
    if not isinstance(title, str) or not title.strip() or len(title) > 500 or "\x00" in title:
        raise InvalidInput(
            f"An approval's title is a non-empty text of at most 500 characters, such as "
            f"'promote credit'. Got {str(title)[:80]!r}."
        )
    if not isinstance(step, str) or not step or len(step) > 200 or "\x00" in step:
        raise InvalidInput(f"An approval's step is a step name. Got {str(step)[:80]!r}.")
    if not isinstance(run_id, str) or not run_id or len(run_id) > 64 or "\x00" in run_id:
        raise InvalidInput(f"An approval's pipeline run is a run id. Got {str(run_id)[:80]!r}.")


def check_listing(status: object, limit: object, pipeline_run: object = None) -> None:
    """Refuse a malformed listing: ``status`` one of :data:`STATUSES` or ``all``,
    ``pipeline_run`` a run id or None."""
    if status not in (*STATUSES, "all"):
        raise InvalidInput(
            f"Approval status {str(status)[:40]!r} is not one of {', '.join(STATUSES)}, all: "
            "use e.g. 'keel approvals ls --status pending'."
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_LIMIT}, not {limit!r}.")
    if pipeline_run is not None and (
        not isinstance(pipeline_run, str)
        or not pipeline_run
        or len(pipeline_run) > 64
        or "\x00" in pipeline_run
    ):
        raise InvalidInput(
            f"pipeline_run is a pipeline run's id (see 'keel pipeline runs'), not "
            f"{str(pipeline_run)[:80]!r}."
        )


def _check_comment(comment: object) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT or "\x00" in comment:
        raise InvalidInput(
            f"A decision's comment is text of at most {MAX_COMMENT} characters (no NUL). "
            f"Got {str(comment)[:80]!r}."
        )
    return comment


class ApprovalService:
    """The approvals of one project's pipeline runs in a store, acted on by ``actor``.

    Args:
        store: the metadata store.
        project: the project (the store's configured one by default).
        actor: who requests and decides (the local user, an admin, by default); deciding
            needs the ``approver`` role.
    """

    def __init__(self, store: Store, *, project: str | None = None, actor: Actor | None = None):
        self.store = store
        self.project = project or store.config.project
        self.actor = actor or Actor.local()

    # -- asking ---------------------------------------------------------------------------

    def request(
        self, pipeline_run_id: str, step: str, title: str, *, timeout: object = "24h"
    ) -> Approval:
        """The approval ``title`` of ``step`` in a pipeline run: asked for now (pending,
        with an audit event) the first time, as it stands after that; a pending one past
        its timeout is marked expired here (with its audit event).

        Raises:
            InvalidInput: a malformed title, step or timeout.
            NotFound: no such pipeline run in the project.
        """
        check_request(pipeline_run_id, step, title)
        wait_ms = timeout_ms(timeout)
        self.actor.require("writer", "ask for a pipeline approval")
        project_id = self.store.project_id(self.project)
        a = t.pipeline_approvals
        now = now_ms()
        with self.store.write() as conn:
            self._check_run(conn, project_id, pipeline_run_id)
            row = self._row(conn, a.c.pipeline_run_id == pipeline_run_id, step, title)
            if row is None:
                approval_id = new_id()
                conn.execute(
                    a.insert().values(
                        id=approval_id,
                        project_id=project_id,
                        pipeline_run_id=pipeline_run_id,
                        step=step,
                        title=title,
                        status="pending",
                        requested_at=now,
                        timeout_at=None if wait_ms is None else now + wait_ms,
                    )
                )
                details = {"title": title, "step": step, "run": pipeline_run_id}
                self._audit(conn, project_id, "request", approval_id, details, now)
            elif row["status"] == "pending" and _timed_out(row["timeout_at"], now):
                self._expire(conn, project_id, row["id"], now)
        return self.get_exact(pipeline_run_id, step, title)

    # -- reading --------------------------------------------------------------------------

    def list(
        self, *, status: str = "pending", limit: int = 100, pipeline_run: str | None = None
    ) -> list[Approval]:
        """Approvals with ``status`` (``pending``, ``approved``, ``rejected``, ``expired``
        or ``all``), newest first, at most ``limit`` (1 to 1000); only those of one
        pipeline run when ``pipeline_run`` (its id) is given."""
        check_listing(status, limit, pipeline_run)
        project_id = self.store.read_project_id(self.project)
        if project_id is None:
            return []
        a, now = t.pipeline_approvals, now_ms()
        query = self._query().where(a.c.project_id == project_id)
        if pipeline_run is not None:
            query = query.where(a.c.pipeline_run_id == pipeline_run)
        live = sa.or_(a.c.timeout_at.is_(None), a.c.timeout_at > now)
        if status == "pending":
            query = query.where(a.c.status == "pending", live)
        elif status == "expired":
            query = query.where(
                sa.or_(a.c.status == "expired", sa.and_(a.c.status == "pending", sa.not_(live)))
            )
        elif status != "all":
            query = query.where(a.c.status == status)
        query = query.order_by(a.c.requested_at.desc(), a.c.id.desc()).limit(limit)
        with self.store.read() as conn:
            rows = conn.execute(query).mappings().all()
        return [Approval.from_row(r, now) for r in rows]

    def get(self, approval_id: str) -> Approval:
        """One approval by id, or by a prefix of it (at least 4 characters) that only one
        approval of the project has.

        Raises:
            NotFound: no approval, or more than one, matches.
        """
        return Approval.from_row(self._find(approval_id), now_ms())

    def get_exact(self, pipeline_run_id: str, step: str, title: str) -> Approval:
        """The approval ``title`` of ``step`` in a pipeline run."""
        with self.store.read() as conn:
            row = self._row(
                conn, t.pipeline_approvals.c.pipeline_run_id == pipeline_run_id, step, title
            )
        if row is None:
            raise NotFound(
                f"No approval {title!r} of step {step!r} in pipeline run {pipeline_run_id}."
            )
        return Approval.from_row(row, now_ms())

    # -- deciding -------------------------------------------------------------------------

    def approve(self, approval_id: str, comment: str | None = None) -> Approval:
        """Approve a pending approval (the actor needs the ``approver`` role); the waiting
        run goes on when it is resumed.

        Raises:
            PermissionDenied: the actor is not an approver.
            Conflict: the approval was already decided, or has expired.
            NotFound: no such approval (or the prefix is ambiguous).
        """
        return self._decide(approval_id, "approved", comment)

    def reject(self, approval_id: str, comment: str | None = None) -> Approval:
        """Reject a pending approval (the ``approver`` role); the step that asked for it
        fails with :class:`~keel.errors.ApprovalRejected` when the run is resumed.

        Raises:
            PermissionDenied: the actor is not an approver.
            Conflict: the approval was already decided, or has expired.
            NotFound: no such approval (or the prefix is ambiguous).
        """
        return self._decide(approval_id, "rejected", comment)

    def _decide(self, approval_id: str, status: str, comment: str | None) -> Approval:
        verb = "approve" if status == "approved" else "reject"
        comment = _check_comment(comment)
        self.actor.require("approver", f"{verb} a pipeline approval")
        row = self._find(approval_id)
        a, now = t.pipeline_approvals, now_ms()
        project_id = self.store.project_id(self.project)
        with self.store.write() as conn:
            current = conn.execute(sa.select(a).where(a.c.id == row["id"])).mappings().one()
            expired = current["status"] == "pending" and _timed_out(current["timeout_at"], now)
            if expired:
                self._expire(conn, project_id, row["id"], now)
            elif current["status"] == "pending":
                conn.execute(
                    a.update()
                    .where(a.c.id == row["id"], a.c.status == "pending")
                    .values(
                        status=status, decided_by=self.actor.name, decided_at=now, comment=comment
                    )
                )
                details = {"title": row["title"], "run": row["pipeline_run_id"], "comment": comment}
                self._audit(conn, project_id, verb, row["id"], details, now)
        if expired or current["status"] != "pending":
            was = "expired" if expired else current["status"]
            by = f" by {current['decided_by']}" if current["decided_by"] and not expired else ""
            raise Conflict(
                f"Approval {row['id']} ({row['title']!r}) is {was}{by}, so it cannot be "
                f"{status}; nothing was changed. A decision is final: to ask again, run the "
                "pipeline again (keel pipeline run) and decide the new approval."
            )
        return self.get(row["id"])

    # -- helpers --------------------------------------------------------------------------

    def _query(self) -> sa.Select:
        a, r, p = t.pipeline_approvals, t.pipeline_runs, t.pipelines
        return (
            sa.select(a, p.c.name.label("pipeline"))
            .join(r, r.c.id == a.c.pipeline_run_id)
            .join(p, p.c.id == r.c.pipeline_id)
        )

    def _row(self, conn: sa.Connection, where: Any, step: str, title: str) -> Any:
        a = t.pipeline_approvals
        query = self._query().where(where, a.c.step == step, a.c.title == title)
        return conn.execute(query).mappings().first()

    def _find(self, approval_id: str) -> Any:
        project_id = self.store.read_project_id(self.project)
        rows: list[Any] = []
        prefix = approval_id.strip().lower() if isinstance(approval_id, str) else ""
        if project_id is not None and _PREFIX.match(prefix):
            a = t.pipeline_approvals
            query = self._query().where(a.c.project_id == project_id)
            if len(prefix) == 32:
                query = query.where(a.c.id == prefix)
            else:
                query = query.where(a.c.id.like(prefix + "%"))
            with self.store.read() as conn:
                rows = list(conn.execute(query.limit(2)).mappings().all())
        if len(rows) == 1:
            return rows[0]
        shown = str(approval_id)[:60]
        if rows:
            raise NotFound(
                f"Approval id prefix {shown!r} matches more than one approval in project "
                f"{self.project!r}: give more of the id (keel approvals ls --status all)."
            )
        raise NotFound(
            f"No approval {shown!r} in project {self.project!r} (ids are 32 hex characters; "
            "a prefix of at least 4 will do). List them with 'keel approvals ls --status all'."
        )

    def _check_run(self, conn: sa.Connection, project_id: str, run_id: str) -> None:
        r, p = t.pipeline_runs, t.pipelines
        found = conn.execute(
            sa.select(r.c.id)
            .join(p, p.c.id == r.c.pipeline_id)
            .where(r.c.id == run_id, p.c.project_id == project_id)
        ).first()
        if found is None:
            raise NotFound(
                f"No pipeline run {run_id[:64]!r} in project {self.project!r}: an approval "
                "belongs to a run of a pipeline (keel.approval is called inside a step)."
            )

    def _expire(self, conn: sa.Connection, project_id: str, approval_id: str, now: int) -> None:
        a = t.pipeline_approvals
        expired = conn.execute(
            a.update()
            .where(a.c.id == approval_id, a.c.status == "pending")
            .values(status="expired", decided_at=now)
        ).rowcount
        if expired:
            self._audit(conn, project_id, "expire", approval_id, {}, now)

    def _audit(
        self,
        conn: sa.Connection,
        project_id: str,
        action: str,
        approval_id: str,
        details: dict[str, Any],
        at: int,
    ) -> None:
        record_event(
            conn,
            project_id=project_id,
            actor=self.actor.name,
            action=action,
            object_kind=OBJECT_KIND,
            object_id=approval_id,
            details=details,
            at=at,
        )
