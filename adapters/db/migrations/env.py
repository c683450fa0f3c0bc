"""Alembic environment: the metadata of adapters/db and outbox tables."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import adapters.db.channel_tables
import adapters.db.consumer_tables
import adapters.db.lifecycle_tables
import adapters.db.operations_tables
import adapters.db.tables  # noqa: F401  (registers the tables on the metadata)
import outbox.tables  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        connectable = sa.create_engine(
            config.get_main_option("sqlalchemy.url") or "", poolclass=sa.NullPool
        )
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
