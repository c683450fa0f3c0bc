"""Each process's metrics switched on: the listeners subscribed, /metrics served."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import CollectorRegistry

from ops.metrics import business, delivery, relay
from ops.metrics.backlog import DatabaseCollector
from ops.metrics.exposition import EXTRA_REGISTRY, METRICS_PATH, metrics_handler, serve
from ops.metrics.ingest import metrics_middleware


def install_api(app: web.Application, engine: sa.Engine) -> None:
    """The API's: the doors' middleware (outermost: it sees the status sent), what its
    units of work commit, and GET /metrics with the database's figures."""
    app.middlewares.insert(0, metrics_middleware)
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine))
    app[EXTRA_REGISTRY] = registry
    app.router.add_get(METRICS_PATH, metrics_handler)
    business.attach()


def install_relay(host: str, port: int) -> WSGIServer | None:
    """The relay's: its batches counted, served on host:port. Port 0: off, and nothing is
    counted (with no listener the relay builds no batch report)."""
    if port == 0:
        return None
    relay.attach()
    return serve(host, port, "relay")


def install_worker(host: str, port: int) -> WSGIServer | None:
    """The worker's: its deliveries and its units of work counted, served on host:port.
    Port 0: off, and nothing is counted (no delivery report is built)."""
    if port == 0:
        return None
    delivery.attach()
    business.attach()
    return serve(host, port, "worker")
