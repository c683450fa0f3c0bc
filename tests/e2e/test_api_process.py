"""The `ordersync api` process, started as an operator would, over real PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from adapters.db import registry
from tests.factories import CONTRACT_ORDER

pytestmark = pytest.mark.e2e
ADMIN = "e2e-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=[1, 2], ids=["1-process", "2-processes"])
def api(database_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "ORDERSYNC_DATABASE_URL": database_url, "ORDERSYNC_ADMIN_TOKEN": ADMIN}
    cli = Path(sys.executable).parent / "ordersync"
    process = subprocess.Popen(
        [
            str(cli),
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--processes",
            str(request.param),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("api did not start")
            time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=15)  # asserted after: a failure above stays the one reported
    assert code == 0, "the api did not stop cleanly on SIGTERM"


def test_a_started_api_accepts_the_contract_order_and_stops_cleanly(
    api: str, engine: sa.Engine
) -> None:
    with engine.begin() as conn:
        key = registry.add_channel(conn, "web", "canonical")
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
