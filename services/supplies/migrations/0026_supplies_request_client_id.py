"""supplies: a request made with the client's id keeps the hash of what was sent, so the
same form sent twice makes one request and the same id with other content is refused

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("supplies_requests") as batch:
        batch.add_column(
            sa.Column("content_digest", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("supplies_requests") as batch:
        batch.drop_column("content_digest")
