"""A message a destination has no handler for is a dead letter with its reason — never a
delivery marked applied by a handler that did nothing (real PostgreSQL, the real guard)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from actors import erp
from actors.registry import Policy, _apply
from adapters.systems.handlers import dispatch
from tests.outbox_rows import envelopes, write_orders

pytestmark = pytest.mark.integration


def test_an_event_type_without_a_handler_is_a_dead_letter_that_says_so(
    engine: sa.Engine,
) -> None:
    write_orders(engine, aggregates=1, events_each=1)  # order.allocated, routed to the wms
    (message,) = envelopes(engine, "wms")
    # Applied with the ERP's table, which takes no allocations: a routing bug, caught.
    with erp.ErpClient("http://127.0.0.1:9/erp") as client:  # never called
        outcome = _apply(engine, message, lambda e: dispatch(erp.HANDLERS, client, e), Policy())

    assert outcome == "dead"
    with engine.connect() as conn:
        status, error = conn.execute(
            sa.text("SELECT status, last_error FROM outbox_deliveries WHERE destination = 'wms'")
        ).one()
        (reason,) = conn.execute(sa.text("SELECT error FROM dead_letters")).one()
    assert status == "dead"
    assert "no handler for 'order.allocated'" in error
    assert reason == error
