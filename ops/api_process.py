"""`ordersync api`: one or more aiohttp server processes on one port (SO_REUSEPORT).

An aiohttp process runs Python on one core at a time; on a machine with more
cores, several processes share the port and the kernel spreads connections
between them (docs/benchmarks.md measures 1 and 2 processes).

Each process binds its socket itself and logs `ordersync api listening on URL` once it
serves; `--port 0` (one process only) takes a port the kernel picks, read from that line.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
from typing import Any

from ops import bootstrap, listening, logs, telemetry
from ops.settings import load_settings

log = logging.getLogger("ordersync.api")
ONE_PROCESS_ON_PORT_0 = (
    "--port 0 (a free port the kernel picks) serves one process; "
    "--processes N share a fixed port (SO_REUSEPORT)"
)


def serve(host: str, port: int, reuse_port: bool) -> None:
    settings = load_settings()
    telemetry.configure("ordersync-api")  # before the app is made: it instruments aiohttp
    sockets = listening.bind(host, port, reuse_port=reuse_port)
    engine = bootstrap.engine_for(settings)
    try:
        # The app logs each request itself (adapters/http/correlation.py), with its
        # correlation id: aiohttp's access log would say it twice.
        listening.serve(
            bootstrap.http_app(settings, engine),
            sockets,
            log=log,
            what="ordersync api",
            access_log=None,
        )
    finally:
        engine.dispose()
        for sock in sockets:
            sock.close()


def serve_child(host: str, port: int, level: int, log_format: str) -> None:
    """serve() in a spawned process, logging as its parent does (a spawned process starts
    with logging unconfigured: its `listening on` line would be lost)."""
    logs.configure(level, log_format, sys.stderr)
    serve(host, port, reuse_port=True)


def run_api(host: str, port: int, processes: int) -> None:
    if port == 0 and processes > 1:
        raise ValueError(ONE_PROCESS_ON_PORT_0)
    if processes <= 1:
        serve(host, port, reuse_port=False)
        return
    context = multiprocessing.get_context("spawn")
    logging_as = (logging.getLogger().level, logs.current_format() or "json")
    children = [
        context.Process(
            target=serve_child, args=(host, port, *logging_as), name=f"ordersync-api-{i}"
        )
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
