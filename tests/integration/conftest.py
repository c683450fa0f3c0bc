"""Integration fixtures: the real HTTP app over a real PostgreSQL database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.db import registry
from adapters.http.keys import HttpConfig
from ops.bootstrap import product_app

ADMIN_TOKEN = "test-admin-token-0123456789"

pytestmark = pytest.mark.integration


@dataclass
class Keys:
    web: str
    pos: str
    erp: str
    admin: str = ADMIN_TOKEN

    @staticmethod
    def bearer(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(engine: sa.Engine) -> Keys:
    """Two channels (web, pos), one ERP system, three locations."""
    with engine.begin() as conn:
        web = registry.add_channel(conn, "web", "canonical")
        pos = registry.add_channel(conn, "pos", "pos")
        erp = registry.add_system(conn, "erp", "erp")
        registry.add_location(conn, "WH-EAST", "warehouse", 10)
        registry.add_location(conn, "WH-WEST", "warehouse", 20)
        registry.add_location(conn, "STORE-LIS", "store", 50)
    return Keys(web, pos, erp)


@pytest.fixture
def http_config() -> HttpConfig:
    return HttpConfig(admin_token=ADMIN_TOKEN, max_body_bytes=64 * 1024, body_timeout_s=1.0)


@pytest.fixture
async def client(aiohttp_client: Any, engine: sa.Engine, http_config: HttpConfig) -> Any:
    return await aiohttp_client(product_app(engine, http_config, threads=40))


async def stock(client: Any, keys: Keys, *adjustments: dict[str, Any]) -> None:
    response = await client.post(
        "/v1/inventory/adjustments",
        json={"adjustments": list(adjustments)},
        headers=Keys.bearer(keys.admin),
    )
    assert response.status == 200, await response.text()
