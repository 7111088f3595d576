"""Two writes that deadlock on PostgreSQL: the one the database ends gets a Conflict that
says to run it again (not "the database is unreachable"), and nothing of it is written."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from keel.config import resolve
from keel.errors import Conflict
from keel.store import init_project, schema


def test_the_write_a_deadlock_ends_is_a_conflict_and_writes_nothing(
    pg_url: str, tmp_path: Path
) -> None:
    store = init_project(tmp_path, resolve(uri=pg_url, objects=str(tmp_path / "o"), fsync=False))
    try:
        first, second = store.put_object(b"first"), store.put_object(b"second")
        both_hold_one = threading.Barrier(2, timeout=30)
        outcomes: dict[str, BaseException | None] = {}

        def write(name: str, order: tuple[str, str]) -> None:
            table = schema.objects
            try:
                with store.write() as conn:
                    for n, digest in enumerate(order):
                        conn.execute(
                            sa.update(table).where(table.c.digest == digest).values(media_type=name)
                        )
                        if n == 0:
                            both_hold_one.wait()  # each holds one row, then wants the other's
                outcomes[name] = None
            except BaseException as exc:
                outcomes[name] = exc

        threads = [
            threading.Thread(target=write, args=("a", (first, second))),
            threading.Thread(target=write, args=("b", (second, first))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        ended = {name: exc for name, exc in outcomes.items() if exc is not None}
        assert len(outcomes) == 2, outcomes
        assert len(ended) == 1, outcomes
        ((loser, error),) = ended.items()
        assert isinstance(error, Conflict), repr(error)
        assert "Run it again" in str(error)
        assert "reachable" not in str(error)
        winner = "b" if loser == "a" else "a"
        with store.read() as conn:
            kinds = conn.execute(
                sa.select(schema.objects.c.media_type).where(
                    schema.objects.c.digest.in_([first, second])
                )
            ).scalars()
            assert sorted(kinds) == [winner, winner]  # the loser's first update is gone too
    finally:
        store.close()
