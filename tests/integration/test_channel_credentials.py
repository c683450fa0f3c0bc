"""A channel's outbound credentials: set from the CLI (checked, encrypted, never printed,
never in the audit trail), and handed decrypted to the kind's client by the actors'
clients — which send them (a canonical channel's bearer token) to a real server on a
socket, and pick a change up like a changed --api-url."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from click.testing import CliRunner

from actors import channel as channel_actor
from actors.clients import SystemClients
from actors.systems import SYSTEMS
from adapters.db import registry
from adapters.db.channel_credentials import (
    outbound_credentials,
    parse_credentials,
    seal_credentials,
)
from adapters.secretbox import SecretBox
from domain.events import OrderAccepted
from simulators.server import ServerThread
from tests.cli_runs import run
from tests.integration.test_system_clients import accepted
from tests.outbox_rows import envelopes, write_orders

SECRET_KEY = "a-test-secret-key-of-some-length"
BOX = SecretBox(SECRET_KEY)
TOKEN = "tok-7f3a9c-very-secret"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ORDERSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ORDERSYNC_SECRET_KEY", SECRET_KEY)
    return CliRunner()


class Recorder:
    """A channel API on a real socket that records each call's Authorization header."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []

    def app(self) -> web.Application:
        async def order_status(request: web.Request) -> web.Response:
            self.authorizations.append(request.headers.get("Authorization"))
            return web.json_response({"status": (await request.json())["status"]})

        app = web.Application()
        app.router.add_post("/channels/web/order-status", order_status)
        return app


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    recording = Recorder()
    with ServerThread(recording.app()) as server:
        yield recording, f"{server.url}/channels/web"


def stored(engine: sa.Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM channels WHERE name = 'web'")).one()


def test_credentials_are_stored_encrypted_and_never_shown(
    cli: CliRunner, engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    given = json.dumps({"token": TOKEN})

    added = run(cli, "channel", "add", "web", "--kind", "canonical", "--credentials", given)
    listed = run(cli, "channel", "list", "--json")

    row = stored(engine)
    assert TOKEN not in str(row._asdict())
    assert json.loads(BOX.open(row.credentials_ciphertext)) == {"token": TOKEN}
    assert [c["has_credentials"] for c in json.loads(listed.output)] == [True]
    assert TOKEN not in added.output + listed.output + caplog.text


def test_credentials_are_replaced_and_cleared_audited_without_their_values(
    cli: CliRunner, engine: sa.Engine
) -> None:
    run(cli, "channel", "add", "web", "--kind", "canonical")
    assert stored(engine).credentials_ciphertext is None

    run(cli, "channel", "credentials", "web", "--set", json.dumps({"token": TOKEN}))
    with engine.connect() as conn:
        assert outbound_credentials(conn, "web", BOX) == {"token": TOKEN}
    run(cli, "channel", "credentials", "web", "--clear")

    assert stored(engine).credentials_ciphertext is None
    with engine.connect() as conn:
        audits = conn.execute(sa.text("SELECT * FROM audit_log ORDER BY id")).all()
    assert [(a.action, a.outcome, a.filter["cleared"]) for a in audits] == [
        ("channel.credentials", "ok", False),
        ("channel.credentials", "ok", True),
    ]
    assert TOKEN not in str([a._asdict() for a in audits])


@pytest.mark.parametrize(
    "given",
    [
        f'{{"token": "{TOKEN}"',  # not JSON
        f'["{TOKEN}"]',
        f'{{"token": "{TOKEN}", "retries": 3}}',
        f'{{"token": "{TOKEN}", "": "x"}}',
        "{}",
    ],
    ids=["broken", "a-list", "a-number", "an-empty-name", "empty"],
)
def test_credentials_that_are_not_an_object_of_strings_are_refused_without_echo(
    cli: CliRunner, engine: sa.Engine, given: str
) -> None:
    run(cli, "channel", "add", "web", "--kind", "canonical")

    refused = run(cli, "channel", "credentials", "web", "--set", given, code=1)
    at_add = run(
        cli, "channel", "add", "other", "--kind", "canonical", "--credentials", given, code=1
    )

    assert "JSON object of strings" in refused.output or "1 to 20 entries" in refused.output
    assert TOKEN not in refused.output + at_add.output
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name FROM channels")).scalars().all() == ["web"]
    assert stored(engine).credentials_ciphertext is None


def test_credentials_need_the_secret_key_and_an_existing_channel(
    cli: CliRunner, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(cli, "channel", "add", "web", "--kind", "canonical")
    nobody = run(cli, "channel", "credentials", "nobody", "--set", '{"token": "t"}', code=1)
    assert "no channel named 'nobody'" in nobody.output
    monkeypatch.delenv("ORDERSYNC_SECRET_KEY")
    keyless = run(cli, "channel", "credentials", "web", "--set", '{"token": "t"}', code=1)
    assert "ORDERSYNC_SECRET_KEY" in keyless.output
    assert stored(engine).credentials_ciphertext is None


def test_the_worker_client_sends_the_channels_token_and_picks_up_a_new_one(
    engine: sa.Engine, recorder: tuple[Recorder, str]
) -> None:
    recording, url = recorder
    with engine.begin() as conn:
        registry.add_channel(
            conn,
            "web",
            "canonical",
            api_url=url,
            credentials_ciphertext=seal_credentials(BOX, {"token": TOKEN}),
        )
    clients = SystemClients.create(engine, SYSTEMS.urls_at("http://127.0.0.1:9"), secret_box=BOX)
    try:
        acknowledge(clients, "k-1")
        with engine.begin() as conn:
            sealed = seal_credentials(BOX, {"token": "tok-2"})
            conn.execute(sa.text("UPDATE channels SET credentials_ciphertext = :c"), {"c": sealed})
        acknowledge(clients, "k-2")  # within refresh_s: the client it has
        clients.refresh_s = 0
        acknowledge(clients, "k-3")
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE channels SET credentials_ciphertext = NULL"))
        acknowledge(clients, "k-4")
    finally:
        clients.close()

    assert recording.authorizations == [f"Bearer {TOKEN}", f"Bearer {TOKEN}", "Bearer tok-2", None]


def acknowledge(clients: SystemClients, key: str) -> None:
    end = clients.channel("web")
    assert end is not None and end.client is not None
    order: OrderAccepted = accepted()
    assert end.client.acknowledge(order, idempotency_key=key) == "acknowledged"  # type: ignore[attr-defined]


def test_credentials_the_worker_cannot_decrypt_refuse_its_messages_not_send_them_bare(
    engine: sa.Engine, recorder: tuple[Recorder, str]
) -> None:
    recording, url = recorder
    with engine.begin() as conn:
        sealed = seal_credentials(SecretBox("some-other-key-of-enough-length"), {"token": TOKEN})
        registry.add_channel(conn, "web", "canonical", api_url=url, credentials_ciphertext=sealed)
    write_orders(engine, aggregates=1, events_each=2)  # one of them goes to channel:web
    [envelope] = envelopes(engine, "channel:web")
    clients = SystemClients.create(engine, SYSTEMS.urls_at("http://127.0.0.1:9"), secret_box=BOX)
    try:
        end = clients.channel("web")
        assert end is not None and end.client is None and end.unreadable
        with pytest.raises(channel_actor.CredentialsUnreadable, match="channel:web"):
            channel_actor.handle(envelope, clients)
    finally:
        clients.close()
    assert recording.authorizations == []


def test_parse_credentials_keeps_every_string_entry() -> None:
    given = {"access_token": "shpat_1", "api_key": "k", "api_secret": "s"}
    assert parse_credentials(json.dumps(given)) == given
