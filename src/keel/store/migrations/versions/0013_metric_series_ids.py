"""metric points name their series by an integer id

A point of ``run_metrics`` carried its run's 32-character id and the metric's name, and so
did its index entry (run_id, key, step): one bulk insert spent most of its time comparing
and storing those strings (a probe in plain sqlite3, busy machine: 1,000,000 points in
2.7-2.9 s of CPU as strings, 1.8-1.9 s as integer series ids). ``run_latest_metrics``, one
row per metric of a run, now has an integer ``id`` (on SQLite the rowid it already had)
with (run_id, key) unique; a point refers to that row as ``series_id``. The data is staged
in two plain tables, the two tables are made again in their new shape and refilled (a point
whose run is gone is dropped, as migration 0012's downgrade does).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 19:35:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_LATEST = "keel_0013_latest"
_POINTS = "keel_0013_points"
# the latest point of each metric that has points but, by a bug, no latest row
_MISSING_LATEST = (
    "SELECT run_id, key, step, timestamp, value FROM ("
    "SELECT run_id, key, step, timestamp, value, ROW_NUMBER() OVER ("
    "PARTITION BY run_id, key ORDER BY step DESC, timestamp DESC) AS n "
    "FROM run_metrics m WHERE run_id IN (SELECT id FROM runs) AND NOT EXISTS ("
    "SELECT 1 FROM run_latest_metrics l WHERE l.run_id = m.run_id AND l.key = m.key)"
    ") ranked WHERE n = 1"
)


def _latest_table(with_id: bool) -> None:
    columns: list = []
    if with_id:
        columns.append(
            sa.Column(
                "id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                autoincrement=True,
                nullable=False,
            )
        )
    columns += [
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_latest_metrics_run_id_runs"),
            ondelete="CASCADE",
        ),
    ]
    if with_id:
        columns += [
            sa.PrimaryKeyConstraint("id", name=op.f("pk_run_latest_metrics")),
            sa.UniqueConstraint("run_id", "key", name=op.f("uq_run_latest_metrics_run_id_key")),
        ]
    else:
        columns.append(sa.PrimaryKeyConstraint("run_id", "key", name=op.f("pk_run_latest_metrics")))
    op.create_table("run_latest_metrics", *columns)
    op.create_index(op.f("ix_run_latest_metrics_key_value"), "run_latest_metrics", ["key", "value"])


def upgrade() -> None:
    op.execute(
        f"CREATE TABLE {_LATEST} AS SELECT run_id, key, step, timestamp, value "
        f"FROM run_latest_metrics UNION ALL {_MISSING_LATEST}"
    )
    op.execute(
        f"CREATE TABLE {_POINTS} AS SELECT run_id, key, step, timestamp, value "
        "FROM run_metrics WHERE run_id IN (SELECT id FROM runs)"
    )
    op.drop_table("run_metrics")
    op.drop_table("run_latest_metrics")
    _latest_table(with_id=True)
    op.execute(
        "INSERT INTO run_latest_metrics (run_id, key, step, timestamp, value) "
        f"SELECT run_id, key, step, timestamp, value FROM {_LATEST} ORDER BY run_id, key"
    )
    op.create_table(
        "run_metrics",
        sa.Column("series_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
    )
    op.execute(
        "INSERT INTO run_metrics (series_id, step, timestamp, value) "
        f"SELECT l.id, p.step, p.timestamp, p.value FROM {_POINTS} p "
        "JOIN run_latest_metrics l ON l.run_id = p.run_id AND l.key = p.key"
    )
    op.create_index(op.f("ix_run_metrics_series_id_step"), "run_metrics", ["series_id", "step"])
    op.drop_table(_POINTS)
    op.drop_table(_LATEST)


def downgrade() -> None:
    op.execute(
        f"CREATE TABLE {_POINTS} AS SELECT l.run_id, l.key, p.step, p.timestamp, p.value "
        "FROM run_metrics p JOIN run_latest_metrics l ON l.id = p.series_id"
    )
    op.execute(
        f"CREATE TABLE {_LATEST} AS SELECT run_id, key, step, timestamp, value "
        "FROM run_latest_metrics"
    )
    op.drop_table("run_metrics")
    op.drop_table("run_latest_metrics")
    _latest_table(with_id=False)
    op.execute(
        "INSERT INTO run_latest_metrics (run_id, key, step, timestamp, value) "
        f"SELECT run_id, key, step, timestamp, value FROM {_LATEST}"
    )
    op.create_table(
        "run_metrics",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("step", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
    )
    op.execute(
        "INSERT INTO run_metrics (run_id, key, step, timestamp, value) "
        f"SELECT run_id, key, step, timestamp, value FROM {_POINTS}"
    )
    op.create_index(
        op.f("ix_run_metrics_run_id_key_step"), "run_metrics", ["run_id", "key", "step"]
    )
    op.drop_table(_POINTS)
    op.drop_table(_LATEST)
