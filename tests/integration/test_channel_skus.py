"""Outbound documents name the channel's own SKU (adapters/channels/channel_skus.py): a
stock change of one of our SKUs, written by the real domain service into the real
outbox, delivered through the real guard and channel actor to the simulated Shopify shop
and WooCommerce site, arrives as the SKU each of them sells (`ordersync sku map`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from actors import channel
from actors.clients import SystemClients
from actors.guard import Outcome, deliver
from actors.systems import SYSTEMS
from adapters.db import registry
from adapters.db.channel_credentials import seal_credentials
from adapters.db.sku_map import ChannelSkuMaps
from adapters.db.sku_mappings import map_sku
from adapters.db.uow import SqlUnitOfWork
from adapters.secretbox import SecretBox
from domain.commands import AdjustInventory
from domain.services import adjust_inventory
from ops.wiring import ROUTING
from simulators.app import init_sim_app
from simulators.server import ServerThread
from tests.outbox_rows import envelopes

pytestmark = pytest.mark.integration

BOX = SecretBox("test-secret-key-0123456789abcdef")
OURS = "OUR-TEE"
SHOP_SKU, SHOP_ITEM, SHOP_LOCATION = "SHOP-TEE-M", 45501220000001, 71983808706
SITE_SKU, SITE_PRODUCT = "WC-TEE-M", 205


@pytest.fixture
def sim() -> Iterator[str]:
    with ServerThread(init_sim_app(seed=1)) as server:
        yield server.url


@pytest.fixture
def channels(engine: sa.Engine, sim: str) -> None:
    """A Shopify shop and a WooCommerce site, each selling our tee under its own SKU."""
    shop = {"access_token": "shpat_test"}
    site = {"consumer_key": "ck_test", "consumer_secret": "cs_test"}
    with engine.begin() as conn:
        for name, kind, credentials in (("acme", "shopify", shop), ("woo", "woocommerce", site)):
            registry.add_channel(
                conn,
                name,
                kind,
                api_url=f"{sim}/channels/{name}",
                credentials_ciphertext=seal_credentials(BOX, credentials),
            )
        registry.add_location(conn, "WH-EAST", "warehouse", 10)
    variants = [{"sku": SHOP_SKU, "inventory_item_id": SHOP_ITEM}]
    put = {"variants": variants, "primary_location_id": SHOP_LOCATION}
    httpx.post(f"{sim}/_sim/channels/acme/shopify", json=put).raise_for_status()
    products = {"products": [{"sku": SITE_SKU, "id": SITE_PRODUCT}], "open": False}
    httpx.post(f"{sim}/_sim/channels/woo/wc-products", json=products).raise_for_status()


def set_on_hand(engine: sa.Engine, quantity: int) -> None:
    adjustment = {"sku": OURS, "location": "WH-EAST", "set_on_hand": quantity}
    adjust_inventory(
        SqlUnitOfWork(engine, routing=ROUTING),
        AdjustInventory.model_validate({"adjustments": [adjustment]}),
    )


def deliver_all(engine: sa.Engine, destination: str) -> None:
    """Every message to the destination through the guard and the channel actor."""
    clients = SystemClients.create(engine, SYSTEMS.urls_at("http://127.0.0.1:9"), secret_box=BOX)
    try:
        for envelope in envelopes(engine, destination):
            outcome = deliver(engine, envelope, lambda e: channel.handle(e, clients))
            assert outcome is Outcome.APPLIED, outcome
    finally:
        clients.close()


def documents(sim: str, doc_type: str) -> list[dict[str, Any]]:
    reply = httpx.get(f"{sim}/_sim/channels/documents", params={"type": doc_type}).json()
    return list(reply["documents"])


def test_a_stock_change_of_our_sku_reaches_each_channel_as_its_own_sku(
    engine: sa.Engine, sim: str, channels: None
) -> None:
    with engine.begin() as conn:
        map_sku(conn, "acme", SHOP_SKU, OURS, created_by="test")
        map_sku(conn, "woo", SITE_SKU, OURS, created_by="test")
    set_on_hand(engine, 7)

    deliver_all(engine, "channel:acme")
    deliver_all(engine, "channel:woo")

    (level,) = documents(sim, "shopify.inventory_level")
    assert level["body"] == {
        "location_id": SHOP_LOCATION,
        "inventory_item_id": SHOP_ITEM,
        "available": 7,
    }
    (stock,) = documents(sim, "wc_product_stock")
    assert stock["body"] == {"manage_stock": True, "stock_quantity": 7}
    products = f"{sim}/channels/woo/wp-json/wc/v3/products"
    (product,) = httpx.get(products, params={"sku": SITE_SKU}).json()
    assert (product["id"], product["stock_quantity"]) == (SITE_PRODUCT, 7)


def test_without_a_mapping_our_sku_is_sent_as_it_is(
    engine: sa.Engine, sim: str, channels: None
) -> None:
    """The same change unmapped: neither channel sells OUR-TEE, so nothing is set."""
    set_on_hand(engine, 7)

    deliver_all(engine, "channel:acme")
    deliver_all(engine, "channel:woo")

    assert documents(sim, "shopify.inventory_level") == []
    assert documents(sim, "wc_product_stock") == []


def test_the_latest_of_several_mappings_to_one_sku_is_the_one_sent(
    engine: sa.Engine, channels: None
) -> None:
    with engine.begin() as conn:
        map_sku(conn, "acme", "SHOP-TEE-OLD", OURS, created_by="test")
        map_sku(conn, "acme", SHOP_SKU, OURS, created_by="test")
        map_sku(conn, "woo", SITE_SKU, "OTHER", created_by="test")
    maps = ChannelSkuMaps(engine, refresh_s=60)

    assert maps.theirs("acme") == {OURS: SHOP_SKU}
    with engine.begin() as conn:
        map_sku(conn, "acme", "SHOP-TEE-OLD", OURS, created_by="test")  # chosen again
    assert maps.theirs("acme") == {OURS: SHOP_SKU}  # cached for refresh_s
    maps.refresh_s = 0
    assert maps.theirs("acme") == {OURS: "SHOP-TEE-OLD"}
    assert maps.theirs("woo") == {"OTHER": SITE_SKU}
