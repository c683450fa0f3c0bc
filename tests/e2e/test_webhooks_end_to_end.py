"""A WooCommerce channel against the `ordersync api` process, set up as an operator would
(`ordersync channel add --kind woocommerce --secret … --shop-domain …`): the door answers
at once and applies after; the process's sweeper applies what a crash left `received`;
SIGTERM waits for the applies in flight."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.channels.webhook import hmac_sha256_base64
from adapters.db import inbound
from tests.cli_runs import run
from tests.e2e.processes import listening_url, start, stop, wait_until

pytestmark = pytest.mark.e2e
ADMIN = "e2e-admin-token-0123456789"
SECRET_KEY = "e2e-secret-key-0123456789abcdef"
SECRET = "wc-e2e-secret"
FIXTURES = Path(__file__).parent.parent / "fixtures" / "woocommerce"


@pytest.fixture
def api(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_SECRET_KEY", SECRET_KEY)
    run(
        CliRunner(),
        *("channel", "add", "woo", "--kind", "woocommerce", "--secret", SECRET),
        *("--shop-domain", "https://shop.example.com/"),
    )
    process = start(
        "api",
        "--port",
        "0",
        database_url=database_url,
        ORDERSYNC_ADMIN_TOKEN=ADMIN,
        ORDERSYNC_SECRET_KEY=SECRET_KEY,
        ORDERSYNC_INBOUND_SWEEP_S="0.2",
        ORDERSYNC_INBOUND_SWEEP_AFTER_S="1",
    )
    try:
        yield listening_url(process)
    finally:
        code = stop(process)
    assert code == 0, "the api did not stop cleanly on SIGTERM"


def headers(body: bytes, delivery: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": "https://shop.example.com/",
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Delivery-ID": delivery,
        "X-WC-Webhook-Signature": hmac_sha256_base64(SECRET, body),
    }


def order_status(api: str, external_id: str) -> str | None:
    found = httpx.get(
        f"{api}/v1/orders?channel=woo&external_id={external_id}",
        headers={"Authorization": f"Bearer {ADMIN}"},
    ).json()["items"]
    return str(found[0]["status"]) if found else None


def test_a_webhook_is_answered_at_once_applied_after_and_swept_after_a_crash(
    api: str, engine: sa.Engine
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    adjust = {
        "adjustments": [
            {"sku": sku, "location": "WH-EAST", "set_on_hand": 10}
            for sku in ("TEE-M-BLK", "TOTE-NAT", "HOODIE-L-GRY")
        ]
    }
    assert httpx.post(f"{api}/v1/inventory/adjustments", json=adjust, headers=admin).is_success
    body = (FIXTURES / "order-created.json").read_bytes()
    started = time.monotonic()
    answer = httpx.post(
        f"{api}/v1/webhooks/woocommerce", content=body, headers=headers(body, "d-1")
    )
    took = time.monotonic() - started
    assert answer.status_code == 202, answer.text
    assert took < 1.0, f"the door took {took:.2f}s"
    wait_until(lambda: order_status(api, "4127") == "allocated", 10, "the order to be applied")

    # A crash between a door's commit and its apply: the row is there, still received.
    other = (FIXTURES / "order-gbp.json").read_bytes()
    with engine.begin() as conn:
        left, _ = inbound.store(
            conn,
            channel="woo",
            kind="woocommerce",
            delivery_id="left-by-a-crash",
            topic="order.created",
            headers=headers(other, "left-by-a-crash"),
            body=other,
            verification="hmac-sha256",
        )
    wait_until(lambda: order_status(api, "4200") == "allocated", 15, "the sweeper to apply it")
    with engine.connect() as conn:
        assert (found := inbound.get(conn, left)) is not None and found.state == "applied"
