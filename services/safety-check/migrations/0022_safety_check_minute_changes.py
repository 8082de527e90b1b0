"""safety_check: the changes over time summed over the 町字 (the whole campaign's curve
reads minutes x statuses rows), the changes of one 町字 in minute order, and the current
status of a page of residents by index

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 05:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_check_minute_changes",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("campaign_id", sa.String(length=36), nullable=False),
        sa.Column("minute", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["safety_check_campaigns.id"],
            name=op.f("fk_safety_check_minute_changes_campaign_id_safety_check_campaigns"),
        ),
        sa.PrimaryKeyConstraint(
            "campaign_id", "minute", "status", name=op.f("pk_safety_check_minute_changes")
        ),
    )
    # campaigns that have reports already: the sums of their changes, as each site holds
    # them (every site runs this on the same replicated rows, so they agree)
    op.execute(
        "INSERT INTO safety_check_minute_changes (tenant_id, campaign_id, minute, status, delta) "
        "SELECT tenant_id, campaign_id, minute, status, SUM(delta) FROM safety_check_changes "
        "GROUP BY tenant_id, campaign_id, minute, status HAVING SUM(delta) <> 0"
    )
    op.create_index(
        "ix_safety_check_changes_town",
        "safety_check_changes",
        ["tenant_id", "campaign_id", "town_name", "minute"],
    )

    op.create_index(
        "ix_safety_check_current_resident",
        "safety_check_current",
        ["tenant_id", "campaign_id", "resident_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_safety_check_current_resident", table_name="safety_check_current")
    op.drop_index("ix_safety_check_changes_town", table_name="safety_check_changes")
    op.drop_table("safety_check_minute_changes")
