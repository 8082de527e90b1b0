"""safety_check: PFIF records from other repositories (persons and notes, as they came)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_check_pfif_persons",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("source_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entry_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_pfif_persons")),
        sa.UniqueConstraint("tenant_id", "record_id", name="uq_safety_check_pfif_persons_record"),
    )
    op.create_table(
        "safety_check_pfif_notes",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("record_id", sa.String(length=255), nullable=False),
        sa.Column("person_record_id", sa.String(length=255), nullable=False),
        sa.Column("entry_date", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safety_check_pfif_notes")),
        sa.UniqueConstraint("tenant_id", "record_id", name="uq_safety_check_pfif_notes_record"),
    )
    op.create_index(
        "ix_safety_check_pfif_notes_person",
        "safety_check_pfif_notes",
        ["tenant_id", "person_record_id"],
    )


def downgrade() -> None:
    op.drop_table("safety_check_pfif_notes")
    op.drop_table("safety_check_pfif_persons")
