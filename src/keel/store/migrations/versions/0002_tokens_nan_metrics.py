"""tokens; NaN metric values as NULL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 11:02:12.969814
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "tokens",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("revoked_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_tokens_token_hash")),
    )
    with op.batch_alter_table("run_latest_metrics", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.FLOAT(), nullable=True)

    with op.batch_alter_table("run_metrics", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.FLOAT(), nullable=True)


def downgrade() -> None:

    with op.batch_alter_table("run_metrics", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.FLOAT(), nullable=False)

    with op.batch_alter_table("run_latest_metrics", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.FLOAT(), nullable=False)

    op.drop_table("tokens")
