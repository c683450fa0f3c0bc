"""The order change log (order_changes): what changed an order, by whom, in which
correlation — the timeline's causes. Entries are kept until commit and written with the
outbox rows, in one statement (a new order's, by its own insert statement)."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from adapters.db.lifecycle_tables import order_changes
from domain.orders import Order
from domain.ports import ChangeLog
from domain.status import OrderStatus


class SqlChangeLog(ChangeLog):
    def __init__(self, caller: str | None, correlation_id: str | None) -> None:
        self.caller = caller
        self.correlation_id = correlation_id
        self.pending: list[dict[str, Any]] = []

    def record(
        self,
        order: Order,
        command: str,
        previous: OrderStatus | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.pending.append(
            {
                "order_id": order.id,
                "version": order.version,
                "command": command,
                "caller": self.caller,
                "correlation_id": self.correlation_id,
                "status_from": None if previous is None else previous.value,
                "status_to": order.status.value,
                "detail": detail or {},
            }
        )

    def take(self, order_id: uuid.UUID) -> list[dict[str, Any]]:
        """The pending entries of one order, taken out: the statement that inserts a new
        order writes its entries itself (no round trip of their own)."""
        mine = [e for e in self.pending if e["order_id"] == order_id]
        self.pending = [e for e in self.pending if e["order_id"] != order_id]
        return mine

    def flush(self, conn: sa.Connection) -> None:
        if self.pending:
            conn.execute(sa.insert(order_changes), self.pending)
        self.pending = []
