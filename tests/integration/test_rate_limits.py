"""Per-channel rate limits over the real app: a burst, then 429 problem+json with
Retry-After (whole seconds ≥ 1) and nothing written; each channel on its own bucket;
systems and the admin never limited; a channel's own rate (0: unlimited) over the
default; and a webhook door never answered 429, however hard it is called."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from click.testing import CliRunner

from adapters.db import registry
from adapters.http.auth import require
from adapters.http.keys import RATE_LIMITER, HttpConfig
from adapters.http.routes import Route
from ops import bootstrap
from ops.settings import load_settings
from tests.cli_runs import run
from tests.factories import order_doc
from tests.integration.conftest import ADMIN_TOKEN, Keys, stock

# 6 a minute, 50 seconds' worth at once: a burst of 5, then one token per 10 s — far
# slower than any of these tests, so none of them sees a token come back.
BURST = 5


@pytest.fixture
def http_config() -> HttpConfig:
    return HttpConfig(admin_token=ADMIN_TOKEN, channel_rate_limit=6, channel_burst_s=50)


async def webhook_probe(request: web.Request) -> web.Response:
    """A door as the webhook helper's would be authenticated by a channel's key."""
    await require(request, "channel")
    return web.json_response({"accepted": True}, status=202)


@pytest.fixture
async def client(aiohttp_client: Any, engine: sa.Engine, http_config: HttpConfig) -> Any:
    from adapters.http.app import init_app
    from ops.wiring import ROUTING

    door = Route("POST", "/v1/webhooks/probe", webhook_probe, "a test door", "channel")
    return await aiohttp_client(init_app(engine, http_config, routing=ROUTING, routes=(door,)))


async def find(client: Any, key: str) -> Any:
    return await client.get("/v1/orders", params={"external_id": "X"}, headers=Keys.bearer(key))


async def test_past_the_burst_a_channel_gets_429_with_retry_after_and_nothing_is_written(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    statuses = [(await find(client, keys.web)).status for _ in range(BURST)]
    assert statuses == [200] * BURST

    limited = await find(client, keys.web)
    problem = await limited.json(content_type=None)
    posted = await client.post("/v1/orders", json=order_doc("R-1"), headers=Keys.bearer(keys.web))

    assert limited.status == 429 and limited.content_type == "application/problem+json"
    assert problem["type"] == "urn:ordersync:problem:rate-limited" and problem["status"] == 429
    retry_after = limited.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    assert posted.status == 429 and posted.headers["Retry-After"].isdigit()
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == 0


async def test_each_channel_has_its_own_bucket_and_systems_are_never_limited(
    client: Any, keys: Keys
) -> None:
    for _ in range(BURST):
        await find(client, keys.web)
    assert (await find(client, keys.web)).status == 429
    assert (await find(client, keys.pos)).status == 200
    assert {(await find(client, k)).status for k in [keys.erp, keys.admin] * 20} == {200}


async def test_a_channels_own_rate_wins_over_the_default(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        registry.set_rate_limit(conn, "pos", 0)  # unlimited, as the benchmarks set it
        registry.set_rate_limit(conn, "web", 1)  # one a minute: a bucket of one
    assert {(await find(client, keys.pos)).status for _ in range(40)} == {200}
    assert [(await find(client, keys.web)).status for _ in range(2)] == [200, 429]


async def test_a_webhook_door_is_never_answered_429(client: Any, keys: Keys) -> None:
    for _ in range(BURST):
        await find(client, keys.web)
    assert (await find(client, keys.web)).status == 429  # the channel's bucket is empty

    doors = [
        await client.post("/v1/webhooks/probe", json={}, headers=Keys.bearer(keys.web))
        for _ in range(3 * BURST)
    ]

    assert {door.status for door in doors} == {202}
    assert (await find(client, keys.web)).status == 429  # the doors took no token either


async def test_orders_posted_past_the_burst_are_refused_not_half_taken(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    await stock(client, keys, {"sku": "A", "location": "WH-EAST", "set_on_hand": 100})
    answers = [
        await client.post(
            "/v1/orders", json=order_doc(f"R-{i}", [("A", 1)]), headers=Keys.bearer(keys.web)
        )
        for i in range(BURST + 3)
    ]
    assert [a.status for a in answers] == [201] * BURST + [429] * 3
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == BURST


def test_the_product_default_is_600_a_minute_and_the_setting_changes_it(
    engine: sa.Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORDERSYNC_CHANNEL_RATE_LIMIT", raising=False)
    settings = load_settings(database_url=database_url)
    assert settings.channel_rate_limit == 600
    assert bootstrap.http_app(settings, engine)[RATE_LIMITER].default_per_minute == 600
    monkeypatch.setenv("ORDERSYNC_CHANNEL_RATE_LIMIT", "0")
    assert load_settings(database_url=database_url).channel_rate_limit == 0


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    return CliRunner()


def test_the_cli_sets_a_channels_limit_and_back_to_the_default_audited(
    cli: CliRunner, engine: sa.Engine
) -> None:
    run(cli, "channel", "add", "web", "--kind", "canonical", "--rate-limit", "120")
    assert listed(cli) == [120]
    run(cli, "channel", "limit", "web", "--rate-limit", "0")
    assert listed(cli) == [0]
    run(cli, "channel", "limit", "web", "--default")
    assert listed(cli) == [None]

    run(cli, "channel", "limit", "web", "--rate-limit", "-1", code=2)
    run(cli, "channel", "limit", "web", code=2)  # one of --rate-limit and --default
    refused = run(cli, "channel", "limit", "nobody", "--rate-limit", "5", code=1)
    assert "no channel named 'nobody'" in refused.output
    with engine.connect() as conn:
        audits = conn.execute(sa.text("SELECT filter, outcome FROM audit_log ORDER BY id")).all()
    assert [(a.filter["rate_limit"], a.outcome) for a in audits] == [
        (0, "ok"),
        (None, "ok"),
        (5, "refused"),
    ]


def listed(cli: CliRunner) -> list[object]:
    channels = json.loads(run(cli, "channel", "list", "--json").output)
    return [c["rate_limit_per_minute"] for c in channels]
