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
- `delivery(engine, id)` / `deliveries(engine)`: inbox rows (adapters.db.inbound);
- `written(engine)`: everything a delivery may write (the state tables, the inbox and the
  channel order versions), to compare before and after a door that must write nothing;
- `two_copies_at_once(engine, send)`: one delivery sent twice, both requests in flight
  together up to the inbox insert (the database's unique key decides, not a read);
- `channel_order(client, channel, external_id)`: the order as GET /v1/orders finds it;
  `order_events(engine, order_id)`: its outbox events' types, in order; `count(engine,
  sql)`: a count in SQL;
- `operator_cli(monkeypatch, database_url)` and `map_and_replay(cli, …)`: the operator's
  `ordersync sku map` then `ordersync inbound replay` of a parked delivery.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.channels.webhook import hmac_sha256_base64
from adapters.db import inbound, registry
from adapters.db.channel_credentials import seal_credentials
from adapters.http.keys import HttpConfig
from adapters.http.webhooks import INBOX, TASKS
from adapters.secretbox import SecretBox
from tests.cli_runs import run
from tests.db_state import DIGEST
from tests.integration.conftest import ADMIN_TOKEN, Keys

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
    credentials: Mapping[str, str] | None = None,
) -> str:
    """Add a channel of `kind` (its secret and outbound credentials sealed with
    SECRET_KEY); its API key."""
    box = SecretBox(SECRET_KEY)
    sealed = box.seal(secret) if secret else None
    with engine.begin() as conn:
        return registry.add_channel(
            conn,
            name,
            kind,
            secret_ciphertext=sealed,
            shop_domain=shop_domain,
            api_url=api_url,
            notification_url=notification_url,
            credentials_ciphertext=seal_credentials(box, credentials) if credentials else None,
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


def written(engine: sa.Engine) -> list[Any]:
    """A digest of every table a delivery may write: compare it before and after."""
    with engine.connect() as conn:
        state = list(conn.execute(sa.text(DIGEST)))
        inbox = conn.execute(
            sa.text(
                "SELECT count(*), (SELECT count(*) FROM channel_order_versions)"
                " FROM inbound_deliveries"
            )
        ).one()
    return [*state, tuple(inbox)]


Answer = tuple[int, dict[str, Any]]


async def two_copies_at_once(
    engine: sa.Engine, send: Callable[[], Awaitable[Answer]]
) -> list[Answer]:
    """`send()` twice, concurrently; both requests are held at the inbox insert until the
    other one reaches it too, so both were verified and in flight together and the
    database's unique key, not a check before it, decides which one stores the delivery."""
    barrier, reached = threading.Barrier(2, timeout=10), []

    def at_insert(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().startswith("INSERT INTO inbound_deliveries"):
            reached.append(statement)
            barrier.wait()

    sa.event.listen(engine, "before_cursor_execute", at_insert)
    try:
        answers = await asyncio.gather(send(), send())
    finally:
        sa.event.remove(engine, "before_cursor_execute", at_insert)
    assert len(reached) == 2, "both copies should have reached the inbox insert"
    return list(answers)


async def refused_at_both_doors(
    client: Any,
    engine: sa.Engine,
    kind: str,
    body: bytes,
    headers: Mapping[str, str],
    channel: str,
) -> None:
    """The bare door and the channel's named door both answer 401, and nothing is written."""
    before = written(engine)
    status, answer = await post_delivery(client, kind, body, headers)
    assert status == 401, answer
    assert answer["title"] == "Unauthorized"
    # The named door: the same 401, so channel names cannot be probed.
    status, _ = await post_delivery(client, kind, body, headers, channel=channel)
    assert status == 401
    await settle(client)
    assert written(engine) == before


def one_received_one_duplicate(answers: list[tuple[int, dict[str, Any]]]) -> None:
    """Two copies answered: one stored (202 received), the other 200 duplicate of that row."""
    assert sorted(status for status, _ in answers) == [200, 202]
    assert sorted(answer["status"] for _, answer in answers) == ["duplicate", "received"]
    assert len({answer["delivery"] for _, answer in answers}) == 1


async def parked_for_unknown_sku(
    client: Any, engine: sa.Engine, answer: dict[str, Any], channel: str, sku: str
) -> inbound.StoredDelivery:
    """An acknowledged delivery naming a SKU nobody mapped: parked with that reason, and
    no order made."""
    await settle(client)
    parked = delivery(engine, answer["delivery"])
    assert parked.state == "parked"
    assert parked.error == f"unknown-sku: unknown SKU(s): {sku}"
    assert count(engine, "SELECT count(*) FROM orders WHERE channel = :c", c=channel) == 0
    return parked


async def channel_order(client: Any, channel: str, external_id: str) -> dict[str, Any]:
    """The one order of the channel with that external id (GET /v1/orders)."""
    response = await client.get(
        "/v1/orders",
        params={"channel": channel, "external_id": external_id},
        headers=Keys.bearer(Keys.admin),
    )
    assert response.status == 200, await response.text()
    [order] = (await response.json())["items"]
    return dict(order)


def order_events(engine: sa.Engine, order_id: str) -> list[str]:
    """The event types the order's outbox rows carry, in the order they were written."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT event_type FROM outbox_events WHERE aggregate_type = 'order'"
                    " AND aggregate_id = :o ORDER BY id"
                ),
                {"o": order_id},
            ).scalars()
        )


def count(engine: sa.Engine, sql: str, **params: Any) -> int:
    """The one number a `SELECT count(*) …` answers."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar_one())


def operator_cli(monkeypatch: pytest.MonkeyPatch, database_url: str) -> CliRunner:
    """A runner of `ordersync` commands on the test's database, as operator ops-rita."""
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("ORDERSYNC_OPERATOR", "ops-rita")
    return CliRunner()


def replay(cli: CliRunner, delivery_id: int) -> str:
    """`ordersync inbound replay ID`: the delivery's state it reports."""
    out = run(cli, "inbound", "replay", str(delivery_id)).output.strip()
    prefix = f"inbound delivery {delivery_id}: "
    assert out.startswith(prefix), out
    return out.removeprefix(prefix)


def map_and_replay(
    cli: CliRunner, channel: str, channel_sku: str, sku: str, delivery_id: int
) -> str:
    """`ordersync sku map CHANNEL CHANNEL_SKU SKU`, then the parked delivery replayed: its
    state afterwards."""
    run(cli, "sku", "map", channel, channel_sku, sku)
    return replay(cli, delivery_id)
