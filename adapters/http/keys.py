"""Typed application keys (one place) and the HTTP adapter's configuration."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web

from adapters.db.hold_rules import CachedHoldRules
from adapters.db.registry import ActiveChannels
from outbox.routing import Routing


@dataclass(frozen=True, slots=True)
class HttpConfig:
    admin_token: str | None = None
    max_body_bytes: int = 1_048_576
    body_timeout_s: float = 10.0
    page_size: int = 100
    key_cache_ttl_s: float = 30.0
    outbox_notify: bool = False  # NOTIFY the relay in every writing transaction
    # ORDERSYNC_SECRET_KEY: signs change-feed cursors (without it, the admin token does;
    # see adapters/http/cursors.py), and decrypts the channels' webhook secrets.
    secret_key: str | None = None
    # The inbound sweeper (adapters/http/webhooks.py): every this many seconds (0: none),
    # the deliveries still `received` after inbound_sweep_after_s are applied.
    inbound_sweep_s: float = 5.0
    inbound_sweep_after_s: float = 30.0


ENGINE = web.AppKey("engine", sa.Engine)
CONFIG = web.AppKey("config", HttpConfig)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
KEY_CACHE = web.AppKey("key_cache", dict)
CHANNELS = web.AppKey("channels", ActiveChannels)
HOLD_RULES = web.AppKey("hold_rules", CachedHoldRules)  # the channels' rules, per process
CURSOR_KEY = web.AppKey("cursor_key", bytes)
ROUTING = web.AppKey("routing", Routing)  # where each event's outbox rows go
ROUTE_TABLE = web.AppKey("route_table", tuple)  # every route served (/openapi.json's source)

BODY = web.RequestKey("body", bytes)
CORRELATION_ID = web.RequestKey("correlation_id", str)
CALLER = web.RequestKey("caller", str)  # "kind:name" of who was let in (the change log's)
