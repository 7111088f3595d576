"""run heartbeat: when a RUNNING run's process last reported

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("heartbeat_at", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_runs_status_heartbeat_at"), ["status", "heartbeat_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_status_heartbeat_at"))
        batch_op.drop_column("heartbeat_at")
