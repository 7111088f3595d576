"""pipelines: run params, options, errors and leases; step inputs, outputs and errors;
approvals inside pipelines; trigger state; the agent's lease

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("options", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lease_holder", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_pipeline_runs_status"), ["status"])

    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("outputs", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("code_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("cached_from", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("run_id", sa.String(length=32), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_step_runs_run_id_runs"), "runs", ["run_id"], ["id"]
        )
        batch_op.create_index(
            batch_op.f("ix_step_runs_pipeline_run_id_step"), ["pipeline_run_id", "step"]
        )

    op.create_table(
        "pipeline_approvals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_run_id", sa.String(length=32), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.BigInteger(), nullable=False),
        sa.Column("timeout_at", sa.BigInteger(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.BigInteger(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_pipeline_approvals_pipeline_run_id_pipeline_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_pipeline_approvals_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_approvals")),
        sa.UniqueConstraint(
            "pipeline_run_id",
            "step",
            "title",
            name=op.f("uq_pipeline_approvals_pipeline_run_id_step_title"),
        ),
    )
    with op.batch_alter_table("pipeline_approvals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_pipeline_approvals_project_id_status"), ["project_id", "status"]
        )

    op.create_table(
        "trigger_state",
        sa.Column("pipeline_id", sa.String(length=32), nullable=False),
        sa.Column("trigger_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"], ["pipelines.id"], name=op.f("fk_trigger_state_pipeline_id_pipelines")
        ),
        sa.PrimaryKeyConstraint("pipeline_id", "trigger_key", name=op.f("pk_trigger_state")),
    )

    op.create_table(
        "agent_leases",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=False),
        sa.Column("acquired_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_agent_leases")),
    )


def downgrade() -> None:
    op.drop_table("agent_leases")
    op.drop_table("trigger_state")
    with op.batch_alter_table("pipeline_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_approvals_project_id_status"))
    op.drop_table("pipeline_approvals")
    with op.batch_alter_table("step_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_runs_pipeline_run_id_step"))
        batch_op.drop_constraint(batch_op.f("fk_step_runs_run_id_runs"), type_="foreignkey")
        for column in (
            "run_id",
            "error",
            "cached_from",
            "code_hash",
            "outputs",
            "inputs",
            "params",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("pipeline_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pipeline_runs_status"))
        for column in ("lease_expires_at", "lease_holder", "error", "options", "params"):
            batch_op.drop_column(column)
