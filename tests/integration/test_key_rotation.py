"""`ordersync channel rotate`: the new key works at once, the old one until its grace ends
and then never again — also in an API process that cached it; the webhook secret rotates
the same way (registry.channel_credentials, what the doors verify with); audited."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters import apikeys
from adapters.db import registry
from adapters.db.rotation import rotate_channel
from adapters.http.keys import HttpConfig
from adapters.secretbox import SecretBox
from ops.bootstrap import product_app
from tests.cli_runs import run
from tests.integration.conftest import ADMIN_TOKEN, Keys

SECRET_KEY = "a-test-secret-key-of-some-length"
BOX = SecretBox(SECRET_KEY)


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_SECRET_KEY", SECRET_KEY)
    return CliRunner()


async def app_client(aiohttp_client: Any, engine: sa.Engine, cache_ttl_s: float) -> Any:
    config = HttpConfig(admin_token=ADMIN_TOKEN, key_cache_ttl_s=cache_ttl_s)
    return await aiohttp_client(product_app(engine, config, threads=4))


async def status_with(client: Any, key: str) -> int:
    response = await client.get("/v1/orders", params={"external_id": "X"}, headers=Keys.bearer(key))
    return int(response.status)


def add_channel(engine: sa.Engine, name: str = "web", secret: str | None = None) -> str:
    with engine.begin() as conn:
        sealed = BOX.seal(secret) if secret else None
        return registry.add_channel(conn, name, "canonical", secret_ciphertext=sealed)


def rotate(engine: sa.Engine, grace: timedelta, **options: Any) -> Any:
    with engine.begin() as conn:
        return rotate_channel(conn, "web", grace=grace, **options)


async def wait_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()) + 0.2)


async def test_the_old_key_works_until_its_grace_ends_even_where_it_was_cached_before(
    aiohttp_client: Any, engine: sa.Engine
) -> None:
    """Cached as the current key before the rotation: the cache's TTL (shorter than any
    grace `channel rotate` gives) ends its entry before the grace ends."""
    client = await app_client(aiohttp_client, engine, cache_ttl_s=0.5)
    old = add_channel(engine)
    assert await status_with(client, old) == 200  # cached as the current key

    rotated = rotate(engine, timedelta(seconds=1.5))

    assert rotated.key is not None and rotated.key != old
    assert (await status_with(client, rotated.key), await status_with(client, old)) == (200, 200)
    await wait_until(rotated.previous_valid_until)
    assert (await status_with(client, rotated.key), await status_with(client, old)) == (200, 401)


async def test_a_previous_key_is_cached_no_longer_than_its_grace(
    aiohttp_client: Any, engine: sa.Engine
) -> None:
    client = await app_client(aiohttp_client, engine, cache_ttl_s=3600)
    old = add_channel(engine)
    rotated = rotate(engine, timedelta(seconds=1))
    assert await status_with(client, old) == 200  # cached as a previous key: until its end

    await wait_until(rotated.previous_valid_until)

    assert await status_with(client, old) == 401
    assert await status_with(client, rotated.key) == 200


async def test_a_grace_moved_into_the_past_ends_the_old_key_at_the_next_lookup(
    aiohttp_client: Any, engine: sa.Engine
) -> None:
    client = await app_client(aiohttp_client, engine, cache_ttl_s=0)
    old = add_channel(engine)
    rotated = rotate(engine, timedelta(hours=24))
    assert await status_with(client, old) == 200
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE channels SET previous_valid_until = now() - interval '1 second'")
        )
    assert (await status_with(client, old), await status_with(client, rotated.key)) == (401, 200)


def test_a_second_rotation_ends_the_first_ones_grace(engine: sa.Engine) -> None:
    first_key = add_channel(engine)
    first = rotate(engine, timedelta(hours=1))
    second = rotate(engine, timedelta(hours=1))
    with engine.connect() as conn:
        assert authenticate_name(conn, first_key) is None
        assert authenticate_name(conn, first.key) == "web"  # the previous key now
        assert authenticate_name(conn, second.key) == "web"
        row = conn.execute(sa.text("SELECT * FROM channels")).one()
    assert row.previous_key_hash == apikeys.digest(first.key)


def authenticate_name(conn: sa.Connection, key: str) -> str | None:
    caller = registry.authenticate(conn, key)
    return None if caller is None else caller.name


def test_the_secret_rotates_with_its_grace_current_first(engine: sa.Engine) -> None:
    add_channel(engine, secret="whsec-old")
    rotate(engine, timedelta(hours=1), secret_ciphertext=BOX.seal("whsec-new"), keep_key=True)
    with engine.connect() as conn:
        [creds] = registry.channel_credentials(conn, BOX)
        assert (creds.channel, list(creds.secrets)) == ("web", ["whsec-new", "whsec-old"])
        conn.execute(sa.text("UPDATE channels SET previous_valid_until = now() - interval '1s'"))
        [after] = registry.channel_credentials(conn, BOX)
    assert list(after.secrets) == ["whsec-new"]


def test_channel_credentials_gives_each_active_channel_its_verifiers(engine: sa.Engine) -> None:
    key = add_channel(engine, "web", secret="s-web")
    add_channel(engine, "plain")  # no secret: nothing to verify with but its key
    with engine.begin() as conn:
        registry.add_channel(
            conn,
            "shop",
            "shopify",
            secret_ciphertext=BOX.seal("s-shop"),
            shop_domain="acme.myshopify.com",
            notification_url="https://hooks.example.com/square",
        )
        registry.add_channel(conn, "gone", "canonical", secret_ciphertext=BOX.seal("s-gone"))
        conn.execute(sa.text("UPDATE channels SET disabled_at = now() WHERE name = 'gone'"))
    rotated = rotate(engine, timedelta(hours=1))

    with engine.connect() as conn:
        found = {c.channel: c for c in registry.channel_credentials(conn, BOX)}
        shops = registry.channel_credentials(conn, BOX, kind="shopify")
        named = registry.channel_credentials(conn, BOX, name="plain")

    assert sorted(found) == ["plain", "shop", "web"]
    assert list(found["web"].key_digests) == [apikeys.digest(rotated.key), apikeys.digest(key)]
    assert list(found["web"].secrets) == ["s-web"]  # no new secret: the previous half is empty
    assert list(found["plain"].secrets) == [] and len(found["plain"].key_digests) == 1
    assert (found["shop"].shop_domain, found["shop"].notification_url) == (
        "acme.myshopify.com",
        "https://hooks.example.com/square",
    )
    assert [c.channel for c in shops] == ["shop"] and [c.channel for c in named] == ["plain"]
    # Under another key a stored secret cannot be read: left out (its signatures fail),
    # and the other channels still verify.
    with engine.connect() as conn:
        unread = registry.channel_credentials(conn, SecretBox("another-key-of-enough-length"))
    assert sorted(c.channel for c in unread) == sorted(found)
    assert all(c.secrets == () for c in unread)


def test_the_cli_rotates_prints_the_new_key_once_lists_the_grace_and_audits(
    cli: CliRunner, engine: sa.Engine
) -> None:
    old = add_channel(engine, secret="whsec-old")

    result = run(cli, "channel", "rotate", "web", "--grace", "2h", "--secret", "whsec-new")

    new = result.output.strip().splitlines()[-1]
    assert new.startswith("osk_ch_") and "whsec" not in result.output
    with engine.connect() as conn:
        assert authenticate_name(conn, new) == authenticate_name(conn, old) == "web"
        row = conn.execute(sa.text("SELECT * FROM channels")).one()
        audit = conn.execute(sa.text("SELECT * FROM audit_log")).one()
    assert "whsec-new" not in str(row._asdict()) and new not in str(row._asdict())
    assert BOX.open(row.previous_secret_ciphertext) == "whsec-old"
    until = row.previous_valid_until - datetime.now(UTC)
    assert timedelta(hours=1, minutes=59) < until <= timedelta(hours=2)
    assert (audit.action, audit.outcome) == ("channel.rotate", "ok")
    assert audit.filter == {"channel": "web", "grace": "2h", "secret": True, "key": True}
    assert "whsec" not in json.dumps(audit.filter) + str(audit.counts)
    [listed] = json.loads(run(cli, "channel", "list", "--json").output)
    assert listed["previous_valid_until"] == row.previous_valid_until.isoformat()


def test_the_cli_never_gives_a_replaced_key_less_grace_than_the_key_cache(
    cli: CliRunner, engine: sa.Engine
) -> None:
    add_channel(engine)
    result = run(cli, "channel", "rotate", "web", "--grace", "0s")
    assert "raised to 30s" in result.output
    with engine.connect() as conn:
        left = conn.execute(
            sa.text("SELECT previous_valid_until - now() FROM channels")
        ).scalar_one()
    assert timedelta(seconds=25) < left <= timedelta(seconds=30)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("web", "--keep-key"), "nothing to rotate"),
        (("nobody",), "no channel named 'nobody'"),
    ],
)
def test_a_rotation_that_cannot_be_made_is_refused_changes_nothing_and_is_audited(
    cli: CliRunner, engine: sa.Engine, args: tuple[str, ...], says: str
) -> None:
    add_channel(engine)
    with engine.connect() as conn:
        before = conn.execute(sa.text("SELECT * FROM channels")).one()

    result = run(cli, "channel", "rotate", *args, code=1)

    assert says in result.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT * FROM channels")).one() == before
        audit = conn.execute(sa.text("SELECT action, outcome FROM audit_log")).one()
    assert tuple(audit) == ("channel.rotate", "refused")
