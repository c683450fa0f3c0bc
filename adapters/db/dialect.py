"""The one place that picks dialect-specific statements (PostgreSQL or the embedded SQLite)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that supports ON CONFLICT for the connection's dialect."""
    return dialect_insert(conn.dialect.name, table)


def dialect_insert(dialect: str, table: sa.Table) -> Any:
    """The same, by dialect name (for statements built once and cached)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)
