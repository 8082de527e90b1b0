"""safety_check: campaigns (live or drill) and safety reports

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_check_campaigns",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_campaigns")),
    )
    op.create_index(
        "ix_safety_check_campaigns_opened", "safety_check_campaigns", ["tenant_id", "opened_at"]
    )
    op.create_table(
        "safety_check_reports",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("town_name", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reporter_kind", sa.String(length=20), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("shelter", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["safety_check_campaigns.id"],
            name=op.f("fk_safety_check_reports_campaign_id_safety_check_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_reports")),
    )
    op.create_index(
        "ix_safety_check_reports_resident",
        "safety_check_reports",
        ["tenant_id", "campaign_id", "resident_id", "reported_at"],
    )
    op.create_index(
        "ix_safety_check_reports_district",
        "safety_check_reports",
        ["tenant_id", "campaign_id", "town_name"],
    )


def downgrade() -> None:
    op.drop_table("safety_check_reports")
    op.drop_table("safety_check_campaigns")
