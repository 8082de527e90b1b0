"""replication: per-tenant replica state and the quarantine

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "replication_state",
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("sealed_epoch", sa.BigInteger(), nullable=False),
        sa.Column("applied_seq", sa.BigInteger(), nullable=False),
        sa.Column("complete_seq", sa.BigInteger(), nullable=False),
        sa.Column("log_start", sa.BigInteger(), nullable=False),
        sa.Column("snapshot_seq", sa.BigInteger(), nullable=True),
        sa.Column("epochs", sa.JSON(), nullable=False),
        sa.Column("source_site", sa.String(length=63), nullable=True),
        sa.Column("primary_seq", sa.BigInteger(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("truncate_below", sa.BigInteger(), nullable=False),
        sa.Column("stalled", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_replication_state")),
    )
    op.create_table(
        "replication_quarantine",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=6), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("tx_seq", sa.BigInteger(), nullable=False),
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.Column("op", sa.String(length=6), nullable=False),
        sa.Column("pk", sa.JSON(), nullable=False),
        sa.Column("row", sa.JSON(), nullable=True),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason_code", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source_site", sa.String(length=63), nullable=False),
        sa.Column("quarantined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=100), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_replication_quarantine")),
        sa.UniqueConstraint("tenant_id", "seq", "epoch", name="uq_replication_quarantine_entry"),
    )
    with op.batch_alter_table("replication_quarantine", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_replication_quarantine_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("replication_quarantine", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_replication_quarantine_tenant_id"))
    op.drop_table("replication_quarantine")
    op.drop_table("replication_state")
