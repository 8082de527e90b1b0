"""Alembic environment: one history for every table of every part of Yui."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine, MetaData

config = context.config
engine: Engine = config.attributes["engine"]
# The revisions are written by hand, so upgrading needs no models. A caller that compares
# models with the schema (autogenerate) passes every part's tables, which only the
# composition root knows (`assembly.site.all_metadata`): the kernel imports nothing above it.
target_metadata: MetaData | None = config.attributes.get("target_metadata")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
