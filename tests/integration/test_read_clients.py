"""The read clients over real HTTP: the ERP's sales orders and a channel's orders, followed
page by page; a reply that breaks the contract is a clear error naming what is wrong."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web

from actors.erp import ErpClient
from adapters.channels.canonical import ChannelClient
from adapters.systems.errors import PermanentError, TransientError
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.factories import order_doc
from tests.integration.test_simulators import sales_order

pytestmark = pytest.mark.integration

LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


def test_the_erp_client_reads_every_page_of_sales_orders(sim: str) -> None:
    for number in range(5):
        headers = {"Idempotency-Key": f"k-{number}"}
        httpx.post(f"{sim}/erp/sales-orders", json=sales_order(f"o-{number}"), headers=headers)
    with ErpClient(f"{sim}/erp") as client:
        client.page_size = 2
        held = list(client.sales_orders(LONG_AGO))
        later = list(client.sales_orders(datetime.now(UTC) + timedelta(minutes=1)))
    assert [(s.order_ref, s.status, str(s.totals["grand_total"])) for s in held] == [
        (f"o-{number}", "open", "54.98") for number in range(5)
    ]
    assert later == []


def test_the_channel_client_reads_every_page_of_a_channels_orders(sim: str) -> None:
    docs = [order_doc(f"W-{number}") for number in range(3)]
    stored = httpx.post(f"{sim}/_sim/channels/web/orders", json={"orders": docs})
    assert stored.status_code == 200
    with ChannelClient(f"{sim}/channels/web", channel="web") as client:
        listed = list(client.orders_since(LONG_AGO, page_size=2))
    assert [o.document for o in listed] == docs
    assert all(o.updated_at.tzinfo is not None for o in listed)


def canned(*pages: tuple[int, str]) -> web.Application:
    """A system whose list answers these (status, body) in turn, the last one from then on."""
    answers = list(pages)

    async def answer(request: web.Request) -> web.Response:
        status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        return web.Response(status=status, text=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/erp/sales-orders", answer)
    app.router.add_get("/channels/web/orders", answer)
    return app


def _page(items: list[Any], cursor: str | None = None) -> tuple[int, str]:
    return 200, json.dumps({"items": items, "next_cursor": cursor})


GOOD = {
    "document_number": "SO-1",
    "order_ref": "o-1",
    "currency": "EUR",
    "totals": {"grand_total": "1.00"},
    "status": "open",
}


@pytest.mark.parametrize(
    ("pages", "says"),
    [
        ([(200, "<html>oops</html>")], "not JSON"),
        ([(200, "[1, 2]")], "not a JSON object"),
        ([(200, "{}")], "items: Field required"),
        ([_page([{**GOOD, "order_ref": None}])], "items.0.order_ref"),
        ([_page([{**GOOD, "totals": {"grand_total": "a lot"}}])], "items.0.totals.grand_total"),
        ([_page([GOOD], "c1"), _page([GOOD], "c1")], "repeats a cursor"),
    ],
    ids=["html", "array", "no-items", "no-ref", "bad-amount", "cursor-loop"],
)
def test_a_malformed_erp_reply_is_a_permanent_error_naming_the_fault(
    pages: list[tuple[int, str]], says: str
) -> None:
    with ServerThread(canned(*pages)) as server, ErpClient(f"{server.url}/erp") as client:
        with pytest.raises(PermanentError) as raised:
            list(client.sales_orders(LONG_AGO))
    assert says in str(raised.value)
    assert "a lot" not in str(raised.value)  # by field and message, never the value


def test_an_erp_that_answers_503_is_a_transient_error() -> None:
    with ServerThread(canned((503, '{"detail": "maintenance"}'))) as server:
        with ErpClient(f"{server.url}/erp") as client, pytest.raises(TransientError) as raised:
            list(client.sales_orders(LONG_AGO))
    assert "maintenance" in str(raised.value) and raised.value.status == 503


@pytest.mark.parametrize(
    ("item", "says"),
    [
        ({"order": order_doc()}, "items.0.updated_at"),
        ({"updated_at": "2026-11-26T10:00:00", "order": order_doc()}, "timezone"),
        ({"updated_at": "2026-11-26T10:00:00Z", "order": "W-1"}, "items.0.order"),
    ],
    ids=["no-time", "naive-time", "order-not-an-object"],
)
def test_a_malformed_channel_listing_is_a_permanent_error(item: dict[str, Any], says: str) -> None:
    app = canned(_page([item]))
    with ServerThread(app) as server:
        with ChannelClient(f"{server.url}/channels/web", channel="web") as client:
            with pytest.raises(PermanentError) as raised:
                list(client.orders_since(LONG_AGO))
    assert says in str(raised.value) and "channel:web" in str(raised.value)
