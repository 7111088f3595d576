"""model evaluations

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 11:56:54.864258
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("version_id", sa.String(length=32), nullable=False),
        sa.Column("baseline_id", sa.String(length=32), nullable=True),
        sa.Column("data_ref", sa.String(length=300), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("gate", sa.Text(), nullable=True),
        sa.Column("passed", sa.Boolean(), nullable=True),
        sa.Column("report_digest", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["baseline_id"],
            ["model_versions.id"],
            name=op.f("fk_evaluations_baseline_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["report_digest"], ["objects.digest"], name=op.f("fk_evaluations_report_digest_objects")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_evaluations_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
    )
    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evaluations_version_id_created_at"),
            ["version_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("evaluations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evaluations_version_id_created_at"))

    op.drop_table("evaluations")
