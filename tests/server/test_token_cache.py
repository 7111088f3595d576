"""Token authentication is cached for a short time: repeated requests skip the database,
a revocation in the process takes effect at once, one elsewhere within the TTL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from keel.config import resolve
from keel.errors import Unauthenticated
from keel.server.tokens import TokenService
from keel.store import Store, init_project


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    config = resolve(uri=f"sqlite:///{tmp_path / 'keel.db'}", objects=str(tmp_path / "o"))
    init_project(tmp_path, config).close()
    with Store.open(config) as opened:
        yield opened


def _counting(store: Store) -> list[str]:
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    return statements


def test_a_valid_token_is_checked_once_within_the_ttl(store: Store) -> None:
    service = TokenService(store, cache_ttl_s=60)
    info, secret = service.create("ci", "writer", projects=["default"])
    statements = _counting(store)
    first = service.authenticate(secret)
    asked = len([s for s in statements if "tokens" in s])
    assert asked >= 1
    for _ in range(20):
        assert service.authenticate(secret) == first
    assert len([s for s in statements if "tokens" in s]) == asked  # no query after the first
    assert first.id == info.id
    assert first.projects == ("default",)


def test_wrong_tokens_are_never_cached(store: Store) -> None:
    service = TokenService(store, cache_ttl_s=60)
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            service.authenticate("keel_wrong")
    _, secret = service.create("late", "reader")
    assert service.authenticate(secret).name == "late"


def test_revoking_in_the_process_takes_effect_at_once(store: Store) -> None:
    server_side = TokenService(store, cache_ttl_s=60)
    info, secret = server_side.create("ci", "writer")
    assert server_side.authenticate(secret).id == info.id  # now cached
    TokenService(store).revoke(info.id)  # another service, as an admin would
    with pytest.raises(Unauthenticated, match="revoked"):
        server_side.authenticate(secret)


def test_a_revocation_elsewhere_is_seen_within_the_ttl(store: Store) -> None:
    service = TokenService(store, cache_ttl_s=0.2)
    info, secret = service.create("ci", "writer")
    service.authenticate(secret)
    with store.write() as conn:  # as 'keel token revoke' in another process does
        conn.exec_driver_sql("UPDATE tokens SET revoked_at = 1 WHERE id = ?", (info.id,))
    time.sleep(0.3)
    with pytest.raises(Unauthenticated):
        service.authenticate(secret)
