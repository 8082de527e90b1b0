"""residents: the resident registry (residents, households, history, needs-assistance register)

Search keys (name_key, kana_key, address_key) compare by code point on every
database: SQLite's default BINARY collation, and collation "C" on PostgreSQL, so a
prefix search is a B-tree range whatever the server's locale. Every index leads with
tenant_id, as every query of a tenant table does.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:42:21.166704
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "residents_households",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("household_no", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents_households")),
        sa.UniqueConstraint("tenant_id", "household_no", name="uq_residents_households_number"),
    )
    op.create_table(
        "residents",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("resident_no", sa.String(length=20), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("relationship", sa.String(length=20), nullable=False),
        sa.Column("family_name", sa.String(length=50), nullable=False),
        sa.Column("given_name", sa.String(length=50), nullable=False),
        sa.Column("family_kana", sa.String(length=50), nullable=False),
        sa.Column("given_kana", sa.String(length=50), nullable=False),
        sa.Column(
            "name_key",
            sa.String(length=120).with_variant(sa.String(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "kana_key",
            sa.String(length=120).with_variant(sa.String(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("sex", sa.String(length=6), nullable=False),
        sa.Column("nationality", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("status_on", sa.Date(), nullable=True),
        sa.Column("became_resident_on", sa.Date(), nullable=True),
        sa.Column("address_since", sa.Date(), nullable=True),
        sa.Column("state_since", sa.Date(), nullable=False),
        sa.Column("town_code", sa.String(length=12), nullable=False),
        sa.Column("town_name", sa.String(length=80), nullable=False),
        sa.Column("block", sa.String(length=40), nullable=False),
        sa.Column("building", sa.String(length=80), nullable=False),
        sa.Column(
            "address_key",
            sa.String(length=120).with_variant(sa.String(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("dv_block", sa.Boolean(), nullable=False),
        sa.Column("dv_block_since", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["residents_households.id"],
            name=op.f("fk_residents_household_id_residents_households"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.UniqueConstraint("tenant_id", "resident_no", name="uq_residents_number"),
    )
    op.create_index(
        "ix_residents_address_key", "residents", ["tenant_id", "address_key"], unique=False
    )
    op.create_index(
        "ix_residents_birth_date",
        "residents",
        ["tenant_id", "birth_date", "kana_key", "id"],
        unique=False,
    )
    op.create_index(
        "ix_residents_household", "residents", ["tenant_id", "household_id"], unique=False
    )
    op.create_index(
        "ix_residents_kana_key", "residents", ["tenant_id", "kana_key", "id"], unique=False
    )
    op.create_index(
        "ix_residents_name_key", "residents", ["tenant_id", "name_key", "id"], unique=False
    )

    op.create_table(
        "residents_assistance",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("care_level", sa.String(length=10), nullable=False),
        sa.Column("needs", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("consent_to_share", sa.Boolean(), nullable=False),
        sa.Column("consent_on", sa.Date(), nullable=True),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_residents_assistance_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents_assistance")),
        sa.UniqueConstraint("tenant_id", "resident_id", name="uq_residents_assistance_resident"),
    )
    op.create_index(
        "ix_residents_assistance_priority",
        "residents_assistance",
        ["tenant_id", "priority"],
        unique=False,
    )

    op.create_table(
        "residents_moves",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("notified_on", sa.Date(), nullable=True),
        sa.Column("from_household_id", sa.String(length=36), nullable=True),
        sa.Column("to_household_id", sa.String(length=36), nullable=True),
        sa.Column("from_address", sa.String(length=250), nullable=False),
        sa.Column("to_address", sa.String(length=250), nullable=False),
        sa.Column("other_address", sa.String(length=250), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=100), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_residents_moves_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents_moves")),
    )
    op.create_index(
        "ix_residents_moves_resident",
        "residents_moves",
        ["tenant_id", "resident_id", "effective_on"],
        unique=False,
    )

    op.create_table(
        "residents_periods",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("resident_id", sa.String(length=36), nullable=False),
        sa.Column("household_id", sa.String(length=36), nullable=False),
        sa.Column("relationship", sa.String(length=20), nullable=False),
        sa.Column("town_code", sa.String(length=12), nullable=False),
        sa.Column("town_name", sa.String(length=80), nullable=False),
        sa.Column("block", sa.String(length=40), nullable=False),
        sa.Column("building", sa.String(length=80), nullable=False),
        sa.Column(
            "address_key",
            sa.String(length=120).with_variant(sa.String(length=120, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(
            ["household_id"],
            ["residents_households.id"],
            name=op.f("fk_residents_periods_household_id_residents_households"),
        ),
        sa.ForeignKeyConstraint(
            ["resident_id"],
            ["residents.id"],
            name=op.f("fk_residents_periods_resident_id_residents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents_periods")),
    )
    op.create_index(
        "ix_residents_periods_address_key",
        "residents_periods",
        ["tenant_id", "address_key"],
        unique=False,
    )
    op.create_index(
        "ix_residents_periods_household",
        "residents_periods",
        ["tenant_id", "household_id"],
        unique=False,
    )
    op.create_index(
        "ix_residents_periods_resident",
        "residents_periods",
        ["tenant_id", "resident_id"],
        unique=False,
    )

    op.create_table(
        "residents_supporters",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["residents_assistance.id"],
            name=op.f("fk_residents_supporters_entry_id_residents_assistance"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents_supporters")),
    )
    op.create_index(
        "ix_residents_supporters_entry",
        "residents_supporters",
        ["tenant_id", "entry_id", "position"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_residents_supporters_entry", table_name="residents_supporters")

    op.drop_table("residents_supporters")
    op.drop_index("ix_residents_periods_resident", table_name="residents_periods")
    op.drop_index("ix_residents_periods_household", table_name="residents_periods")
    op.drop_index("ix_residents_periods_address_key", table_name="residents_periods")

    op.drop_table("residents_periods")
    op.drop_index("ix_residents_moves_resident", table_name="residents_moves")

    op.drop_table("residents_moves")
    op.drop_index("ix_residents_assistance_priority", table_name="residents_assistance")

    op.drop_table("residents_assistance")
    op.drop_index("ix_residents_name_key", table_name="residents")
    op.drop_index("ix_residents_kana_key", table_name="residents")
    op.drop_index("ix_residents_household", table_name="residents")
    op.drop_index("ix_residents_birth_date", table_name="residents")
    op.drop_index("ix_residents_address_key", table_name="residents")

    op.drop_table("residents")
    op.drop_table("residents_households")
