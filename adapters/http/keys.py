"""Typed application keys (one place) and the HTTP adapter's configuration."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import sqlalchemy as sa
from aiohttp import web

from adapters.db.hold_rules import CachedHoldRules
from adapters.db.registry import ActiveChannels
from adapters.http.ratelimit import BURST_S, RateLimiter
from outbox.routing import Routing

# How long an API process trusts a verified key without asking the database again
# (adapters/http/auth.py); `ordersync channel rotate` never gives a replaced key less grace.
KEY_CACHE_TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class HttpConfig:
    admin_token: str | None = None
    max_body_bytes: int = 1_048_576
    body_timeout_s: float = 10.0
    page_size: int = 100
    key_cache_ttl_s: float = KEY_CACHE_TTL_S
    outbox_notify: bool = False  # NOTIFY the relay in every writing transaction
    # ORDERSYNC_SECRET_KEY: signs change-feed cursors (without it, the admin token does;
    # see adapters/http/cursors.py), and decrypts the channels' webhook secrets.
    secret_key: str | None = None
    # The inbound sweeper (adapters/http/webhooks.py): every this many seconds (0: none),
    # the deliveries still `received` after inbound_sweep_after_s are applied.
    inbound_sweep_s: float = 5.0
    inbound_sweep_after_s: float = 30.0
    # A channel's requests a minute on the canonical API and the read routes, where its
    # own channels.rate_limit_per_minute is NULL (adapters/http/ratelimit.py); 0 is
    # unlimited. The product's default comes from ORDERSYNC_CHANNEL_RATE_LIMIT (ops).
    channel_rate_limit: int = 0
    channel_burst_s: float = BURST_S  # a full bucket: this many seconds' worth of requests


ENGINE = web.AppKey("engine", sa.Engine)
CONFIG = web.AppKey("config", HttpConfig)
EXECUTOR = web.AppKey("executor", ThreadPoolExecutor)
KEY_CACHE = web.AppKey("key_cache", dict)
RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)  # the channels' buckets, per process
CHANNELS = web.AppKey("channels", ActiveChannels)
HOLD_RULES = web.AppKey("hold_rules", CachedHoldRules)  # the channels' rules, per process
CURSOR_KEY = web.AppKey("cursor_key", bytes)
ROUTING = web.AppKey("routing", Routing)  # where each event's outbox rows go
ROUTE_TABLE = web.AppKey("route_table", tuple)  # every route served (/openapi.json's source)

BODY = web.RequestKey("body", bytes)
CORRELATION_ID = web.RequestKey("correlation_id", str)
CALLER = web.RequestKey("caller", str)  # "kind:name" of who was let in (the change log's)
# What a webhook door made of a delivery (received, parked, duplicate, ping): its 200s and
# 202s say less than that, and the metrics count each.
DOOR_OUTCOME = web.RequestKey("door_outcome", str)
