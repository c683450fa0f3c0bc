"""The composition root: settings → engine, HTTP app; the only place that reads the environment."""

from __future__ import annotations

import sqlalchemy as sa
from aiohttp import web

from adapters.db.engine import make_engine
from adapters.db.migrate import upgrade
from adapters.http.app import init_app
from adapters.http.keys import HttpConfig
from adapters.secretbox import SecretBox
from ops import dashboard, ops_api
from ops.settings import Settings
from ops.wiring import ROUTING
from outbox.routing import Routing


def engine_for(settings: Settings) -> sa.Engine:
    return make_engine(settings.require_database_url(), pool_size=settings.db_pool_size)


def migrate(settings: Settings) -> None:
    upgrade(settings.require_database_url())


def http_app(
    settings: Settings, engine: sa.Engine, *, routing: Routing = ROUTING
) -> web.Application:
    config = HttpConfig(
        admin_token=settings.admin_token,
        max_body_bytes=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        page_size=settings.page_size,
        outbox_notify=settings.outbox_notify,
        secret_key=settings.secret_key,
        inbound_sweep_s=settings.inbound_sweep_s,
        inbound_sweep_after_s=settings.inbound_sweep_after_s,
        channel_rate_limit=settings.channel_rate_limit,
    )
    ops = ops_api.OpsConfig(
        system_urls=settings.system_urls,
        client_timeout_s=settings.client_timeout_s,
        outbox_notify=settings.outbox_notify,
    )
    return product_app(engine, config, routing=routing, threads=settings.api_threads, ops=ops)


def product_app(
    engine: sa.Engine,
    config: HttpConfig,
    *,
    routing: Routing = ROUTING,
    threads: int = 8,
    ops: ops_api.OpsConfig | None = None,
) -> web.Application:
    """What `ordersync api` serves: the product's routes, the operator's /ops, the
    dashboard over it, and /metrics."""
    app = init_app(engine, config, routing=routing, threads=threads, routes=ops_api.ROUTES)
    ops_api.install(app, ops or ops_api.OpsConfig())
    dashboard.install(app)
    # Imported here, not above: the CLI chooses the metrics' registry mode
    # (ops.metrics.multiprocess) before prometheus-client is first imported.
    from ops.metrics.install import install_api as install_metrics

    install_metrics(app, engine)
    return app


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(settings.secret_key)
