"""How the dashboard reads: one consistent snapshot, read only, each statement bounded.

REPEATABLE READ gives every panel of a page the same moment (a delayed order's money and
its row in the list agree). JIT compilation is off: the planner's cost of a query over
the ledger's window crosses jit_above_cost long before the query is slow, and compiling
then took most of its time (bench/dashboard.py: 222 ms of 355). A statement timeout keeps
a page that asks too much from holding a connection of the pool: the page fails, the
database does not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa

STATEMENT_TIMEOUT_MS = 5_000


@contextmanager
def snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            conn.execute(sa.text("SET LOCAL jit = off"))
            conn.execute(sa.text(f"SET LOCAL statement_timeout = {STATEMENT_TIMEOUT_MS}"))
            yield conn
