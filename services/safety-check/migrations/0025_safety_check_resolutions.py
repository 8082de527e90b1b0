"""safety_check: staff's resolutions of disagreeing reports (who, when, the status kept,
a note), so a resolved resident leaves the open list

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 08:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_check_resolutions",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reporter_kind", sa.String(length=20), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("resolved_by", sa.String(length=100), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["safety_check_campaigns.id"],
            name=op.f("fk_safety_check_resolutions_campaign_id_safety_check_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_resolutions")),
    )
    op.create_index(
        "ix_safety_check_resolutions_resident",
        "safety_check_resolutions",
        ["tenant_id", "campaign_id", "resident_id", "resolved_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_safety_check_resolutions_resident", table_name="safety_check_resolutions")
    op.drop_table("safety_check_resolutions")
