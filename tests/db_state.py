"""The database state a writer of events may touch, for tests that check a failed or
repeated step changed nothing."""

from __future__ import annotations

import sqlalchemy as sa

STATE_TABLES = (
    "orders",
    "order_lines",
    "reservations",
    "skus",
    "stock",
    "locations",
    "shipments",
    "outbox_events",
    "outbox_deliveries",
    "outbox_sequences",
    # The lifecycle's (issue 12).
    "order_changes",
    "customers",
    "safety_stock",
    "payments",
    "returns",
    "refunds",
    "financial_documents",
)

# One md5 per table over its rows as text, in one statement (cheap enough for every step).
DIGEST = " UNION ALL ".join(
    f"SELECT '{t}', md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x"
    for t in STATE_TABLES
)


def every_row(engine: sa.Engine) -> dict[str, list[str]]:
    """Every row of every such table, as text (to show what differs when a test fails)."""
    with engine.connect() as conn:
        return {
            t: list(conn.execute(sa.text(f"SELECT x::text FROM {t} x ORDER BY 1")).scalars())
            for t in STATE_TABLES
        }
