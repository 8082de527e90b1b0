"""safety_check: the fan-out's plan (rounds of messages and one row per message)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_check_outreach_rounds",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("planned_by", sa.String(length=100), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("batches", sa.Integer(), nullable=False),
        sa.Column("unreachable", sa.Integer(), nullable=False),
        sa.Column("reminder_minutes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_outreach_rounds")),
    )
    op.create_index(
        "ix_safety_check_outreach_rounds_campaign",
        "safety_check_outreach_rounds",
        ["tenant_id", "campaign_id", "round"],
        unique=True,
    )
    op.create_table(
        "safety_check_outreach_messages",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("needs_assistance", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_outreach_messages")),
    )
    op.create_index(
        "ix_safety_check_outreach_messages_batch",
        "safety_check_outreach_messages",
        ["tenant_id", "campaign_id", "round", "batch", "position"],
    )


def downgrade() -> None:
    op.drop_table("safety_check_outreach_messages")
    op.drop_table("safety_check_outreach_rounds")
