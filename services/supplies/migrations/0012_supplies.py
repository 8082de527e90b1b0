"""supplies: places (depots, shelters), the item catalogue, lots, the stock ledger and its
balances, shelter stays, standards overrides

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supplies_items",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_ja", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("unit_ja", sa.String(length=16), nullable=False),
        sa.Column("unit_en", sa.String(length=16), nullable=False),
        sa.Column("whole_units", sa.Boolean(), nullable=False),
        sa.Column("shelf_life_days", sa.Integer(), nullable=True),
        sa.Column("need_code", sa.String(length=32), nullable=False),
        sa.Column("need_per_unit", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("allergen_free", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_items")),
        sa.UniqueConstraint("tenant_id", "code", name="uq_supplies_items_tenant_code"),
    )
    op.create_table(
        "supplies_movements",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_movements")),
    )
    op.create_index(
        "ix_supplies_movements_at", "supplies_movements", ["tenant_id", "occurred_at"], unique=False
    )
    op.create_table(
        "supplies_places",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("contact_name", sa.String(length=100), nullable=False),
        sa.Column("contact_phone", sa.String(length=30), nullable=False),
        sa.Column("operator", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("capacity_day", sa.Integer(), nullable=False),
        sa.Column("capacity_night", sa.Integer(), nullable=False),
        sa.Column("floor_area_m2", sa.Numeric(precision=10, scale=1), nullable=False),
        sa.Column("toilets", sa.Integer(), nullable=False),
        sa.Column("step_free", sa.Boolean(), nullable=False),
        sa.Column("accessible_toilet", sa.Boolean(), nullable=False),
        sa.Column("accessibility_note", sa.Text(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "capacity_day >= 0 AND capacity_night >= 0 AND toilets >= 0",
            name=op.f("ck_supplies_places_capacities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_places")),
        sa.UniqueConstraint("tenant_id", "code", name="uq_supplies_places_tenant_code"),
    )
    op.create_table(
        "supplies_standard_overrides",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("set_by", sa.String(length=100), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_standard_overrides")),
        sa.UniqueConstraint("tenant_id", "key", name="uq_supplies_standard_overrides_key"),
    )
    op.create_table(
        "supplies_lots",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("lot_code", sa.String(length=60), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"], ["supplies_items.id"], name=op.f("fk_supplies_lots_item_id_supplies_items")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_lots")),
    )
    op.create_index(
        "ix_supplies_lots_item_expiry",
        "supplies_lots",
        ["tenant_id", "item_id", "expires_on"],
        unique=False,
    )
    op.create_table(
        "supplies_place_assignments",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("place_id", sa.String(length=36), nullable=False),
        sa.Column("assigned_by", sa.String(length=100), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["supplies_places.id"],
            name=op.f("fk_supplies_place_assignments_place_id_supplies_places"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_place_assignments")),
        sa.UniqueConstraint(
            "tenant_id", "username", "place_id", name="uq_supplies_place_assignments_user_place"
        ),
    )
    op.create_table(
        "supplies_stays",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("shelter_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("people", sa.Integer(), nullable=False),
        sa.Column("makeup", sa.JSON(), nullable=False),
        sa.Column("care_note", sa.Text(), nullable=False),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_in_by", sa.String(length=100), nullable=False),
        sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_out_by", sa.String(length=100), nullable=False),
        sa.Column("check_out_reason", sa.String(length=16), nullable=False),
        sa.CheckConstraint("people >= 1", name=op.f("ck_supplies_stays_people")),
        sa.ForeignKeyConstraint(
            ["shelter_id"],
            ["supplies_places.id"],
            name=op.f("fk_supplies_stays_shelter_id_supplies_places"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_stays")),
    )
    op.create_index(
        "ix_supplies_stays_resident", "supplies_stays", ["tenant_id", "resident_id"], unique=False
    )
    op.create_index(
        "ix_supplies_stays_shelter_open",
        "supplies_stays",
        ["tenant_id", "shelter_id", "checked_out_at"],
        unique=False,
    )
    op.create_table(
        "supplies_movement_lines",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("movement_id", sa.String(length=36), nullable=False),
        sa.Column("place_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("lot_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.CheckConstraint("quantity <> 0", name=op.f("ck_supplies_movement_lines_nonzero")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["supplies_items.id"],
            name=op.f("fk_supplies_movement_lines_item_id_supplies_items"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["supplies_lots.id"],
            name=op.f("fk_supplies_movement_lines_lot_id_supplies_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["supplies_movements.id"],
            name=op.f("fk_supplies_movement_lines_movement_id_supplies_movements"),
        ),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["supplies_places.id"],
            name=op.f("fk_supplies_movement_lines_place_id_supplies_places"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_movement_lines")),
    )
    op.create_index(
        "ix_supplies_movement_lines_movement",
        "supplies_movement_lines",
        ["tenant_id", "movement_id"],
        unique=False,
    )
    op.create_index(
        "ix_supplies_movement_lines_place_lot",
        "supplies_movement_lines",
        ["tenant_id", "place_id", "lot_id"],
        unique=False,
    )
    op.create_table(
        "supplies_stock_balances",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("place_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("lot_id", sa.String(length=36), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_supplies_stock_balances_not_negative")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["supplies_items.id"],
            name=op.f("fk_supplies_stock_balances_item_id_supplies_items"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["supplies_lots.id"],
            name=op.f("fk_supplies_stock_balances_lot_id_supplies_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["supplies_places.id"],
            name=op.f("fk_supplies_stock_balances_place_id_supplies_places"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_stock_balances")),
        sa.UniqueConstraint(
            "tenant_id", "place_id", "lot_id", name="uq_supplies_stock_balances_lot"
        ),
    )
    op.create_index(
        "ix_supplies_stock_balances_item",
        "supplies_stock_balances",
        ["tenant_id", "item_id"],
        unique=False,
    )
    op.create_index(
        "ix_supplies_stock_balances_place_item",
        "supplies_stock_balances",
        ["tenant_id", "place_id", "item_id"],
        unique=False,
    )


def downgrade() -> None:
    for table in (
        "supplies_stays",
        "supplies_standard_overrides",
        "supplies_stock_balances",
        "supplies_movement_lines",
        "supplies_movements",
        "supplies_lots",
        "supplies_place_assignments",
        "supplies_items",
        "supplies_places",
    ):
        op.drop_table(table)
