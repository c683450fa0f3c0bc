"""Helpers for the tests of a channel kind's door (POST /v1/webhooks/<kind>), over the
aiohttp test client of the product's app (tests/integration/conftest.py's `client`):

- `webhook_channel(engine, name, kind, secret=…)`: a channel of the kind whose webhook
  secret is stored encrypted with `SECRET_KEY` (give the app an HttpConfig with
  `secret_key=SECRET_KEY`: `webhook_config()`);
- `hmac_headers(body, secret, header)`: the base64 HMAC-SHA256 header Shopify,
  WooCommerce and Square sign with (Square: pass the notification URL + body as `body`);
- `post_delivery(client, kind, body, headers, channel=None)`: the exact bytes to the bare
  or the named door → (status, JSON answer);
- `settle(client)`: wait for the door's own applies, then apply whatever is still
  `received` (the sweeper's path), synchronously: afterwards no row is `received` unless
  its channel's API keeps failing;
- `delivery(engine, id)` / `deliveries(engine)`: inbox rows (adapters.db.inbound).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from adapters.channels.webhook import hmac_sha256_base64
from adapters.db import inbound, registry
from adapters.http.keys import HttpConfig
from adapters.http.webhooks import INBOX, TASKS
from adapters.secretbox import SecretBox
from tests.integration.conftest import ADMIN_TOKEN

SECRET_KEY = "test-secret-key-0123456789abcdef"


def webhook_config(**overrides: Any) -> HttpConfig:
    """The integration tests' HttpConfig with ORDERSYNC_SECRET_KEY set, and no sweeper
    (tests apply with `settle`, or call the sweeper themselves)."""
    options: dict[str, Any] = {
        "admin_token": ADMIN_TOKEN,
        "max_body_bytes": 64 * 1024,
        "body_timeout_s": 1.0,
        "secret_key": SECRET_KEY,
        "inbound_sweep_s": 0.0,
        **overrides,
    }
    return HttpConfig(**options)


def webhook_channel(
    engine: sa.Engine,
    name: str,
    kind: str,
    *,
    secret: str | None = None,
    shop_domain: str | None = None,
    api_url: str | None = None,
    notification_url: str | None = None,
) -> str:
    """Add a channel of `kind` (its secret sealed with SECRET_KEY); its API key."""
    sealed = SecretBox(SECRET_KEY).seal(secret) if secret else None
    with engine.begin() as conn:
        return registry.add_channel(
            conn,
            name,
            kind,
            secret_ciphertext=sealed,
            shop_domain=shop_domain,
            api_url=api_url,
            notification_url=notification_url,
        )


def hmac_headers(body: bytes, secret: str, header: str) -> dict[str, str]:
    return {header: hmac_sha256_base64(secret, body)}


async def post_delivery(
    client: Any,
    kind: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    channel: str | None = None,
    content_type: str = "application/json",
) -> tuple[int, dict[str, Any]]:
    path = f"/v1/webhooks/{kind}" + (f"/{channel}" if channel else "")
    response = await client.post(path, data=body, headers={"Content-Type": content_type, **headers})
    return response.status, await response.json(content_type=None)


async def settle(client: Any) -> None:
    app = client.server.app
    if app[TASKS]:
        await asyncio.gather(*list(app[TASKS]))
    await asyncio.get_running_loop().run_in_executor(None, app[INBOX].settle)


def delivery(engine: sa.Engine, delivery_id: int) -> inbound.StoredDelivery:
    with engine.connect() as conn:
        found = inbound.get(conn, delivery_id)
    assert found is not None, f"no inbox row {delivery_id}"
    return found


def deliveries(engine: sa.Engine, channel: str | None = None) -> list[dict[str, Any]]:
    """Every inbox row (of a channel), oldest first, without bodies."""
    with engine.connect() as conn:
        return list(reversed(inbound.listing(conn, channel=channel, limit=10_000)))
