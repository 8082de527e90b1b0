"""log heads say whether this site's copy is a replica (its log takes no local write)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("log_heads") as batch:
        batch.add_column(
            sa.Column("replica", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Copies that are replicas today: their log is fed by their primary only.
    op.execute(
        "UPDATE log_heads SET replica = TRUE WHERE tenant_id IN "
        "(SELECT tenant_id FROM replication_state WHERE role = 'replica')"
    )


def downgrade() -> None:
    with op.batch_alter_table("log_heads") as batch:
        batch.drop_column("replica")
