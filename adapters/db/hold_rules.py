"""Hold rules: read by the order's transaction, managed by `ordersync hold-rule`."""

from __future__ import annotations

import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from adapters.db.lifecycle_tables import hold_rules
from adapters.db.registry import RegistryError
from adapters.db.tables import channels
from domain.holds import HoldRule, normalized_value
from domain.ports import HoldRuleRepository

# Plain SQL for the driver: read for every order, so SQLAlchemy's statement processing
# (a third of this read's CPU) is not paid on the ingest path.
_FOR_CHANNEL = (
    "SELECT id, channel, kind, value FROM hold_rules"
    " WHERE channel IS NULL OR channel = %(ch)s ORDER BY id"
)


def read_rules(conn: sa.Connection, channel: str) -> list[HoldRule]:
    """The rules that screen the channel's orders (its own and every channel's), by id."""
    return [HoldRule(*row) for row in conn.exec_driver_sql(_FOR_CHANNEL, {"ch": channel})]


class CachedHoldRules:
    """The channels' hold rules, read at most once per `ttl` seconds per channel (per
    process), as the active channels are: every order is screened and rules change
    rarely, so the ingest path pays no round trip for them. A rule added or removed in
    another process takes effect within `ttl`."""

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._rules: dict[str, tuple[list[HoldRule], float]] = {}
        self._lock = threading.Lock()

    def __call__(self, conn: sa.Connection, channel: str) -> list[HoldRule]:
        with self._lock:
            hit = self._rules.get(channel)
            if hit is not None and time.monotonic() - hit[1] <= self.ttl:
                return hit[0]
        rules = read_rules(conn, channel)
        with self._lock:
            self._rules[channel] = (rules, time.monotonic())
        return rules


class SqlHoldRuleRepository(HoldRuleRepository):
    def __init__(self, conn: sa.Connection, cache: CachedHoldRules | None = None) -> None:
        self.conn = conn
        self.cache = cache  # None: read in the order's transaction every time

    def for_channel(self, channel: str) -> list[HoldRule]:
        if self.cache is not None:
            return self.cache(self.conn, channel)
        return read_rules(self.conn, channel)


class DuplicateRule(RegistryError):
    """The same rule (channel, kind and value) exists already."""


def add_rule(
    conn: sa.Connection, kind: str, *, channel: str | None, value: str | None, created_by: str
) -> dict[str, Any]:
    """Add a rule (its value validated and normalized, domain.holds); the stored row.
    RegistryError for an unknown channel, DuplicateRule for a rule that exists."""
    stored = normalized_value(kind, value)
    if (
        channel is not None
        and conn.scalar(sa.select(channels.c.name).where(channels.c.name == channel)) is None
    ):
        raise RegistryError(f"no channel {channel!r}")
    insert = sa.insert(hold_rules).values(
        channel=channel, kind=kind, value=stored, created_by=created_by
    )
    try:
        with conn.begin_nested():
            row = conn.execute(insert.returning(*hold_rules.c)).one()
    except exc.IntegrityError:
        where = f"channel {channel}" if channel else "every channel"
        shown = f" {stored}" if stored else ""
        raise DuplicateRule(f"a rule {kind}{shown} for {where} exists already") from None
    return dict(row._mapping)


def list_rules(conn: sa.Connection, channel: str | None = None) -> list[dict[str, Any]]:
    """The rules, by id; with `channel`, those that screen its orders (its own and every
    channel's)."""
    query = sa.select(hold_rules).order_by(hold_rules.c.id)
    if channel is not None:
        query = query.where(sa.or_(hold_rules.c.channel.is_(None), hold_rules.c.channel == channel))
    return [dict(row._mapping) for row in conn.execute(query)]


def remove_rule(conn: sa.Connection, rule_id: int) -> dict[str, Any] | None:
    """Remove a rule; the removed row (None: there was none)."""
    row = conn.execute(
        sa.delete(hold_rules).where(hold_rules.c.id == rule_id).returning(*hold_rules.c)
    ).first()
    return None if row is None else dict(row._mapping)
