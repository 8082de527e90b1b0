"""safety_check: current status per resident, counts per 町字 and status, changes over time;
the source of each report

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _campaign_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["campaign_id"],
        ["safety_check_campaigns.id"],
        name=op.f(f"fk_{table}_campaign_id_safety_check_campaigns"),
    )


def upgrade() -> None:
    with op.batch_alter_table("safety_check_reports") as batch:
        batch.add_column(
            sa.Column("source", sa.String(length=20), nullable=False, server_default="staff")
        )
    op.create_table(
        "safety_check_current",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("town_name", sa.String(length=80), nullable=False),
        sa.Column("reporter_kind", sa.String(length=20), nullable=False),
        sa.Column("reports", sa.Integer(), nullable=False),
        sa.Column("disagreeing", sa.Boolean(), nullable=False),
        _campaign_key("safety_check_current"),
        sa.PrimaryKeyConstraint("campaign_id", "resident_id", name=op.f("pk_safety_check_current")),
    )
    op.create_index(
        "ix_safety_check_current_district",
        "safety_check_current",
        ["tenant_id", "campaign_id", "town_name", "status"],
    )
    op.create_index(
        "ix_safety_check_current_disagreeing",
        "safety_check_current",
        ["tenant_id", "campaign_id", "disagreeing"],
    )
    op.create_table(
        "safety_check_counts",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("town_name", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("residents", sa.Integer(), nullable=False),
        _campaign_key("safety_check_counts"),
        sa.PrimaryKeyConstraint(
            "campaign_id", "town_name", "status", name=op.f("pk_safety_check_counts")
        ),
    )
    op.create_table(
        "safety_check_changes",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("town_name", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        _campaign_key("safety_check_changes"),
        sa.PrimaryKeyConstraint(
            "campaign_id", "minute", "town_name", "status", name=op.f("pk_safety_check_changes")
        ),
    )


def downgrade() -> None:
    op.drop_table("safety_check_changes")
    op.drop_table("safety_check_counts")
    op.drop_table("safety_check_current")
    with op.batch_alter_table("safety_check_reports") as batch:
        batch.drop_column("source")
