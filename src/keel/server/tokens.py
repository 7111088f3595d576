"""API tokens: shown once at creation, stored only as a hash, carried as Bearer tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from keel.errors import InvalidInput, NotFound, Unauthenticated
from keel.store import Store, new_id, now_ms
from keel.store import schema as t

__all__ = ["ROLES", "TokenInfo", "TokenService"]

ROLES = ("reader", "writer", "admin")
"""Each role can do what the ones before it can: read, then write, then administer."""

PREFIX = "keel_"


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    role: str
    created_at: int
    revoked_at: int | None = None

    def allows(self, role: str) -> bool:
        """Whether this token's role includes ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)


def _hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is safe: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


class TokenService:
    """Create, list, revoke and check tokens in a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, name: str, role: str) -> tuple[TokenInfo, str]:
        """A new token; the secret is returned here and never again."""
        if role not in ROLES:
            raise InvalidInput(f"Role {role!r} is not one of {', '.join(ROLES)}.")
        if not name or len(name) > 200:
            raise InvalidInput("A token needs a name of 1 to 200 characters, e.g. 'ci-pipeline'.")
        secret = PREFIX + secrets.token_urlsafe(32)
        info = TokenInfo(new_id(), name, role, now_ms())
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
        return [TokenInfo(*row) for row in rows]

    def revoke(self, token_id: str) -> TokenInfo:
        with self.store.write() as conn:
            updated = conn.execute(
                t.tokens.update()
                .where(t.tokens.c.id == token_id, t.tokens.c.revoked_at.is_(None))
                .values(revoked_at=now_ms())
            ).rowcount
        if not updated:
            raise NotFound(f"No active token with id {token_id!r}. List them with 'keel token ls'.")
        return next(info for info in self.list() if info.id == token_id)

    def authenticate(self, secret: str) -> TokenInfo:
        """The token a secret belongs to; raises :class:`Unauthenticated` if none or revoked."""
        tk = t.tokens
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(tk.c.id, tk.c.name, tk.c.role, tk.c.created_at, tk.c.revoked_at).where(
                    tk.c.token_hash == _hash(secret)
                )
            ).first()
        if row is None or row.revoked_at is not None:
            raise Unauthenticated(
                "The bearer token is not valid or was revoked. Create one with "
                "'keel token create --role reader|writer|admin' and set KEEL_TOKEN."
            )
        return TokenInfo(*row)
