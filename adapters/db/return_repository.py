"""Returns (the returns table): lines as [{"line_no", "sku", "quantity"}], what was
received as the same with a "disposition"."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import sqlalchemy as sa

from adapters.db.lifecycle_tables import returns
from domain.ports import ReturnRepository
from domain.returns import ReceivedLine, Return, ReturnLine


class SqlReturnRepository(ReturnRepository):
    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def add(self, ret: Return) -> None:
        self.conn.execute(
            sa.insert(returns).values(
                id=ret.id,
                order_id=ret.order_id,
                status=ret.status,
                reason=ret.reason,
                lines=[dataclasses.asdict(line) for line in ret.lines],
                created_at=ret.created_at,
            )
        )

    def get(self, return_id: uuid.UUID, *, lock: bool = False) -> Return | None:
        query = sa.select(returns).where(returns.c.id == return_id)
        if lock:
            query = query.with_for_update()
        row = self.conn.execute(query).first()
        return None if row is None else _return(row)

    def save(self, ret: Return) -> None:
        self.conn.execute(
            sa.update(returns)
            .where(returns.c.id == ret.id)
            .values(
                status=ret.status,
                location=ret.location,
                received=[dataclasses.asdict(line) for line in ret.received or []],
                received_at=ret.received_at,
            )
        )


def _return(row: Any) -> Return:
    return Return(
        row.order_id,
        row.reason,
        [ReturnLine(x["line_no"], x["sku"], x["quantity"]) for x in row.lines],
        status=row.status,
        received=None
        if row.received is None
        else [
            ReceivedLine(x["line_no"], x["sku"], x["quantity"], x["disposition"])
            for x in row.received
        ],
        location=row.location,
        id=row.id,
        created_at=row.created_at,
        received_at=row.received_at,
    )
