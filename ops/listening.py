"""Serve an aiohttp app on sockets bound here, then log the address really bound.

`--port 0` lets the kernel pick a free port: the process binds it itself and logs
`… listening on http://HOST:PORT` once it serves, so whoever started it (a test, a
script) reads the port from the log instead of guessing one that another process
may take in between.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

from aiohttp import web

BACKLOG = 128


def bind(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Listening sockets on host:port, one per address the host resolves to (port 0: the
    first address only, on a port the kernel picks). reuse_port: SO_REUSEPORT, so several
    processes share a fixed port."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    addresses = list(dict.fromkeys((family, address) for family, _, _, _, address in infos))
    if port == 0:
        addresses = addresses[:1]
    sockets: list[socket.socket] = []
    try:
        for family, address in addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6 and len(addresses) > 1:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    app: web.Application,
    sockets: list[socket.socket],
    *,
    log: logging.Logger,
    what: str,
    **run_app: Any,
) -> None:
    """web.run_app on the bound sockets (SIGTERM and SIGINT: a graceful shutdown); once every
    site serves, log `WHAT listening on URL`, one line per socket."""

    def serving(_: str) -> None:  # run_app's print hook: called after its sites started
        for sock in sockets:
            log.info("%s listening on %s", what, url_of(sock))

    web.run_app(app, sock=sockets, print=serving, **run_app)
