"""The real app served on 127.0.0.1 (port 0) in a thread of its own, for synchronous tests.

Hypothesis and schemathesis drive synchronous code; the app runs on its own event
loop in a background thread, over the test's real PostgreSQL engine, and the test
talks to it over a real socket, as a client would.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from aiohttp import web
from hypothesis import HealthCheck, settings

from adapters.http.keys import HttpConfig
from ops.bootstrap import product_app

# Small and derandomized in CI (a run takes seconds and repeats itself); HYPOTHESIS_PROFILE=dev
# by hand for a real search. Same names as tests/unit/conftest.py.
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")


def fuzz_settings(ci_examples: int, dev_examples: int) -> settings:
    """Hypothesis settings for a test over the live app, by HYPOTHESIS_PROFILE."""
    dev = PROFILE == "dev"
    return settings(
        max_examples=dev_examples if dev else ci_examples,
        derandomize=not dev,
        deadline=None,
        database=None,  # no example database: CI runs are the same every time
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


@contextmanager
def serve(engine: sa.Engine, config: HttpConfig) -> Iterator[str]:
    """Serve the product's app (ops.bootstrap.product_app) on 127.0.0.1:<free port>;
    yields the base URL."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(product_app(engine, config, threads=8))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["runner"] = runner
        state["port"] = runner.addresses[0][1]

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as error:  # reported to the test thread below
            state["error"] = error
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(state["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=main, name="live-app", daemon=True)
    thread.start()
    started.wait(30)
    if "error" in state:
        raise state["error"]
    try:
        yield f"http://127.0.0.1:{state['port']}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


class Reply:
    """A raw HTTP response: status, headers (lower-case names), body text."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def raw_request(
    base_url: str,
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
) -> Reply:
    """Send one request with header bytes exactly as given (no client re-encodes them).

    Host, Connection: close and Content-Length go first, so that whatever the given
    bytes do to the framing, the server answers once and closes.
    """
    import socket

    host, port = base_url.removeprefix("http://").split(":")
    head = [
        f"{method} {path} HTTP/1.1".encode(),
        f"Host: {host}".encode(),
        b"Connection: close",
        f"Content-Length: {len(body)}".encode(),
        *(name + b": " + value for name, value in headers),
    ]
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        try:
            sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        except OSError:
            pass  # the server answered early and closed: read the answer below
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # closed with our unread bytes: what arrived before is the answer
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, payload = rest.partition(b"\r\n\r\n")
    parsed = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), parsed, payload)
