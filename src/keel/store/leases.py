"""Named leases in the database: who leads, for how long.

A lease is one ``agent_leases`` row: its name (what is led, such as ``"agent"``), its
holder and when it expires. :func:`acquire` takes it when no one holds it, when its
holder let it expire, or when the caller already holds it; it is one transaction whose
statements are atomic on SQLite (the write lock is taken up front) and on PostgreSQL (a
conditional ``UPDATE`` re-checks its condition after waiting for a concurrent one, and
``INSERT ... ON CONFLICT DO NOTHING`` lets one of two inserts win), so of any number of
processes asking at once exactly one gets it. A holder keeps it by renewing it well
before it expires; one that stops (crashes, is killed) loses it when it expires.

Times are the caller's clock in milliseconds (``now``, for tests): hosts sharing a store
are expected to keep their clocks within a small part of a lease's length.

Example::

    >>> import tempfile
    >>> from keel.store import init_project
    >>> store = init_project(tempfile.mkdtemp())
    >>> acquire(store, "agent", "host-a", 30_000), acquire(store, "agent", "host-b", 30_000)
    (True, False)
    >>> holder(store, "agent")
    'host-a'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from keel.errors import InvalidInput

from ._ids import now_ms
from .rows import dialect_insert
from .schema import agent_leases

if TYPE_CHECKING:
    from ._store import Store

__all__ = ["acquire", "held_clause", "holder", "release", "renew"]

_MAX_TTL_MS = 7 * 86_400_000


def _check(name: object, who: object, ttl_ms: object | None = None) -> None:
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise InvalidInput(f"A lease name must be a string of 1-100 characters, not {name!r}.")
    if not isinstance(who, str) or not 1 <= len(who) <= 200:
        raise InvalidInput(f"A lease holder must be a string of 1-200 characters, not {who!r}.")
    if ttl_ms is not None and (
        isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or not 1 <= ttl_ms <= _MAX_TTL_MS
    ):
        raise InvalidInput(
            f"A lease's ttl_ms must be a whole number of milliseconds from 1 to {_MAX_TTL_MS} "
            f"(a week), not {ttl_ms!r}."
        )


def acquire(store: Store, name: str, who: str, ttl_ms: int, *, now: int | None = None) -> bool:
    """Take (or keep) lease ``name`` for ``who`` until ``ttl_ms`` from now.

    True when ``who`` holds it afterwards: it was free, expired, or already ``who``'s
    (then it is renewed). False when someone else holds it and it has not expired.

    Raises:
        InvalidInput: a name, holder or ttl of the wrong shape.
    """
    _check(name, who, ttl_ms)
    now = now_ms() if now is None else now
    lease = agent_leases
    with store.write() as conn:
        taken = conn.execute(
            lease.update()
            .where(
                lease.c.name == name,
                sa.or_(lease.c.holder == who, lease.c.expires_at < now),
            )
            .values(
                holder=who,
                expires_at=now + ttl_ms,
                acquired_at=sa.case((lease.c.holder == who, lease.c.acquired_at), else_=now),
            )
        ).rowcount
        if taken == 1:
            return True
        # (the rowcount of an INSERT ... ON CONFLICT is not reliable on every driver)
        inserted = conn.execute(
            dialect_insert(conn, lease)
            .values(name=name, holder=who, acquired_at=now, expires_at=now + ttl_ms)
            .on_conflict_do_nothing()
            .returning(lease.c.holder)
        ).first()
    return inserted is not None


def renew(store: Store, name: str, who: str, ttl_ms: int, *, now: int | None = None) -> bool:
    """Extend ``who``'s lease ``name`` to ``ttl_ms`` from now; false when ``who`` no longer
    holds it (someone took it after it expired, or it was released)."""
    _check(name, who, ttl_ms)
    now = now_ms() if now is None else now
    lease = agent_leases
    with store.write() as conn:
        renewed = conn.execute(
            lease.update()
            .where(lease.c.name == name, lease.c.holder == who)
            .values(expires_at=now + ttl_ms)
        ).rowcount
    return renewed == 1


def release(store: Store, name: str, who: str) -> bool:
    """Give lease ``name`` up if ``who`` holds it (so another may take it at once);
    whether it did."""
    _check(name, who)
    lease = agent_leases
    with store.write() as conn:
        gone = conn.execute(
            lease.delete().where(lease.c.name == name, lease.c.holder == who)
        ).rowcount
    return gone == 1


def holder(store: Store, name: str, *, now: int | None = None) -> str | None:
    """Who holds lease ``name`` now, or None when no one does (free or expired)."""
    _check(name, "-")
    now = now_ms() if now is None else now
    lease = agent_leases
    with store.read() as conn:
        return conn.execute(
            sa.select(lease.c.holder).where(lease.c.name == name, lease.c.expires_at >= now)
        ).scalar()


def held_clause(name: str, who: str, now: int) -> sa.ColumnElement[bool]:
    """A SQL condition true while ``who`` holds lease ``name``: a write that adds it to its
    ``WHERE`` happens only under the lease (a fence against a holder that lost it)."""
    lease = agent_leases
    return sa.exists().where(lease.c.name == name, lease.c.holder == who, lease.c.expires_at >= now)
