"""The Amazon fixtures (tests/fixtures/amazon/): SP-API's own replies and notifications,
and the order documents the kind normalizes, built from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapters.channels.amazon_orders import order_document

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "amazon"
# fixture name → (getOrder file, getOrderItems files)
ORDERS = {
    "mfn_us": ("get_order_mfn_us.json", ("get_order_items_mfn_us.json",)),
    "afn_de": ("get_order_afn_de.json", ("get_order_items_afn_de.json",)),
    "mfn_jp": ("get_order_mfn_jp.json", ("get_order_items_mfn_jp.json",)),
    "afn_uk_restricted": (
        "get_order_afn_uk_restricted.json",
        ("get_order_items_afn_uk_restricted.json",),
    ),
    "buyer_cancel": ("get_order_buyer_cancel.json", ("get_order_items_buyer_cancel.json",)),
    "canceled": ("get_order_canceled.json", ("get_order_items_canceled.json",)),
    "many_lines": (
        "get_order_many_lines.json",
        tuple(f"get_order_items_many_lines_page{n}.json" for n in (1, 2, 3)),
    ),
    "pending": ("get_order_pending.json", ()),
}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str) -> Any:
    return json.loads(raw(name))


def order_payload(name: str) -> dict[str, Any]:
    return dict(load(ORDERS[name][0])["payload"])


def items_of(name: str) -> list[Any]:
    return [item for page in ORDERS[name][1] for item in load(page)["payload"]["OrderItems"]]


def document(name: str) -> dict[str, Any]:
    """The order document of a fixture: its getOrder payload and every item."""
    return order_document(order_payload(name), items_of(name))
