"""backups: the acknowledged head of each tenant a site is primary of

The primary's node records what its in-sync replicas acknowledged (and in which epoch),
so that the backup job — another process — archives only up to it, never an
unacknowledged tail that a failover would quarantine.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 19:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("replication_state") as batch:
        batch.add_column(
            sa.Column("acked_seq", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("acked_epoch", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("replication_state") as batch:
        batch.drop_column("acked_epoch")
        batch.drop_column("acked_seq")
