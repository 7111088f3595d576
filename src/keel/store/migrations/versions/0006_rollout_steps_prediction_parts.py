"""rollout steps (canary history) and prediction log parts (Parquet objects in the lake)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollout_steps",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("rollout_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rollout_id"],
            ["rollouts.id"],
            name=op.f("fk_rollout_steps_rollout_id_rollouts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollout_steps")),
    )
    op.create_index(
        op.f("ix_rollout_steps_rollout_id_step"), "rollout_steps", ["rollout_id", "step"]
    )
    op.create_table(
        "prediction_parts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.BigInteger(), nullable=False),
        sa.Column("last_at", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_prediction_parts_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["digest"], ["objects.digest"], name=op.f("fk_prediction_parts_digest_objects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prediction_parts")),
    )
    op.create_index(
        op.f("ix_prediction_parts_project_id_kind_first_at"),
        "prediction_parts",
        ["project_id", "kind", "first_at"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_prediction_parts_project_id_kind_first_at"), "prediction_parts")
    op.drop_table("prediction_parts")
    op.drop_index(op.f("ix_rollout_steps_rollout_id_step"), "rollout_steps")
    op.drop_table("rollout_steps")
