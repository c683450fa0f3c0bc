"""The WooCommerce kind without I/O: its REST v3 orders (tests/fixtures/woocommerce) as
canonical orders, its signature and delivery identity, its outbound documents; and, fed
arbitrary JSON or mutated real payloads, a normalizer that normalizes or says why."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from adapters.channels import woocommerce as wc
from adapters.channels.webhook import Credentials, InboundRequest, InvalidDelivery
from domain.channel_commands import ChannelOrder
from domain.errors import ValidationFailed
from domain.events import InventoryChanged, ShipmentDispatched, ShippedLineOut
from domain.normalize import build_order
from domain.orders import Order

FIXTURES = Path(__file__).parent.parent / "fixtures" / "woocommerce"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def document(name: str) -> dict[str, Any]:
    return dict(json.loads(raw(name)))


def command(body: bytes | dict[str, Any], topic: str = "order.updated") -> ChannelOrder:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    [cmd] = wc.commands_of(data, topic)
    assert isinstance(cmd, ChannelOrder)
    return cmd


def order(name: str) -> Order:
    return build_order(command(raw(name)).order, channel="woo")


def test_an_order_becomes_its_canonical_order_to_the_cent() -> None:
    cmd = command(raw("order-created.json"))
    placed = cmd.order
    assert placed.external_id == "4127"
    assert placed.placed_at.isoformat() == "2026-11-26T10:00:00+00:00"
    assert cmd.version_at.isoformat() == "2026-11-26T10:00:04+00:00"
    assert (cmd.version_no, cmd.cancelled, cmd.reserve_stock) == (0, False, True)
    assert placed.customer.model_dump() == {
        "email": "Ana.Silva@example.com",
        "name": "Ana Silva",
        "phone": "+351910000000",
    }
    assert placed.shipping_address.model_dump() == {
        "name": "Ana Silva",
        "line1": "Rua Augusta 1",
        "line2": "3º Esq.",
        "city": "Lisboa",
        "postal_code": "1100-048",
        "region": None,
        "country": "PT",
    }
    assert placed.billing_address is not None and placed.billing_address.line2 is None
    lines = [(ln.sku, ln.quantity, ln.unit_price, ln.discount, ln.tax) for ln in placed.lines]
    assert lines == [
        ("TEE-M-BLK", 2, Decimal("19.90"), Decimal("3.98"), Decimal("8.24")),
        ("TOTE-NAT", 1, Decimal("12.50"), Decimal("1.25"), Decimal("2.59")),
    ]
    assert placed.shipping is not None
    assert (placed.shipping.method, placed.shipping.amount, placed.shipping.tax) == (
        "Flat rate",
        Decimal("4.90"),
        Decimal("1.13"),
    )
    assert placed.payment is not None
    assert (placed.payment.method, placed.payment.status, placed.payment.amount) == (
        "Credit Card (Stripe)",
        "paid",
        Decimal("63.93"),
    )
    normalized = build_order(placed, channel="woo")
    assert normalized.totals == {
        "subtotal": "52.30",
        "discount_total": "5.23",
        "tax_total": "11.96",
        "shipping_total": "4.90",
        "grand_total": "63.93",
    }


@pytest.mark.parametrize(
    ("name", "currency", "grand_total", "lines"),
    [
        ("order-gbp.json", "GBP", "58.74", [("HOODIE-L-GRY", 1, "45.00")]),
        ("order-jpy.json", "JPY", "6820", [("TEE-M-BLK", 3, "1800")]),
        ("order-unicode.json", "PLN", "114.13", [("MUG-CAFÉ", 2, "39.90")]),
        (
            "order-zero-priced-line.json",
            "EUR",
            "24.48",
            [("TEE-M-BLK", 1, "19.90"), ("STICKER-FREE", 1, "0.00")],
        ),
        ("order-missing-optional.json", "EUR", "16.66", [("wc-product-77", 4, "3.50")]),
        ("order-uneven-unit-price.json", "EUR", "10.00", [("PIN-ENAMEL", 3, "3.34")]),
    ],
)
def test_edge_case_orders_normalize_exactly(
    name: str, currency: str, grand_total: str, lines: list[tuple[str, int, str]]
) -> None:
    normalized = order(name)
    assert normalized.currency == currency
    assert normalized.totals["grand_total"] == grand_total
    assert [(ln.sku, ln.quantity, str(ln.unit_price)) for ln in normalized.lines] == lines


def test_a_unit_price_that_does_not_divide_is_rounded_up_and_the_rest_is_discount() -> None:
    [line] = order("order-uneven-unit-price.json").lines
    assert (str(line.unit_price), str(line.discount), str(line.total)) == ("3.34", "0.02", "10.00")


def test_an_order_of_a_hundred_and_twenty_lines_keeps_every_line_in_order() -> None:
    normalized = order("order-many-lines.json")
    assert [ln.sku for ln in normalized.lines] == [f"CARD-{i:03d}" for i in range(1, 121)]
    assert normalized.totals["grand_total"] == "300.00"


def test_64_bit_ids_stay_exact() -> None:
    cmd = command(raw("order-64bit-ids.json"))
    assert cmd.order.external_id == "9223372036854775807"
    # A float would have made it …808 (2**63).
    assert float(cmd.order.external_id) == 2**63


def test_unicode_names_and_addresses_are_kept_in_nfc() -> None:
    cmd = command(raw("order-unicode.json"))
    assert cmd.order.customer.name == "Zoë Łukasiewicz-Müller"
    assert cmd.order.shipping_address.city == "Kraków"  # composed: one spelling
    assert cmd.order.customer.email == "zoe@żółw.example"
    japanese = command(raw("order-jpy.json")).order
    assert (japanese.shipping_address.name, japanese.shipping_address.city) == (
        "太郎 山田",
        "渋谷区",
    )


def test_missing_optional_blocks_fall_back_to_billing_and_none() -> None:
    cmd = command(raw("order-missing-optional.json"))
    assert cmd.order.shipping_address == cmd.order.billing_address
    assert cmd.order.shipping is None
    assert cmd.order.customer.phone is None or cmd.order.customer.phone == ""
    assert cmd.order.payment is not None and cmd.order.payment.status == "pending"


@pytest.mark.parametrize(
    ("status", "payment", "cancelled"),
    [
        ("pending", "pending", False),
        ("on-hold", "pending", False),
        ("processing", "paid", False),
        ("completed", "paid", False),
        ("failed", "failed", False),
        ("cancelled", "pending", True),
        ("refunded", "refunded", True),
    ],
)
def test_statuses_map_to_payment_states_or_the_cancel_path(
    status: str, payment: str, cancelled: bool
) -> None:
    doc = {**document("order-created.json"), "status": status}
    cmd = command(doc)
    assert cmd.order.payment is not None
    assert (cmd.order.payment.status, cmd.cancelled) == (payment, cancelled)


def test_drafts_and_the_bin_mean_nothing_and_other_topics_neither() -> None:
    for status in ("checkout-draft", "trash"):
        body = json.dumps({**document("order-created.json"), "status": status}).encode()
        assert wc.commands_of(body) == []
    assert wc.commands_of(raw("order-created.json"), "product.updated") == []


@pytest.mark.parametrize(
    ("name", "message"),
    [("order-fee-line.json", "fee lines have no canonical form: Gift wrap")],
)
def test_what_has_no_canonical_form_is_an_invalid_delivery_naming_it(
    name: str, message: str
) -> None:
    with pytest.raises(InvalidDelivery, match=message):
        wc.commands_of(raw(name))
    with pytest.raises(InvalidDelivery, match="status 'shipped'"):
        command({**document("order-created.json"), "status": "shipped"})


def _signed(body: bytes, secret: str = "s3cret") -> InboundRequest:
    from adapters.channels.webhook import hmac_sha256_base64

    return InboundRequest(
        body,
        {
            "X-WC-Webhook-Signature": hmac_sha256_base64(secret, body),
            "X-WC-Webhook-Delivery-ID": "a1b2c3",
            "X-WC-Webhook-Topic": "order.updated",
        },
    )


def test_the_signature_is_checked_over_the_raw_bytes_with_each_secret_in_turn() -> None:
    body = raw("order-created.json")
    request = _signed(body, "old-secret")
    assert wc.verify(request, Credentials("woo", secrets=("new-secret", "old-secret"))) == (
        "hmac-sha256 (previous secret)"
    )
    assert wc.verify(request, Credentials("woo", secrets=("old-secret",))) == "hmac-sha256"
    assert wc.verify(request, Credentials("woo", secrets=("other",))) is None
    assert wc.verify(request, Credentials("woo")) is None
    reserialized = json.dumps(json.loads(body)).encode()
    moved = InboundRequest(reserialized, request.headers)
    assert wc.verify(moved, Credentials("woo", secrets=("old-secret",))) is None
    assert wc.verify(InboundRequest(body, {}), Credentials("woo", secrets=("x",))) is None


def test_the_delivery_identity_is_woocommerces_id_with_the_bodys_digest() -> None:
    """WooCommerce's id is a hash of the webhook id and the second: two deliveries within
    one second share it, so alone it would swallow a real change."""
    first = wc.receipt(_signed(raw("order-created.json")))
    other = wc.receipt(_signed(raw("order-cancelled.json")))
    assert first.topic == "order.updated"
    assert first.delivery_id.startswith("a1b2c3:") and first.delivery_id != other.delivery_id
    assert wc.receipt(_signed(raw("order-created.json"))) == first
    with pytest.raises(InvalidDelivery, match="Delivery-ID"):
        wc.receipt(InboundRequest(b"{}", {"X-WC-Webhook-Topic": "order.updated"}))


def test_only_the_unsigned_form_encoded_webhook_id_is_a_ping() -> None:
    assert wc.is_ping(InboundRequest(b"webhook_id=12", {}))
    assert not wc.is_ping(InboundRequest(b"webhook_id=12&a=b", {}))
    assert not wc.is_ping(InboundRequest(b"webhook_id=12", {"X-WC-Webhook-Signature": "x"}))
    assert not wc.is_ping(InboundRequest(b'{"webhook_id": 12}', {}))


def test_the_site_header_identifies_the_shop() -> None:
    assert wc.identify(InboundRequest(b"", {"x-wc-webhook-source": "https://a.example/"})) == (
        "https://a.example/"
    )
    assert wc.identify(InboundRequest(b"", {})) is None


def _shipment(status: str) -> ShipmentDispatched:
    return ShipmentDispatched(
        order_id="o-1",
        channel="woo",
        external_id="4127",
        status=status,
        shipment_id="s-1",
        location="WH-EAST",
        carrier="DHL",
        tracking_number="JD0001",
        lines=[ShippedLineOut(line_no=1, sku="TEE-M-BLK", quantity=2)],
        currency="EUR",
        shipped_value="44.06",
    )


def test_a_shipment_completes_the_order_only_when_all_of_it_shipped() -> None:
    done = wc.shipped_document(_shipment("fulfilled"))
    part = wc.shipped_document(_shipment("partially_fulfilled"))
    assert done["status"] == "completed" and "status" not in part
    [meta] = done["meta_data"]
    assert meta["key"] == "_ordersync_tracking"
    assert meta["value"]["tracking_number"] == "JD0001"


def test_a_stock_figure_is_the_channels_sellable_quantity_and_never_below_zero() -> None:
    change = InventoryChanged(sku="TEE-M-BLK", atp=-2, locations=[], sellable={"woo": 7})
    assert wc.stock_document(change, "woo") == {"manage_stock": True, "stock_quantity": 7}
    assert wc.stock_document(change, "other") == {"manage_stock": True, "stock_quantity": 0}


# --- never another exception ------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
EXPECTED = (ValidationError, InvalidDelivery)


def _normalizes_or_says_why(body: bytes) -> None:
    try:
        commands = wc.commands_of(body)
    except EXPECTED:
        return
    for cmd in commands:
        try:
            build_order(cmd.order, channel="woo")  # type: ignore[union-attr]
        except ValidationFailed:
            pass


@given(JSON)
def test_arbitrary_json_normalizes_or_is_refused_with_a_validation_error(value: Any) -> None:
    _normalizes_or_says_why(json.dumps(value).encode())


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_as_an_invalid_delivery(body: bytes) -> None:
    _normalizes_or_says_why(body)


BASE = document("order-created.json")


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _paths(item, (*path, i))
    return found


PATHS = _paths(BASE)
AMOUNTS = st.sampled_from(
    ["0", "-1.00", "1e9999", "NaN", "0.001", "99999999999999999999", "", " 1"]
)


@given(
    st.lists(
        st.tuples(st.sampled_from(PATHS), st.one_of(JSON, AMOUNTS, st.just(...))),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_real_payloads_normalize_or_are_refused_with_a_validation_error(
    mutations: list[tuple[tuple[Any, ...], Any]],
) -> None:
    doc: Any = copy.deepcopy(BASE)
    for path, value in mutations:
        target = doc
        try:
            for step in path[:-1]:
                target = target[step]
            if value is ...:
                del target[path[-1]]
            else:
                target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced the path
    _normalizes_or_says_why(json.dumps(doc).encode())
