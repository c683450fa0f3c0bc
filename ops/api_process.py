"""`ordersync api`: one or more aiohttp server processes on one port (SO_REUSEPORT).

An aiohttp process runs Python on one core at a time; on a machine with more
cores, several processes share the port and the kernel spreads connections
between them (docs/benchmarks.md measures 1 and 2 processes).
"""

from __future__ import annotations

import multiprocessing
import signal
from typing import Any

from aiohttp import web

from ops import bootstrap
from ops.settings import load_settings


def serve(host: str, port: int, reuse_port: bool) -> None:
    settings = load_settings()
    engine = bootstrap.engine_for(settings)
    try:
        web.run_app(
            bootstrap.http_app(settings, engine),
            host=host,
            port=port,
            reuse_port=reuse_port,
            print=None,
        )
    finally:
        engine.dispose()


def run_api(host: str, port: int, processes: int) -> None:
    if processes <= 1:
        serve(host, port, reuse_port=False)
        return
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=serve, args=(host, port, True), name=f"ordersync-api-{i}")
        for i in range(1, processes)
    ]
    for child in children:
        child.start()

    def stop_children(*_: Any) -> None:
        for child in children:
            if child.is_alive():
                child.terminate()  # SIGTERM: aiohttp shuts down gracefully

    signal.signal(signal.SIGTERM, lambda *a: (stop_children(), signal.raise_signal(signal.SIGINT)))
    try:
        serve(host, port, reuse_port=True)
    finally:
        stop_children()
        for child in children:
            child.join(15)
