"""How each process shows its metrics: GET /metrics on the API's own port, and a small
HTTP server of its own (ORDERSYNC_METRICS_PORT; 0 = none) in each relay and worker.

/metrics asks for no key: Prometheus scrapes without one by convention, and what it shows
is counts per channel, destination and outcome — no order, customer, SKU or secret. Keep
the port off the public network as you do the rest of the operator's surface. It is not
a route of a channel's key, so the channels' rate limits never apply to it.

The worker is one process (dramatiq.Worker threads, not Dramatiq's forking CLI) and the
relay is one process, so each serves its own registry on its own port: no multiprocess
registry is needed. An API of several processes (`ordersync api --processes N`) shares
one port: each scrape is answered by one of them, so such an API is scraped through a
registry shared on disk (ops.metrics.multiprocess).
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)

from adapters.http.threads import run

log = logging.getLogger("ordersync.metrics")

# The `_created` series double every counter's and histogram's output for a timestamp
# Prometheus does not use.
disable_created_metrics()  # type: ignore[no-untyped-call]

METRICS_PATH = "/metrics"
EXTRA_REGISTRY = web.AppKey("metrics_registry", CollectorRegistry)  # the app's own figures


def exposition(*registries: CollectorRegistry) -> bytes:
    """The text exposition of the process's registry followed by the given ones."""
    return b"".join(generate_latest(r) for r in (process_registry(), *registries))


def process_registry() -> CollectorRegistry:
    """The registry this process's metrics are read from (the default one, or the shared
    on-disk one of a multi-process API)."""
    from ops.metrics import multiprocess

    return multiprocess.registry() or REGISTRY


async def metrics_handler(request: web.Request) -> web.Response:
    """GET /metrics: the text exposition (read on the thread pool: the database's figures
    take a query)."""
    body = await run(request, exposition, request.app[EXTRA_REGISTRY])
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


def serve(host: str, port: int, what: str) -> WSGIServer | None:
    """Serve /metrics of this process on host:port in a daemon thread (port 0: none)."""
    if port == 0:
        return None
    server, _thread = start_http_server(port, addr=host)
    bound = server.server_address[1]
    log.info("%s metrics on http://%s:%d%s", what, host, bound, METRICS_PATH)
    return server
