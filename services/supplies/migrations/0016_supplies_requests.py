"""supplies: requests and their lines, commitments (allocations), kits, shipments,
receipts' discrepancies, donation offers, and EDXL-RM messages between municipalities

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 02:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "supplies_requests",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("shelter_id", sa.String(length=36), nullable=True),
        sa.Column("requester_tenant", sa.String(length=6), nullable=False),
        sa.Column("requester_message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("needed_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=100), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("committed_by", sa.String(length=100), nullable=False),
        sa.Column("shipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=100), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shelter_id"],
            ["supplies_places.id"],
            name=op.f("fk_supplies_requests_shelter_id_supplies_places"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_requests")),
    )
    op.create_index(
        "ix_supplies_requests_shelter",
        "supplies_requests",
        ["tenant_id", "shelter_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_supplies_requests_status",
        "supplies_requests",
        ["tenant_id", "status", "created_at"],
        unique=False,
    )
    op.create_table(
        "supplies_request_lines",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("requested", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("vulnerable", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("committed", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("shipped", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("received", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("short", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("element_id", sa.String(length=100), nullable=False),
        sa.CheckConstraint(
            "requested > 0 AND vulnerable >= 0 AND vulnerable <= requested AND committed >= 0 AND shipped >= 0 AND received >= 0 AND short >= 0",
            name=op.f("ck_supplies_request_lines_quantities"),
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["supplies_items.id"],
            name=op.f("fk_supplies_request_lines_item_id_supplies_items"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["supplies_requests.id"],
            name=op.f("fk_supplies_request_lines_request_id_supplies_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_request_lines")),
        sa.UniqueConstraint("tenant_id", "request_id", "item_id", name="uq_supplies_request_lines"),
    )
    op.create_table(
        "supplies_allocations",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("line_id", sa.String(length=36), nullable=False),
        sa.Column("place_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("lot_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("shipment_id", sa.String(length=36), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_supplies_allocations_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["supplies_items.id"],
            name=op.f("fk_supplies_allocations_item_id_supplies_items"),
        ),
        sa.ForeignKeyConstraint(
            ["line_id"],
            ["supplies_request_lines.id"],
            name=op.f("fk_supplies_allocations_line_id_supplies_request_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["supplies_lots.id"],
            name=op.f("fk_supplies_allocations_lot_id_supplies_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["place_id"],
            ["supplies_places.id"],
            name=op.f("fk_supplies_allocations_place_id_supplies_places"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["supplies_requests.id"],
            name=op.f("fk_supplies_allocations_request_id_supplies_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_allocations")),
    )
    op.create_index(
        "ix_supplies_allocations_lot",
        "supplies_allocations",
        ["tenant_id", "place_id", "lot_id"],
        unique=False,
    )
    op.create_index(
        "ix_supplies_allocations_request",
        "supplies_allocations",
        ["tenant_id", "request_id"],
        unique=False,
    )
    op.create_table(
        "supplies_kits",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_kits")),
        sa.UniqueConstraint("tenant_id", "code", name="uq_supplies_kits_tenant_code"),
    )
    op.create_table(
        "supplies_kit_items",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kit_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_supplies_kit_items_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["supplies_items.id"],
            name=op.f("fk_supplies_kit_items_item_id_supplies_items"),
        ),
        sa.ForeignKeyConstraint(
            ["kit_id"],
            ["supplies_kits.id"],
            name=op.f("fk_supplies_kit_items_kit_id_supplies_kits"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_kit_items")),
        sa.UniqueConstraint("tenant_id", "kit_id", "item_id", name="uq_supplies_kit_items"),
    )
    op.create_table(
        "supplies_shipments",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("from_place_id", sa.String(length=36), nullable=False),
        sa.Column("to_place_id", sa.String(length=36), nullable=True),
        sa.Column("to_tenant", sa.String(length=6), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("vehicle", sa.String(length=60), nullable=False),
        sa.Column("driver", sa.String(length=100), nullable=False),
        sa.Column("driver_phone", sa.String(length=30), nullable=False),
        sa.Column("departed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("arrived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_by", sa.String(length=100), nullable=False),
        sa.Column("received_by", sa.String(length=100), nullable=False),
        sa.Column("movement_id", sa.String(length=36), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["from_place_id"],
            ["supplies_places.id"],
            name=op.f("fk_supplies_shipments_from_place_id_supplies_places"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["supplies_requests.id"],
            name=op.f("fk_supplies_shipments_request_id_supplies_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["to_place_id"],
            ["supplies_places.id"],
            name=op.f("fk_supplies_shipments_to_place_id_supplies_places"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_shipments")),
    )
    op.create_index(
        "ix_supplies_shipments_request",
        "supplies_shipments",
        ["tenant_id", "request_id"],
        unique=False,
    )
    op.create_table(
        "supplies_shipment_lines",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("shipment_id", sa.String(length=36), nullable=False),
        sa.Column("request_line_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("lot_id", sa.String(length=36), nullable=False),
        sa.Column("shipped", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("received", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.CheckConstraint(
            "shipped > 0 AND received >= 0", name=op.f("ck_supplies_shipment_lines_quantities")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["supplies_items.id"],
            name=op.f("fk_supplies_shipment_lines_item_id_supplies_items"),
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"],
            ["supplies_lots.id"],
            name=op.f("fk_supplies_shipment_lines_lot_id_supplies_lots"),
        ),
        sa.ForeignKeyConstraint(
            ["request_line_id"],
            ["supplies_request_lines.id"],
            name=op.f("fk_supplies_shipment_lines_request_line_id_supplies_request_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["supplies_shipments.id"],
            name=op.f("fk_supplies_shipment_lines_shipment_id_supplies_shipments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_shipment_lines")),
    )
    op.create_index(
        "ix_supplies_shipment_lines_shipment",
        "supplies_shipment_lines",
        ["tenant_id", "shipment_id"],
        unique=False,
    )
    op.create_table(
        "supplies_discrepancies",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("shipment_id", sa.String(length=36), nullable=False),
        sa.Column("shipment_line_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reported_by", sa.String(length=100), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("movement_id", sa.String(length=36), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_supplies_discrepancies_positive")),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["supplies_shipments.id"],
            name=op.f("fk_supplies_discrepancies_shipment_id_supplies_shipments"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_line_id"],
            ["supplies_shipment_lines.id"],
            name=op.f("fk_supplies_discrepancies_shipment_line_id_supplies_shipment_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_discrepancies")),
    )
    op.create_index(
        "ix_supplies_discrepancies_shipment",
        "supplies_discrepancies",
        ["tenant_id", "shipment_id"],
        unique=False,
    )
    op.create_table(
        "supplies_donation_offers",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("donor", sa.String(length=200), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=False),
        sa.Column("decision_note", sa.Text(), nullable=False),
        sa.Column("movement_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_donation_offers")),
    )
    op.create_index(
        "ix_supplies_donation_offers_status",
        "supplies_donation_offers",
        ["tenant_id", "status"],
        unique=False,
    )
    op.create_table(
        "supplies_donation_lines",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("offer_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", sa.String(length=36), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=15, scale=3), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_supplies_donation_lines_positive")),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["supplies_items.id"],
            name=op.f("fk_supplies_donation_lines_item_id_supplies_items"),
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"],
            ["supplies_donation_offers.id"],
            name=op.f("fk_supplies_donation_lines_offer_id_supplies_donation_offers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_donation_lines")),
    )
    op.create_index(
        "ix_supplies_donation_lines_offer",
        "supplies_donation_lines",
        ["tenant_id", "offer_id"],
        unique=False,
    )
    op.create_table(
        "supplies_exchange_messages",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("direction", sa.String(length=4), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("counterpart", sa.String(length=6), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=True),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("job_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supplies_exchange_messages")),
        sa.UniqueConstraint(
            "tenant_id",
            "direction",
            "counterpart",
            "message_id",
            name="uq_supplies_exchange_messages_message",
        ),
    )
    op.create_index(
        "ix_supplies_exchange_messages_request",
        "supplies_exchange_messages",
        ["tenant_id", "request_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("supplies_exchange_messages")
    op.drop_table("supplies_donation_lines")
    op.drop_table("supplies_donation_offers")
    op.drop_table("supplies_discrepancies")
    op.drop_table("supplies_shipment_lines")
    op.drop_table("supplies_shipments")
    op.drop_table("supplies_kit_items")
    op.drop_table("supplies_kits")
    op.drop_table("supplies_allocations")
    op.drop_table("supplies_request_lines")
    op.drop_table("supplies_requests")
