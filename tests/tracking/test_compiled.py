"""keel.tracking._compiled: a statement compiled once per key, run as text on the driver,
answers as SQLAlchemy's execution of it would, on each store."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from keel.store import Store
from keel.store import schema as t
from keel.tracking import SqlTracking, _compiled


def _select(ids: tuple[str, ...]) -> sa.Select:
    r = t.runs
    return (
        sa.select(r.c.id, r.c.name, r.c.code, sa.literal(0.5, sa.Float()).label("half"))
        .where(r.c.id.in_(ids), r.c.created_at > sa.bindparam("after", 0, sa.BigInteger))
        .order_by(r.c.id)
    )


def test_rows_are_sqlalchemys_rows_and_values_bind_per_call(store: Store) -> None:
    tracking = SqlTracking(store)
    runs = [tracking.create_run("e", code={"entry": f"train{i}.py"}) for i in range(3)]
    ids = tuple(r.id for r in runs[:2])
    key = ("test_compiled", ids)
    with store.read() as conn:
        expected = [tuple(row) for row in conn.execute(_select(ids).params(after=0))]
        found = _compiled.rows(conn, key, lambda: _select(ids), {"after": 0})
        assert found == expected
        assert found[0][2] == {"entry": "train0.py"}  # JSON read back as SQLAlchemy does
        assert found[0][3] == 0.5
        later = runs[1].created_at
        # the same key, another value: the compiled text, this call's value
        again = _compiled.rows(conn, key, pytest.fail, {"after": later})
        assert again == [tuple(r) for r in conn.execute(_select(ids).params(after=later))]
        assert runs[1].id not in {row[0] for row in again}  # created at ``later``, not after


def test_the_cache_keeps_the_newest_statements(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_compiled, "CACHE_SIZE", 2)
    built: list[int] = []

    def build(n: int):
        def make() -> sa.Select:
            built.append(n)
            return sa.select(sa.literal(n, sa.Integer()).label("n"))

        return make

    with store.read() as conn:
        for n in (1, 2, 1, 3, 1, 2):
            assert _compiled.rows(conn, ("test_cache", n), build(n)) == [(n,)]
    # 1, 2 built; 1 reused; 3 built (2 out); 1 reused; 2 built again
    assert built == [1, 2, 3, 2]
    assert len([k for k in _compiled._cache if k[1][0] == "test_cache"]) == 2


def test_a_driver_error_is_sqlalchemys(store: Store) -> None:
    with store.read() as conn, pytest.raises(sa.exc.DBAPIError):
        _compiled.rows(
            conn,
            ("test_error",),
            lambda: sa.select(sa.literal_column("no_such_column")).select_from(t.runs),
        )
