"""The `ordersync api` process, started as an operator would, over real PostgreSQL."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from adapters.db import registry
from ops.cli import main
from tests.e2e.processes import listening_urls, reserved_port, start, wait_until
from tests.factories import CONTRACT_ORDER

pytestmark = pytest.mark.e2e
ADMIN = "e2e-admin-token-0123456789"


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(params=[1, 2], ids=["1-process", "2-processes"])
def api(database_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """One process binds a port the kernel picks (--port 0) and logs it; two share a fixed
    port (SO_REUSEPORT), one this test holds bound for them (never listening) meanwhile."""
    processes = request.param
    with contextlib.ExitStack() as held:
        port = held.enter_context(reserved_port()) if processes > 1 else 0
        process = start(
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--processes",
            str(processes),
            database_url=database_url,
            ORDERSYNC_ADMIN_TOKEN=ADMIN,
        )
        try:
            urls: list[str] = []

            def all_listening() -> bool:
                urls[:] = listening_urls(process)
                return len(urls) == processes

            wait_until(all_listening, 30, f"{processes} API process(es) to listen")
            assert len(set(urls)) == 1, f"the processes listen on different addresses: {urls}"
            base = urls[0]
            if port:
                assert base == f"http://127.0.0.1:{port}"
            wait_until(lambda: _ready(base), 30, "the API to be ready")
            yield base
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=15)  # asserted after: a failure above stays reported
    assert code == 0, "the api did not stop cleanly on SIGTERM"


def test_port_0_is_for_one_process_only() -> None:
    """--port 0 gives each process a port of its own: --processes N would not share one."""
    result = CliRunner().invoke(main, ["api", "--port", "0", "--processes", "2"])
    assert result.exit_code == 2, result.output
    assert "--port 0" in result.output and "--processes N share a fixed port" in result.output


def test_a_started_api_accepts_the_contract_order_and_stops_cleanly(
    api: str, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        key = registry.add_channel(conn, "web", "canonical", rate_limit_per_minute=0)
    admin = {"Authorization": f"Bearer {ADMIN}"}
    adjust = {"adjustments": [{"sku": "TEE-M-BLK", "location": "WH-EAST", "set_on_hand": 3}]}
    assert (
        httpx.post(f"{api}/v1/inventory/adjustments", json=adjust, headers=admin).status_code == 200
    )
    created = httpx.post(
        f"{api}/v1/orders", json=CONTRACT_ORDER, headers={"Authorization": f"Bearer {key}"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "allocated"
    stock = httpx.get(f"{api}/v1/inventory/TEE-M-BLK", headers=admin).json()
    assert stock["atp"] == 1
    spec = httpx.get(f"{api}/openapi.json").json()
    assert "/v1/orders" in spec["paths"]
