"""The aiohttp application factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from aiohttp import web

from adapters.db.hold_rules import CachedHoldRules
from adapters.db.registry import ActiveChannels
from adapters.http.correlation import correlation_middleware
from adapters.http.cursors import cursor_key
from adapters.http.keys import (
    CHANNELS,
    CONFIG,
    CURSOR_KEY,
    ENGINE,
    EXECUTOR,
    HOLD_RULES,
    KEY_CACHE,
    RATE_LIMITER,
    ROUTE_TABLE,
    ROUTING,
    HttpConfig,
)
from adapters.http.middleware import body_middleware, error_middleware, header_middleware
from adapters.http.openapi import openapi_json
from adapters.http.ratelimit import RateLimiter
from adapters.http.routes import ROUTES, Route
from adapters.http.webhooks import install as install_webhooks
from outbox.routing import Routing


def init_app(
    engine: sa.Engine,
    config: HttpConfig,
    *,
    routing: Routing,
    threads: int = 8,
    routes: tuple[Route, ...] = (),
) -> web.Application:
    """The HTTP app over an engine; the caller owns the engine (and disposes of it).
    `routing`: where the outbox rows of its changes go (ops.wiring builds the product's);
    `routes`: served beside the product's own (the composition root's /ops API)."""
    # aiohttp's own limit is set high: body_middleware enforces ours, as problem+json.
    # correlation_middleware is outermost, so every answer (a problem too) carries the id.
    app = web.Application(
        middlewares=[correlation_middleware, error_middleware, header_middleware, body_middleware],
        client_max_size=config.max_body_bytes * 2,
    )
    app[ENGINE] = engine
    app[CONFIG] = config
    app[KEY_CACHE] = {}
    app[RATE_LIMITER] = RateLimiter(config.channel_rate_limit, burst_s=config.channel_burst_s)
    app[CURSOR_KEY] = cursor_key(config.secret_key, config.admin_token)
    app[CHANNELS] = ActiveChannels()
    app[HOLD_RULES] = CachedHoldRules()
    app[ROUTING] = routing
    app[ROUTE_TABLE] = ROUTES + routes
    for route in app[ROUTE_TABLE]:
        app.router.add_route(route.method, route.path, route.handler)
    app.router.add_get("/openapi.json", openapi_json)

    async def executor(app: web.Application) -> AsyncIterator[None]:
        app[EXECUTOR] = ThreadPoolExecutor(threads, thread_name_prefix="ordersync-db")
        yield
        app[EXECUTOR].shutdown(wait=True)

    app.cleanup_ctx.append(executor)
    install_webhooks(app)  # after the executor: its applies are awaited before it stops
    return app
