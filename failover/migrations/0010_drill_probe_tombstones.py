"""a deleted drill probe stays as a tombstone (deleted_at): its id is never applied again

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 21:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("drill_probes") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("drill_probes") as batch:
        batch.drop_column("deleted_at")
