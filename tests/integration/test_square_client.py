"""The Square kind against the Square simulator on a real port: RetrieveOrder and the
catalog read inbound, inventory counts back, in Square's shapes, once per idempotency key."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.channels import square
from adapters.channels.square_client import SquareClient
from adapters.channels.webhook import InboundRequest, InvalidDelivery, hmac_sha256_base64
from adapters.systems.errors import PermanentError
from domain.channel_commands import ChannelOrder, PosSale
from domain.events import InventoryChanged, LocationStock, OrderAccepted
from simulators.app import init_sim_app
from simulators.server import ServerThread

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "square"
CHANNEL = "square-nyc"
LOCATION = "L88917AVBK2S5"
CREDENTIALS = {"access_token": "EAAAl-test-token", "location_id": LOCATION, "store": "STORE-NYC"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_bytes(), parse_float=Decimal)


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


def put(sim: str, what: str, **body: Any) -> None:
    response = httpx.post(f"{sim}/_sim/channels/{CHANNEL}/square/{what}", json=body)
    assert response.status_code == 200, response.text


@pytest.fixture
def client(sim: str) -> Iterator[SquareClient]:
    put(sim, "catalog", objects=fixture("catalog_objects.json")["objects"])
    for name in ("order_shipment_usd_v5.json", "order_counter_sale_jpy.json"):
        put(sim, "orders", orders=[fixture(name)["order"]])
    with SquareClient(
        f"{sim}/channels/{CHANNEL}", channel=CHANNEL, read_timeout_s=2.0, credentials=CREDENTIALS
    ) as made:
        yield made


def stock(sku: str, available: int) -> InventoryChanged:
    return InventoryChanged(
        sku=sku,
        atp=available + 2,
        locations=[
            LocationStock(location="WH-EAST", on_hand=available + 2, reserved=0, atp=available + 2)
        ],
        sellable={CHANNEL: available, "web": available + 2},
    )


def documents(sim: str) -> dict[str, Any]:
    return dict(
        httpx.get(
            f"{sim}/_sim/channels/documents", params={"type": "square.inventory_change"}
        ).json()
    )


def test_an_order_and_its_variations_skus_are_read_as_square_answers_them(
    client: SquareClient,
) -> None:
    document = client.retrieve_order("CAISENgvlJ6jLWAzERDzjyHVybY")
    assert document["order"]["version"] == 5
    skus = client.variation_skus(["W62UWFY35CWMYGVWK6TWJDNI", "AII3HLTHJ2XFFXDSLSFJR3ZR", "GONE"])
    assert skus == {"W62UWFY35CWMYGVWK6TWJDNI": "TEE-M-BLK", "AII3HLTHJ2XFFXDSLSFJR3ZR": "TOTE-NAT"}
    assert client.variations_of("TEE-M-BLK") == ["W62UWFY35CWMYGVWK6TWJDNI"]
    assert client.variations_of("NOT-SOLD-HERE") == []


def test_an_order_square_does_not_have_is_a_404(client: SquareClient) -> None:
    with pytest.raises(PermanentError) as raised:
        client.retrieve_order("NO-SUCH-ORDER")
    assert raised.value.status == 404


def test_without_its_token_square_refuses_the_call(sim: str) -> None:
    with SquareClient(f"{sim}/channels/{CHANNEL}", channel=CHANNEL) as anonymous:
        with pytest.raises(PermanentError) as raised:
            anonymous.retrieve_order("CAISENgvlJ6jLWAzERDzjyHVybY")
    assert raised.value.status == 401


def _notification(name: str) -> InboundRequest:
    body = (FIXTURES / name).read_bytes()
    url = "https://hub.example.com/v1/webhooks/square/square-nyc"
    signature = hmac_sha256_base64("key", url.encode(), body)
    return InboundRequest(body, {square.SIGNATURE_HEADER: signature})


def test_a_notification_is_interpreted_by_fetching_the_order_it_names(
    client: SquareClient,
) -> None:
    request = _notification("webhook_order_updated.json")
    [command] = square.interpret(square.receipt(request), request, client)
    assert isinstance(command, ChannelOrder)
    assert command.version_no == 5
    assert [(ln.sku, ln.quantity) for ln in command.order.lines] == [
        ("TEE-M-BLK", 1),
        ("TOTE-NAT", 1),
        ("STICKER-01", 3),
    ]
    assert command.order.totals.grand_total == Decimal("50.62")


def test_a_counter_sale_is_a_pos_sale_at_the_store_the_credentials_name(
    client: SquareClient,
) -> None:
    note = fixture("webhook_order_created.json")
    note["data"]["object"]["order_created"]["order_id"] = "kLuDoCgz9oW2fD7MhH5DJRqZm5eZY"
    request = InboundRequest(json.dumps(note).encode(), {})
    [command] = square.interpret(square.receipt(request), request, client)
    assert isinstance(command, PosSale)
    assert (command.location, command.total) == ("STORE-NYC", Decimal("1447"))


def test_a_notification_of_an_order_square_lost_parks(client: SquareClient) -> None:
    note = fixture("webhook_order_created.json")
    note["data"]["object"]["order_created"]["order_id"] = "NOT-THERE"
    request = InboundRequest(json.dumps(note).encode(), {})
    with pytest.raises(InvalidDelivery, match="404"):
        square.interpret(square.receipt(request), request, client)


def test_a_stock_figure_becomes_a_physical_count_at_the_channels_location(
    sim: str, client: SquareClient
) -> None:
    key = str(uuid.uuid4())
    assert client.update_stock(stock("TEE-M-BLK", 7), idempotency_key=key) == 7
    view = documents(sim)
    assert view["count"] == 1
    [document] = view["documents"]
    body = document["body"]
    assert document["channel"] == CHANNEL and body["idempotency_key"] == key
    [change] = body["changes"]
    assert change["type"] == "PHYSICAL_COUNT"
    count = change["physical_count"]
    assert {k: count[k] for k in ("catalog_object_id", "location_id", "state", "quantity")} == {
        "catalog_object_id": "W62UWFY35CWMYGVWK6TWJDNI",
        "location_id": LOCATION,
        "state": "IN_STOCK",
        "quantity": "7",  # the channel's own sellable figure, as a string
    }
    assert count["occurred_at"].endswith("Z")
    state = httpx.get(f"{sim}/_sim/channels/state").json()
    assert [c["quantity"] for c in state["square_counts"]] == ["7"]


def test_a_retried_stock_call_is_applied_once(sim: str, client: SquareClient) -> None:
    """A retry of a delivery sends the same request (the same count time): Square replays
    its first answer. From another process, which does not know that time, the key comes
    back refused as reused: the count was applied, and it is not applied twice."""
    key = str(uuid.uuid4())
    client.update_stock(stock("TOTE-NAT", 3), idempotency_key=key)
    assert client.update_stock(stock("TOTE-NAT", 3), idempotency_key=key) == 3
    view = documents(sim)
    assert (view["count"], view["duplicates"]) == (1, 1)
    with SquareClient(
        f"{sim}/channels/{CHANNEL}", channel=CHANNEL, credentials=CREDENTIALS
    ) as elsewhere:
        assert elsewhere.update_stock(stock("TOTE-NAT", 3), idempotency_key=key) == 3
    assert documents(sim)["count"] == 1
    state = httpx.get(f"{sim}/_sim/channels/state").json()
    assert [c["quantity"] for c in state["square_counts"]] == ["3"]


def test_a_channel_without_its_location_cannot_send_counts(sim: str, client: SquareClient) -> None:
    with (
        SquareClient(
            f"{sim}/channels/{CHANNEL}", channel=CHANNEL, credentials={"access_token": "t"}
        ) as nowhere,
        pytest.raises(PermanentError, match="location_id"),
    ):
        nowhere.update_stock(stock("TOTE-NAT", 3), idempotency_key="k")
    assert documents(sim)["count"] == 0


def test_a_sku_the_sellers_catalog_lacks_sends_nothing(sim: str, client: SquareClient) -> None:
    assert client.update_stock(stock("NOT-SOLD-HERE", 4), idempotency_key="k-1") == 4
    assert documents(sim)["count"] == 0


def test_events_square_has_no_call_for_send_nothing(sim: str, client: SquareClient) -> None:
    accepted = OrderAccepted.model_construct(order_id="o", channel=CHANNEL, external_id="x")
    send = square.KIND.handlers["order.accepted"].send
    assert send(client, accepted, idempotency_key="k-2") == (
        "not sent: Square shows its own orders as received"
    )
    calls = httpx.get(f"{sim}/_sim/channels/calls").json()
    assert calls["total"] == 0
