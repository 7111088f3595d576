"""API tokens: shown once at creation, stored only as a hash, carried as Bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, replace

import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound, Unauthenticated
from keel.store import Store, check_project_name, new_id, now_ms
from keel.store import schema as t
from keel.store.actors import ROLES, check_role, role_allows

__all__ = ["ROLES", "TokenInfo", "TokenService"]


PREFIX = "keel_"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: str
    created_at: int
    revoked_at: int | None = None
    projects: tuple[str, ...] = ()
    """The projects this token may be used on; empty means every project."""

    def allows(self, role: str) -> bool:
        """Whether this token's role includes ``role``."""
        return role_allows(self.role, role)

    def allows_project(self, project: str) -> bool:
        """Whether this token may be used on ``project``."""
        return not self.projects or project in self.projects


def _hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is safe: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


CACHE_TTL_S = 2.0
"""How long a successful authentication is reused without asking the database again."""
CACHE_SIZE = 1024
_LIVE: weakref.WeakSet[TokenService] = weakref.WeakSet()


class TokenService:
    """Create, list, revoke and check tokens in a store.

    :meth:`authenticate` remembers a valid token for :data:`CACHE_TTL_S` seconds, so a
    client's stream of requests does not query the database on every one. A token revoked
    in this process is refused at once by every service; one revoked by another process
    (``keel token revoke`` beside a running server) is refused within :data:`CACHE_TTL_S`.
    """

    def __init__(self, store: Store, *, cache_ttl_s: float = CACHE_TTL_S) -> None:
        self.store = store
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[str, tuple[float, TokenInfo]] = {}
        self._lock = threading.Lock()
        _LIVE.add(self)

    def create(self, name: str, role: str, projects: Iterable[str] = ()) -> tuple[TokenInfo, str]:
        """A new token; the secret is returned here and never again.

        Args:
            name: what the token is for.
            role: reader, writer, approver or admin.
            projects: the projects the token may be used on (every project if empty).
        """
        check_role(role)
        if not name or len(name) > 200 or "\x00" in name:
            raise InvalidInput("A token needs a name of 1 to 200 characters, e.g. 'ci-pipeline'.")
        scope = tuple(sorted({check_project_name(p) for p in projects}))
        secret = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(new_id(), name, role, now_ms(), projects=scope)
        with self.store.write() as conn:
            conn.execute(
                t.tokens.insert().values(
                    id=info.id,
                    name=name,
                    role=role,
                    token_hash=_hash(secret),
                    created_at=info.created_at,
                )
            )
            if scope:
                conn.execute(
                    t.token_projects.insert(), [{"token_id": info.id, "project": p} for p in scope]
                )
        return info, secret

    def list(self) -> list[TokenInfo]:
        cols = (
            t.tokens.c.id,
            t.tokens.c.name,
            t.tokens.c.role,
            t.tokens.c.created_at,
            t.tokens.c.revoked_at,
        )
        with self.store.read() as conn:
            rows = conn.execute(sa.select(*cols).order_by(t.tokens.c.created_at)).all()
            scopes = _scopes(conn)
        return [TokenInfo(*row, projects=scopes.get(row.id, ())) for row in rows]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke the active token whose id is ``token_id`` or starts with it (as 'keel token
        ls' shows ids shortened); an ambiguous prefix names the tokens it matches."""
        token_id = token_id.strip() if isinstance(token_id, str) else ""
        if not token_id:
            raise InvalidInput("Give the id of the token to revoke (see 'keel token ls').")
        active = [info for info in self.list() if info.revoked_at is None]
        matches = [info for info in active if info.id == token_id] or [
            info for info in active if info.id.startswith(token_id)
        ]
        if not matches:
            raise NotFound(
                f"No active token with id or id prefix {token_id[:60]!r}. "
                "List them with 'keel token ls'."
            )
        if len(matches) > 1:
            names = ", ".join(f"{i.id[:12]} ({i.name})" for i in matches[:5])
            raise InvalidInput(
                f"The id prefix {token_id!r} is ambiguous: it starts the ids of {names}. "
                "Give more characters."
            )
        revoked = replace(matches[0], revoked_at=now_ms())
        with self.store.write() as conn:
            conn.execute(
                t.tokens.update()
                .where(t.tokens.c.id == revoked.id, t.tokens.c.revoked_at.is_(None))
                .values(revoked_at=revoked.revoked_at)
            )
        for service in list(_LIVE):  # every server of this process forgets it at once
            with service._lock:
                service._cache.clear()
        return revoked

    def remembered(self, secret: str) -> TokenInfo | None:
        """The token a secret belongs to if :meth:`authenticate` admitted it within the
        last ``cache_ttl_s`` seconds, else None; never touches the store, so an event loop
        may call it without blocking."""
        cached = self._cache.get(_hash(secret))
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def authenticate(self, secret: str) -> TokenInfo:
        """The token a secret belongs to; raises :class:`Unauthenticated` if none or revoked.

        A valid token is remembered for ``cache_ttl_s`` seconds (refusals are not)."""
        key = _hash(secret)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        info = self._lookup(key)
        with self._lock:
            if len(self._cache) >= CACHE_SIZE:
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
            self._cache[key] = (now + self.cache_ttl_s, info)
        return info

    def _lookup(self, token_hash: str) -> TokenInfo:
        tk = t.tokens
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(tk.c.id, tk.c.name, tk.c.role, tk.c.created_at, tk.c.revoked_at).where(
                    tk.c.token_hash == token_hash
                )
            ).first()
            scope = _scopes(conn, row.id).get(row.id, ()) if row is not None else ()
        if row is None or row.revoked_at is not None:
            raise Unauthenticated(
                "The bearer token is not valid or was revoked. Create one with "
                "'keel token create --role reader|writer|approver|admin' and set KEEL_TOKEN."
            )
        return TokenInfo(*row, projects=scope)


def _scopes(conn: sa.Connection, token_id: str | None = None) -> dict[str, tuple[str, ...]]:
    """The projects of each scoped token (of one token if ``token_id`` is given)."""
    tp = t.token_projects
    query = sa.select(tp.c.token_id, tp.c.project).order_by(tp.c.project)
    if token_id is not None:
        query = query.where(tp.c.token_id == token_id)
    out: dict[str, tuple[str, ...]] = {}
    for tid, project in conn.execute(query):
        out[tid] = (*out.get(tid, ()), project)
    return out
