"""safety_check: the open form's submissions and their review

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 02:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_check_submissions",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("family_name", sa.String(length=50), nullable=False),
        sa.Column("given_name", sa.String(length=50), nullable=False),
        sa.Column("family_kana", sa.String(length=50), nullable=False),
        sa.Column("given_kana", sa.String(length=50), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("town_name", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reporter_kind", sa.String(length=20), nullable=False),
        sa.Column("reporter_name", sa.String(length=100), nullable=False),
        sa.Column("reporter_contact", sa.String(length=254), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=False),
        sa.Column("shelter", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("match", sa.String(length=10), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("review", sa.String(length=10), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("reviewed_by", sa.String(length=100), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["safety_check_campaigns.id"],
            name=op.f("fk_safety_check_submissions_campaign_id_safety_check_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_submissions")),
    )
    op.create_index(
        "ix_safety_check_submissions_queue",
        "safety_check_submissions",
        ["tenant_id", "campaign_id", "review", "received_at"],
    )


def downgrade() -> None:
    op.drop_table("safety_check_submissions")
