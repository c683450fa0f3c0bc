"""The SQL unit of work: one connection, one transaction, outbox rows written at commit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from adapters.db import registry
from adapters.db.errors import convert
from adapters.db.inventory_repository import SqlInventoryRepository
from adapters.db.order_repository import SqlOrderRepository
from adapters.db.shipment_repository import SqlShipmentRepository
from domain.ports import UnitOfWork
from outbox.writer import TraceContext, write_events


class SqlUnitOfWork(UnitOfWork):
    def __init__(
        self,
        engine: sa.Engine,
        context: TraceContext | None = None,
        *,
        notify: bool = False,
        channels: Callable[[sa.Connection], list[str]] = registry.active_channel_names,
    ) -> None:
        self.engine = engine
        self.context = context or TraceContext()
        self.notify = notify
        self.channels = channels

    def __enter__(self) -> SqlUnitOfWork:
        super().__enter__()
        try:
            self.connection = self.engine.connect()
            self.connection.begin()
        except exc.DBAPIError as error:
            raise convert(error) from error
        self.orders = SqlOrderRepository(self.connection)
        self.inventory = SqlInventoryRepository(self.connection)
        self.shipments = SqlShipmentRepository(self.connection)
        return self

    def __exit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        try:
            self.rollback()
            if exc_type is not None:
                # A failure inside COMMIT (or an event hook) can leave the driver's
                # transaction open while SQLAlchemy thinks it ended: roll back at the
                # driver level too, so the pool never hands out a connection mid-transaction.
                self.connection.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
        finally:
            self.connection.close()
        if isinstance(exc_value, exc.DBAPIError):
            raise convert(exc_value) from exc_value

    def commit(self) -> None:
        try:
            write_events(
                self.connection,
                self.pending_events,
                self.context,
                lambda: self.channels(self.connection),
                notify=self.notify,
            )
            self.connection.commit()
        except exc.DBAPIError as error:
            raise convert(error) from error
        self.pending_events = []

    def rollback(self) -> None:
        if self.connection.in_transaction():
            self.connection.rollback()
        self.pending_events = []
