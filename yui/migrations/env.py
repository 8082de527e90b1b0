"""Alembic environment: one history for every table of every part of Yui."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from yui.site import all_metadata

config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=all_metadata(),
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
