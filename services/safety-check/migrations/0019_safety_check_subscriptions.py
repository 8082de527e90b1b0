"""safety_check: subscriptions to a person's status (e-mail, ended with the campaign)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_check_subscriptions",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_status", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["safety_check_campaigns.id"],
            name=op.f("fk_safety_check_subscriptions_campaign_id_safety_check_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_subscriptions")),
        sa.UniqueConstraint(
            "tenant_id",
            "campaign_id",
            "resident_id",
            "email",
            name="uq_safety_check_subscriptions_email",
        ),
    )
    op.create_index(
        "ix_safety_check_subscriptions_resident",
        "safety_check_subscriptions",
        ["tenant_id", "campaign_id", "resident_id"],
    )


def downgrade() -> None:
    op.drop_table("safety_check_subscriptions")
