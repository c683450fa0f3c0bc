"""The simulators' return routes over real HTTP: the WMS expects a return once (the same
reference again), a channel shows a return open then received; bad documents are 422s
that record nothing."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from simulators.app import init_sim_app
from tests.integration.test_simulators import ClientFactory, documents, key

LINES = [{"line_no": 1, "sku": "TEE-M-BLK", "quantity": 1}]


@pytest.fixture
async def sim(aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(init_sim_app(seed=1))


def expected_return(return_id: str = "r-1") -> dict[str, Any]:
    return {
        "return_id": return_id,
        "order_id": "o-1",
        "order_number": "WEB-10001",
        "channel": "web",
        "reason": "too small",
        "lines": LINES,
    }


async def test_the_wms_expects_a_return_once_under_one_reference(sim: TestClient[Any, Any]) -> None:
    first = await sim.post("/wms/returns", json=expected_return(), headers=key("k-1"))
    again = await sim.post("/wms/returns", json=expected_return(), headers=key("k-2"))
    bad = await sim.post(
        "/wms/returns", json={**expected_return("r-2"), "lines": []}, headers=key("k-3")
    )

    assert (first.status, again.status, bad.status) == (201, 200, 422)
    assert (await first.json())["return_ref"] == (await again.json())["return_ref"]
    held = await documents(sim, "wms")
    assert [d["type"] for d in held["documents"]] == ["expected_return", "expected_return"]


async def test_a_channel_shows_a_return_and_a_received_one_needs_dispositions(
    sim: TestClient[Any, Any],
) -> None:
    opened = {"return_id": "r-1", "order_id": "o-1", "external_id": "WEB-1", "status": "open"}
    received_lines = [{**LINES[0], "disposition": "restock"}]

    ok = await sim.post("/channels/web/returns", json={**opened, "lines": LINES}, headers=key("a"))
    vague = await sim.post(
        "/channels/web/returns",
        json={**opened, "status": "received", "lines": LINES},
        headers=key("b"),
    )
    done = await sim.post(
        "/channels/web/returns",
        json={**opened, "status": "received", "lines": received_lines},
        headers=key("c"),
    )

    assert (ok.status, vague.status, done.status) == (200, 422, 200)
    held = await documents(sim, "channels")
    assert [(d["type"], d["body"]["status"]) for d in held["documents"]] == [
        ("return", "open"),
        ("return", "received"),
    ]
