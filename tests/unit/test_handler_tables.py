"""Handler tables (a system's, a channel kind's) and the registries built from them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from actors import channel, crm, erp, wms
from actors.systems import SYSTEMS, DownstreamSystem, Systems
from adapters.channels import CANONICAL, CHANNELS
from adapters.channels.canonical import ChannelClient
from adapters.channels.kind import ChannelKind, ChannelKinds
from adapters.channels.outbound import TAKEN_BACK, Outbound, nothing, outbound_table
from adapters.systems.errors import PermanentError
from adapters.systems.handlers import Unhandled, dispatch, handlers, on
from domain.events import InventoryChanged, OrderAccepted, OrderAllocated, OrderHeld
from outbox.envelope import Envelope
from outbox.routing import ALL_CHANNELS, ORIGIN_CHANNEL


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str]] = []

    def stock(self, change: InventoryChanged, *, idempotency_key: str) -> int:
        self.calls.append(("stock", change, idempotency_key))
        return change.atp


def message(event_type: str, payload: dict[str, Any], destination: str = "erp") -> Envelope:
    return Envelope(
        event_id=uuid.UUID(int=7),
        event_type=event_type,
        event_version=1,
        aggregate_type="sku",
        aggregate_id="A",
        aggregate_version=1,
        destination=destination,
        sequence=1,
        generation=0,
        occurred_at=datetime(2026, 12, 1, tzinfo=UTC),
        correlation_id=None,
        causation_id=None,
        channel=None,
        payload=payload,
    )


STOCK = {"sku": "A", "atp": 3, "locations": []}


def test_a_table_entry_validates_the_payload_and_passes_the_messages_key() -> None:
    table = handlers(on(InventoryChanged, Recorder.stock))
    recorder = Recorder()
    envelope = message("inventory.changed", STOCK)

    assert dispatch(table, recorder, envelope) == 3
    [(_, change, key)] = recorder.calls
    assert change == InventoryChanged(sku="A", atp=3, locations=[])
    assert key == envelope.idempotency_key()


def test_a_payload_that_breaks_the_events_schema_is_refused_before_the_call() -> None:
    recorder = Recorder()
    with pytest.raises(ValueError, match="atp"):
        dispatch(
            handlers(on(InventoryChanged, Recorder.stock)),
            recorder,
            message("inventory.changed", {"sku": "A", "locations": []}),
        )
    assert recorder.calls == []


def test_an_event_type_the_table_lacks_is_a_permanent_error_naming_it() -> None:
    table = handlers(on(InventoryChanged, Recorder.stock))
    with pytest.raises(Unhandled) as raised:
        dispatch(table, Recorder(), message("order.accepted", {}, destination="threepl"))
    assert isinstance(raised.value, PermanentError)  # the guard dead-letters it at once
    assert str(raised.value) == (
        "threepl: no handler for 'order.accepted' (it handles inventory.changed)"
    )


def test_a_table_takes_each_event_type_once() -> None:
    with pytest.raises(ValueError, match=r"two handlers for 'inventory\.changed'"):
        handlers(on(InventoryChanged, Recorder.stock), on(InventoryChanged, Recorder.stock))


def test_each_system_handles_what_it_handled_before_its_module_held_everything() -> None:
    assert {name: sorted(s.handlers) for name, s in SYSTEMS.items()} == {
        "erp": [
            "order.accepted",
            "order.amended",
            "order.cancelled",
            "payment.recorded",
            "refund.recorded",
            "shipment.dispatched",
        ],
        "wms": ["order.allocated", "order.backordered", "return.opened"],
        "crm": ["customer.updated", "order.accepted"],
    }
    assert SYSTEMS["erp"].handlers is erp.HANDLERS
    assert SYSTEMS["wms"].handlers is wms.HANDLERS
    assert SYSTEMS["crm"].handlers is crm.HANDLERS


def test_a_system_entry_gives_its_queue_actor_setting_and_default_url() -> None:
    entry = SYSTEMS["wms"]
    assert (entry.queue.queue_name, entry.queue.actor_name) == ("wms", "wms.deliver")
    assert entry.setting == "ORDERSYNC_WMS_URL"
    assert entry.default_url == "http://127.0.0.1:8090/wms"
    assert SYSTEMS.urls_at("http://sim:1/") == {
        "erp": "http://sim:1/erp",
        "wms": "http://sim:1/wms",
        "crm": "http://sim:1/crm",
    }


@pytest.mark.parametrize("name", ["channels", "3pl", "Erp", "th-ree", ""])
def test_a_system_name_that_cannot_be_a_queue_and_a_setting_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="a system name is"):
        DownstreamSystem(name, erp.ErpClient, erp.HANDLERS, "/x")


def test_a_registry_of_ones_own_extends_the_products_and_leaves_it_alone() -> None:
    own = SYSTEMS.plus(DownstreamSystem("threepl", erp.ErpClient, erp.HANDLERS, "/threepl"))
    assert own.names == ("erp", "wms", "crm", "threepl")
    assert SYSTEMS.names == ("erp", "wms", "crm")
    with pytest.raises(ValueError, match="named twice"):
        Systems(SYSTEMS["erp"], SYSTEMS["erp"])


def test_the_channel_kinds_are_the_interfaces_canonical_first() -> None:
    assert set(CHANNELS.names) == {
        "canonical",
        "pos",
        "b2b",
        "shopify",
        "woocommerce",
        "amazon",
        "square",
    }
    assert CHANNELS.names[0] == "canonical"
    assert CHANNELS.first is CANONICAL


# The kinds with formats of their own: their module's KIND, with its own door.
OWN_FORMATS = {"shopify", "woocommerce", "amazon", "square"}


def test_kinds_without_formats_of_their_own_speak_canonical_and_say_so() -> None:
    for name in CHANNELS.names[1:]:
        kind = CHANNELS[name]
        if name in OWN_FORMATS:
            assert kind.speaks_as is None and kind.webhook is not None, name
            continue
        assert kind.speaks_as == "canonical" and kind.webhook is None, name
        assert (kind.normalize, kind.handlers) == (CANONICAL.normalize, CANONICAL.handlers)
    assert CHANNELS["shopify"].speaks_as is None
    assert CANONICAL.speaks_as is None


def test_a_channel_takes_back_statuses_from_its_own_orders_and_every_stock_figure() -> None:
    assert dict(CHANNELS.targets) == {
        "order.accepted": ORIGIN_CHANNEL,
        "order.backordered": ORIGIN_CHANNEL,
        "shipment.dispatched": ORIGIN_CHANNEL,
        "refund.recorded": ORIGIN_CHANNEL,
        "order.cancelled": ORIGIN_CHANNEL,
        "order.amended": ORIGIN_CHANNEL,
        "order.held": ORIGIN_CHANNEL,
        "order.released": ORIGIN_CHANNEL,
        "inventory.changed": ALL_CHANNELS,
        "return.opened": ORIGIN_CHANNEL,
        "return.received": ORIGIN_CHANNEL,
    }


def test_kinds_that_would_take_back_different_events_are_refused() -> None:
    fewer = ChannelKind(
        "mute",
        "api-key",
        CANONICAL.normalize,
        ChannelClient,
        (Outbound(ALL_CHANNELS, on(InventoryChanged, ChannelClient.update_stock)),),
    )
    with pytest.raises(ValueError, match="must agree"):
        ChannelKinds(CANONICAL, fewer)


def test_an_outbound_target_is_a_channel_target() -> None:
    with pytest.raises(ValueError, match="channel target"):
        Outbound("erp", on(OrderAllocated, ChannelClient.acknowledge))  # type: ignore[arg-type]


def test_an_unknown_channel_kind_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match=r"unknown channel kind 'fax'; one of canonical, .*square"):
        CHANNELS["fax"]


def test_the_canonical_kind_normalizes_a_canonical_order_into_the_command() -> None:
    from tests.factories import CONTRACT_ORDER

    command = CANONICAL.normalize(CONTRACT_ORDER)
    assert command.external_id == "WEB-10001"
    with pytest.raises(ValueError, match="external_id"):
        CANONICAL.normalize({**CONTRACT_ORDER, "external_id": None})


def test_a_channel_without_an_api_url_is_applied_by_name_not_by_a_silent_none() -> None:
    assert channel.TAKES_NOTHING_BACK.startswith("the channel has no --api-url")
    assert OrderAccepted in {h.schema for h in CANONICAL.handlers.values()}


# -- a kind's outbound table, said once (adapters/channels/outbound.py) ---------------------


def _every_event_but(left_out: type[Any]) -> list[Any]:
    return [nothing(schema, "test") for schema in TAKEN_BACK if schema is not left_out]


def test_an_outbound_table_takes_each_event_to_its_target() -> None:
    table = outbound_table(
        *_every_event_but(InventoryChanged), on(InventoryChanged, Recorder.stock)
    )
    assert {entry.handler.event_type: entry.target for entry in table} == dict(CHANNELS.targets)
    recorder = Recorder()
    by_type = handlers(*(entry.handler for entry in table))
    assert dispatch(by_type, recorder, message("inventory.changed", STOCK, "channel:web")) == 3
    assert len(recorder.calls) == 1


def test_an_event_sent_nothing_for_is_validated_then_applied_saying_why() -> None:
    table = handlers(nothing(InventoryChanged, "the shop counts its own stock"))
    recorder = Recorder()

    said = dispatch(table, recorder, message("inventory.changed", STOCK, "channel:web"))

    assert said == "not sent: the shop counts its own stock" and recorder.calls == []
    with pytest.raises(ValueError, match="atp"):  # a bad payload is still a dead letter
        dispatch(table, recorder, message("inventory.changed", {"sku": "A"}, "channel:web"))


def test_an_outbound_table_that_leaves_an_event_out_or_adds_one_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match=r"no outbound entry for order\.held: .*nothing\(\)"):
        outbound_table(*_every_event_but(OrderHeld))
    with pytest.raises(ValueError, match=r"two outbound entries for 'order\.accepted'"):
        outbound_table(*_every_event_but(InventoryChanged), nothing(OrderAccepted, "again"))
    with pytest.raises(ValueError, match=r"channels do not take back 'order\.allocated'"):
        outbound_table(*_every_event_but(OrderHeld), nothing(OrderAllocated, "not ours"))


def test_every_kind_says_why_for_each_event_it_sends_nothing_for() -> None:
    for name in CHANNELS.names:
        for event_type, handler in CHANNELS[name].handlers.items():
            why = getattr(handler.send, "why", None)
            assert why is None or len(why) > 10, (name, event_type, why)
