"""residents: the register's reading order on its own rows (the entry's copy of the
resident's kana_key) and an index in the register's order, so a page of the register is
read from the index instead of sorting the whole register joined to the residents

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("residents_assistance") as batch:
        batch.add_column(
            sa.Column(
                "kana_key",
                sa.String(length=120).with_variant(
                    sa.String(length=120, collation="C"), "postgresql"
                ),
                nullable=False,
                server_default="",
            )
        )
    # every site runs this on the same replicated rows, so they agree
    op.execute(
        "UPDATE residents_assistance SET kana_key = (SELECT residents.kana_key FROM residents "
        "WHERE residents.id = residents_assistance.resident_id)"
    )
    op.create_index(
        "ix_residents_assistance_order",
        "residents_assistance",
        ["tenant_id", "priority", "kana_key", "resident_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_residents_assistance_order", table_name="residents_assistance")
    with op.batch_alter_table("residents_assistance") as batch:
        batch.drop_column("kana_key")
