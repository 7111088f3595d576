"""alerts are incidents: their monitor, finding keys, last sighting and resolution

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("monitor_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("last_seen", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("resolved_at", sa.BigInteger(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_alerts_monitor_id_monitors"), "monitors", ["monitor_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_alerts_monitor_id_status"), ["monitor_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_monitor_id_status"))
        batch_op.drop_constraint(batch_op.f("fk_alerts_monitor_id_monitors"), type_="foreignkey")
        batch_op.drop_column("resolved_at")
        batch_op.drop_column("last_seen")
        batch_op.drop_column("details")
        batch_op.drop_column("monitor_id")
