"""The Alembic migrations build exactly the schema the table definitions describe."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import adapters.db.consumer_tables
import adapters.db.tables
import outbox.tables
from adapters.db.migrate import alembic_config


def test_the_migrated_database_matches_the_table_definitions(engine: sa.Engine) -> None:
    assert adapters.db.tables and adapters.db.consumer_tables and outbox.tables  # registered
    with engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []


def test_every_migration_downgrades_to_nothing_and_upgrades_again(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names()) - {"alembic_version"}
        assert tables == set()
        command.upgrade(config, "head")
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
    finally:
        engine.dispose()
