"""Shopify's own payloads for tests: the fixtures (tests/fixtures/shopify/, Admin REST
2024-10 shapes) and deliveries signed as Shopify signs them."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.channels.webhook import InboundRequest, hmac_sha256_base64

FIXTURES = Path(__file__).parent / "fixtures" / "shopify"
SECRET = "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"
SHOP = "acme.myshopify.com"


def raw(name: str) -> bytes:
    """A fixture's exact bytes."""
    return (FIXTURES / f"{name}.json").read_bytes()


def doc(name: str) -> dict[str, Any]:
    """A fixture parsed exactly (ints as ints, decimals as Decimal)."""
    parsed: dict[str, Any] = json.loads(raw(name), parse_float=Decimal)
    return parsed


def delivery(
    body: bytes,
    topic: str = "orders/create",
    *,
    secret: str | None = SECRET,
    event_id: str | None = "8f2e2c1a-4b7d-4e0a-9c3b-1d5f6a7b8c9d",
    webhook_id: str | None = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043",
    **headers: str,
) -> InboundRequest:
    """A delivery as Shopify sends it: its headers, signed with `secret` (None: unsigned)."""
    sent = {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": SHOP,
        "X-Shopify-API-Version": "2024-10",
        "X-Shopify-Triggered-At": "2026-11-26T15:00:02.123456789Z",
    }
    if event_id is not None:
        sent["X-Shopify-Event-Id"] = event_id
    if webhook_id is not None:
        sent["X-Shopify-Webhook-Id"] = webhook_id
    if secret is not None:
        sent["X-Shopify-Hmac-Sha256"] = hmac_sha256_base64(secret, body)
    sent.update(headers)
    return InboundRequest(body=body, headers=sent, content_type="application/json")
