"""A message a destination has no handler for is a dead letter with its reason — never a
delivery marked applied by a handler that did nothing (real PostgreSQL, the real guard)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from actors import channel, erp
from actors.clients import SystemClients
from actors.registry import Policy, _apply
from actors.systems import SYSTEMS
from adapters.db import registry
from adapters.systems.handlers import dispatch
from outbox.envelope import Envelope
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


def _channel_message(engine: sa.Engine) -> Envelope:
    write_orders(engine, aggregates=1, events_each=2)  # the second is backordered → web
    (message,) = envelopes(engine, "channel:web")
    return message


def _apply_to_channel(engine: sa.Engine, message: Envelope) -> str:
    clients = SystemClients.create(engine, SYSTEMS.urls_at("http://127.0.0.1:9"))  # not called
    try:
        return _apply(engine, message, lambda e: channel.handle(e, clients), Policy())
    finally:
        clients.close()


def test_a_message_for_a_channel_that_does_not_exist_is_a_dead_letter_naming_it(
    engine: sa.Engine,
) -> None:
    message = _channel_message(engine)  # no channel "web" is registered

    assert _apply_to_channel(engine, message) == "dead"
    with engine.connect() as conn:
        status, error = conn.execute(
            sa.text(
                "SELECT status, last_error FROM outbox_deliveries WHERE destination = 'channel:web'"
            )
        ).one()
    assert status == "dead"
    assert "channel:web" in error


def test_a_channel_without_an_api_url_takes_its_messages_as_applied_without_a_call(
    engine: sa.Engine,
) -> None:
    message = _channel_message(engine)
    with engine.begin() as conn:
        registry.add_channel(conn, "web", "canonical")  # no --api-url

    # Any call would fail: the clients point at a closed port.
    assert _apply_to_channel(engine, message) == "applied"
    with engine.connect() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM outbox_deliveries WHERE destination = 'channel:web'")
        ).scalar_one()
        inbox = conn.execute(
            sa.text("SELECT count(*) FROM inbox WHERE destination = 'channel:web'")
        ).scalar_one()
    assert (status, inbox) == ("applied", 1)
