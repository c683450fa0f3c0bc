"""The SQL unit of work: one connection, one transaction, outbox rows written at commit.

Which destinations the outbox rows go to is a `Routing` every unit of work is given
(required, never a default): the routing is made from the downstream systems and channel
kinds, which live above this layer, so only the composition root can build it (ops.wiring);
a module-level routing set from above would be a global that one test's extra system
leaks into the next. Passed per unit of work, a test declares a system of its own by
building its own Routing and handing it to its own app (adapters.http.app.init_app) or
units of work, and no other test sees it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from adapters.db import registry
from adapters.db.change_log import SqlChangeLog
from adapters.db.channel_sync_repository import SqlChannelSyncRepository
from adapters.db.errors import DATABASE_ERRORS, convert
from adapters.db.finance_repository import SqlFinanceRepository
from adapters.db.hold_rules import CachedHoldRules, SqlHoldRuleRepository
from adapters.db.inventory_repository import SqlInventoryRepository
from adapters.db.order_repository import SqlOrderRepository
from adapters.db.return_repository import SqlReturnRepository
from adapters.db.safety_stock_repository import SqlSafetyStockRepository
from adapters.db.shipment_repository import SqlShipmentRepository
from domain.events import DomainEvent
from domain.ports import UnitOfWork
from outbox.hooks import Hooks
from outbox.routing import Routing
from outbox.writer import TraceContext, write_events


class CommitHooks(Hooks[Sequence[DomainEvent]]):
    """Listeners of what a unit of work committed: its domain events, once the transaction
    is durable (never for one rolled back or retried), e.g. the business metrics."""


# The process's commit hooks; nobody listening, a commit checks an empty list.
commit_hooks = CommitHooks()


class SqlUnitOfWork(UnitOfWork):
    def __init__(
        self,
        engine: sa.Engine,
        context: TraceContext | None = None,
        *,
        routing: Routing,
        notify: bool = False,
        channels: Callable[[sa.Connection], list[str]] = registry.active_channel_names,
        caller: str | None = None,
        hold_rules: CachedHoldRules | None = None,
    ) -> None:
        self.engine = engine
        self.caller = caller  # "kind:name" of who asked for the change (the change log's)
        self.hold_rules_cache = hold_rules  # None: the rules are read by every order
        self.context = context or TraceContext()
        self.routing = routing
        self.notify = notify
        self.channels = channels

    def __enter__(self) -> SqlUnitOfWork:
        super().__enter__()
        try:
            self.connection = self.engine.connect()
        except DATABASE_ERRORS as error:  # refused, or the pool gave none in time
            raise convert(error) from error
        self.connection.begin()  # no round trip: psycopg sends BEGIN with the first statement
        self.changes = SqlChangeLog(self.caller, self.context.correlation_id)
        self.orders = SqlOrderRepository(self.connection, self.changes, self.context.correlation_id)
        self.inventory = SqlInventoryRepository(self.connection)
        self.shipments = SqlShipmentRepository(self.connection)
        self.finance = SqlFinanceRepository(self.connection)
        self.hold_rules = SqlHoldRuleRepository(self.connection, self.hold_rules_cache)
        self.safety = SqlSafetyStockRepository(self.connection)
        self.returns = SqlReturnRepository(self.connection)
        self.channel_sync = SqlChannelSyncRepository(self.connection)
        self._channel_names: list[str] | None = None
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        try:
            self._release(failed=exc_type is not None)
        except DATABASE_ERRORS as error:
            if exc_value is None:
                raise convert(error) from error
            # Otherwise the body's error is the one to report: the cleanup failed because
            # the connection failed, which the body's error already says.
        if isinstance(exc_value, DATABASE_ERRORS):
            raise convert(exc_value) from exc_value

    def _release(self, *, failed: bool) -> None:
        """Roll back what is open and give the connection back; one in doubt is discarded."""
        connection = self.connection
        try:
            self.rollback()
            if failed and not connection.invalidated:
                # A failure inside COMMIT (or an event hook) can leave the driver's
                # transaction open while SQLAlchemy thinks it ended: roll back at the
                # driver level too, so the pool never hands out a connection mid-transaction.
                # (Not on an invalidated connection: `.connection` would open a new one.)
                connection.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
        except DATABASE_ERRORS:
            # The rollback failed, so the session's state is unknown (or it is dead):
            # never hand this connection out again.
            if not connection.invalidated:
                connection.invalidate()
            raise
        finally:
            connection.close()

    def active_channels(self) -> list[str]:
        # Once per unit of work: the stock figures and their outbox rows name the same
        # channels (and `channels` is the app's cached list on the request path).
        if self._channel_names is None:
            self._channel_names = sorted(self.channels(self.connection))
        return self._channel_names

    def commit(self) -> None:
        try:
            self.changes.flush(self.connection)
            write_events(
                self.connection,
                self.pending_events,
                self.context,
                self.active_channels,
                routing=self.routing,
                notify=self.notify,
            )
            self.connection.commit()
        except DATABASE_ERRORS as error:
            raise convert(error) from error
        if commit_hooks.listeners and self.pending_events:
            commit_hooks.emit(tuple(self.pending_events))
        self.pending_events = []

    def rollback(self) -> None:
        if self.connection.in_transaction():
            self.connection.rollback()
        self.pending_events = []
        self.changes.pending = []
