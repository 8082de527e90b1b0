"""supplies: the balances' place and item indexes also hold the quantity and the expiry, so
the stock levels of a depot (or of an item) are read from the index alone (SQLite: 16 ->
10 ms of a depot's ~2,000 items at 200,000 balances)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 06:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "supplies_stock_balances"
#: each index's leading columns before this revision
LEADING = {
    "ix_supplies_stock_balances_place_item": ["tenant_id", "place_id", "item_id"],
    "ix_supplies_stock_balances_item": ["tenant_id", "item_id", "place_id"],
}


def upgrade() -> None:
    for name, columns in LEADING.items():
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, [*columns, "quantity", "expires_on"])


def downgrade() -> None:
    for name, columns in LEADING.items():
        op.drop_index(name, table_name=TABLE)
        op.create_index(name, TABLE, columns)
