"""staff accounts: usernames compared after NFKC case folding; a token generation

`username_key` holds the username as compared (NFKC case-folded) and is unique per
tenant: PA-STAFF beside pa-staff made two confusable actors in the audit log. Two
existing accounts that fold to one name keep their rows; the later one's key gets its
id appended (it cannot sign in until an admin renames or disables it — none exist in
the deployments this runs on, but a migration must not fail on one).
`token_generation` is raised to end every token of an account (yui/auth/models.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 20:10:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(username: str) -> str:
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())


def upgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.add_column(sa.Column("username_key", sa.String(64), nullable=True))
        batch.add_column(
            sa.Column("token_generation", sa.Integer(), nullable=False, server_default="0")
        )
    users = sa.table(
        "staff_users",
        sa.column("id", sa.String),
        sa.column("tenant_id", sa.String),
        sa.column("username", sa.String),
        sa.column("username_key", sa.String),
    )
    connection = op.get_bind()
    taken: set[tuple[str, str]] = set()
    rows = connection.execute(
        sa.select(users.c.id, users.c.tenant_id, users.c.username).order_by(users.c.id)
    ).all()
    for user_id, tenant_id, username in rows:
        key = _key(username)
        if (tenant_id, key) in taken:
            key = f"{key}#{user_id}"[:64]
        taken.add((tenant_id, key))
        connection.execute(users.update().where(users.c.id == user_id).values(username_key=key))
    with op.batch_alter_table("staff_users") as batch:
        batch.alter_column("username_key", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint(
            "uq_staff_users_tenant_username_key", ["tenant_id", "username_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("staff_users") as batch:
        batch.drop_constraint("uq_staff_users_tenant_username_key", type_="unique")
        batch.drop_column("token_generation")
        batch.drop_column("username_key")
