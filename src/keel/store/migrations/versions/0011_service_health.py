"""service health: each model server process's requests, errors and latency per interval

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 16:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_health",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("deployment", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("bucket_ms", sa.BigInteger(), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("client_errors", sa.Integer(), nullable=False),
        sa.Column("p50_ms", sa.Float(), nullable=True),
        sa.Column("p99_ms", sa.Float(), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_service_health_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_health")),
    )
    op.create_index(
        op.f("ix_service_health_project_id_deployment_bucket_ms"),
        "service_health",
        ["project_id", "deployment", "bucket_ms"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_service_health_project_id_deployment_bucket_ms"), "service_health")
    op.drop_table("service_health")
