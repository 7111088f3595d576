"""metric points without a foreign key to their run

Every insert into ``run_metrics`` paid a foreign-key check against ``runs``, once per
point, and that check was the bound of bulk logging. The writer now verifies the run once
per write transaction instead (it updates the run's row, or creates it, in the same
transaction as the points), and the one path that deletes runs (the purge of soft-deleted
runs) deletes their points explicitly, after the run rows. ``run_latest_metrics`` keeps its
key: one row per metric, not per point.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:05:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_FK = "fk_run_metrics_run_id_runs"


def upgrade() -> None:
    with op.batch_alter_table("run_metrics", schema=None) as batch_op:
        batch_op.drop_constraint(_FK, type_="foreignkey")


def downgrade() -> None:
    # points whose run is gone cannot keep a key to it: drop them first
    op.execute("DELETE FROM run_metrics WHERE run_id NOT IN (SELECT id FROM runs)")
    with op.batch_alter_table("run_metrics", schema=None) as batch_op:
        batch_op.create_foreign_key(_FK, "runs", ["run_id"], ["id"], ondelete="CASCADE")
