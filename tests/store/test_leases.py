"""Leases in the database: one holder at a time, taken over when it expires, on SQLite and
PostgreSQL, and with many processes' stores asking at once."""

from __future__ import annotations

import threading

import pytest

from keel.config import Config
from keel.errors import InvalidInput
from keel.store import Store, leases

T = 1_800_000_000_000
TTL = 10_000


def test_one_holder_until_it_expires_or_is_released(store: Store) -> None:
    assert leases.holder(store, "agent", now=T) is None
    assert leases.acquire(store, "agent", "a", TTL, now=T)
    assert not leases.acquire(store, "agent", "b", TTL, now=T + 1)
    assert leases.holder(store, "agent", now=T + 1) == "a"
    assert leases.acquire(store, "agent", "a", TTL, now=T + 5_000)  # ours: renewed to T+15s
    assert not leases.acquire(store, "agent", "b", TTL, now=T + 12_000)
    assert leases.renew(store, "agent", "a", TTL, now=T + 14_000)  # now to T+24s
    assert not leases.acquire(store, "agent", "b", TTL, now=T + 20_000)
    # a dies: its lease runs out and b takes it; a can no longer renew it
    assert leases.holder(store, "agent", now=T + 24_001) is None
    assert leases.acquire(store, "agent", "b", TTL, now=T + 24_001)
    assert not leases.renew(store, "agent", "a", TTL, now=T + 24_002)
    assert leases.holder(store, "agent", now=T + 24_002) == "b"
    # only the holder releases it; then anyone takes it at once
    assert not leases.release(store, "agent", "a")
    assert not leases.acquire(store, "agent", "c", TTL, now=T + 25_000)
    assert leases.release(store, "agent", "b")
    assert leases.holder(store, "agent", now=T + 25_000) is None
    assert leases.acquire(store, "agent", "c", TTL, now=T + 25_000)
    # leases of other names are separate
    assert leases.acquire(store, "rollouts", "a", TTL, now=T + 25_000)
    assert leases.holder(store, "agent", now=T + 25_001) == "c"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("", "a", TTL), "lease name must be a string of 1-100"),
        (("agent", None, TTL), "lease holder must be a string of 1-200"),
        (("agent", "a", 0), "ttl_ms must be a whole number of milliseconds from 1"),
        (("agent", "a", 1.5), "ttl_ms must be a whole number"),
        (("agent", "a", True), "ttl_ms must be a whole number"),
    ],
)
def test_bad_arguments_say_what_is_wrong_and_change_nothing(
    store: Store, args: tuple, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        leases.acquire(store, *args)
    with pytest.raises(InvalidInput, match=message):
        leases.renew(store, *args)
    assert leases.holder(store, "agent") is None


def test_of_many_stores_asking_at_once_exactly_one_gets_it(
    store: Store, store_config: Config
) -> None:
    stores = [Store.open(store_config) for _ in range(6)]
    try:
        for round_ in range(4):
            now = T + round_ * 2 * TTL  # each round the last winner's lease has run out
            barrier = threading.Barrier(len(stores))
            won: list[str] = []

            def ask(
                i: int, now: int = now, barrier: threading.Barrier = barrier, won: list = won
            ) -> None:
                barrier.wait()
                if leases.acquire(stores[i], "agent", f"agent-{i}", TTL, now=now):
                    won.append(f"agent-{i}")

            threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(stores))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert len(won) == 1, won
            assert leases.holder(store, "agent", now=now) == won[0]
    finally:
        for opened in stores:
            opened.close()
