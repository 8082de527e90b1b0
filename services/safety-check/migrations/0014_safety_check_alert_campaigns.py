"""safety_check: campaigns opened by alerts (state, false-alarm hold, series), the alerts of
each campaign, and each municipality's alert rules

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("safety_check_campaigns") as batch:
        batch.add_column(
            sa.Column("state", sa.String(length=10), nullable=False, server_default="open")
        )
        batch.add_column(
            sa.Column("origin", sa.String(length=8), nullable=False, server_default="staff")
        )
        batch.add_column(
            sa.Column("hazard", sa.String(length=12), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("area_codes", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("alert_sent", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("hold_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("released_by", sa.String(length=100), nullable=False, server_default="")
        )
    # campaigns that existed were opened by staff and open (or closed) at once
    op.execute("UPDATE safety_check_campaigns SET released_at = opened_at, released_by = opened_by")
    op.execute("UPDATE safety_check_campaigns SET state = 'closed' WHERE closed_at IS NOT NULL")
    op.create_index(
        "ix_safety_check_campaigns_held", "safety_check_campaigns", ["tenant_id", "state"]
    )
    op.create_table(
        "safety_check_campaign_alerts",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("sent", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("msg_type", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("max_intensity", sa.String(length=2), nullable=False),
        sa.Column("area_codes", sa.JSON(), nullable=False),
        sa.Column("areas", sa.String(length=300), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_site", sa.String(length=63), nullable=False),
        sa.Column("notice", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["safety_check_campaigns.id"],
            name=op.f("fk_safety_check_campaign_alerts_campaign_id_safety_check_campaigns"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_campaign_alerts")),
    )
    op.create_index(
        "ix_safety_check_campaign_alerts_campaign",
        "safety_check_campaign_alerts",
        ["tenant_id", "campaign_id"],
    )
    op.create_table(
        "safety_check_alert_rules",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("quake_area_codes", sa.JSON(), nullable=False),
        sa.Column("min_intensity", sa.String(length=2), nullable=False),
        sa.Column("tsunami_area_codes", sa.JSON(), nullable=False),
        sa.Column("tsunami_advisories", sa.Boolean(), nullable=False),
        sa.Column("eruption_area_codes", sa.JSON(), nullable=False),
        sa.Column("hold_minutes", sa.Integer(), nullable=False),
        sa.Column("series_hours", sa.Integer(), nullable=False),
        sa.Column("drills_from_exercises", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_safety_check_alert_rules")),
    )


def downgrade() -> None:
    op.drop_table("safety_check_alert_rules")
    op.drop_table("safety_check_campaign_alerts")
    op.drop_index("ix_safety_check_campaigns_held", table_name="safety_check_campaigns")
    with op.batch_alter_table("safety_check_campaigns") as batch:
        for column in (
            "released_by",
            "released_at",
            "hold_until",
            "alert_sent",
            "area_codes",
            "hazard",
            "origin",
            "state",
        ):
            batch.drop_column(column)
