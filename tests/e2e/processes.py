"""Start ordersync processes as an operator would, and wait on conditions.

Servers are started on `--port 0` and bind a free port themselves; `listening_url` reads the
address they bound from their log (`… listening on http://HOST:PORT`), so no port is picked
here and then taken by another process before the server binds it.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

CLI = str(Path(sys.executable).parent / "ordersync")
# Every process started, in order: a failing test's report shows the logs of its own.
STARTED: list[subprocess.Popen[bytes]] = []
# In a text line or a JSON one (ORDERSYNC_LOG_FORMAT): the URL ends before the closing quote.
LISTENING = re.compile(r" listening on (http://[^\s\"]+)")


def start(
    *args: str,
    database_url: str,
    broker_url: str | None = None,
    command: Sequence[str] = (CLI,),
    **env: str,
) -> subprocess.Popen[bytes]:
    """Start `ordersync ARGS…` (or `command ARGS…`, a wrapper that ends in the CLI: the
    benchmarks' listeners). Its log goes to a file: a pipe nobody reads fills up and then
    blocks every thread of the process that logs."""
    environment = {**os.environ, "ORDERSYNC_DATABASE_URL": database_url, **env}
    if broker_url:
        environment["ORDERSYNC_BROKER_URL"] = broker_url
    log = tempfile.NamedTemporaryFile(prefix=f"ordersync-{args[0]}-", suffix=".log", delete=False)
    with log:
        process = subprocess.Popen([*command, *args], env=environment, stdout=log, stderr=log)
    process.log_path = log.name  # type: ignore[attr-defined]
    STARTED.append(process)
    return process


def log_of(process: subprocess.Popen[bytes]) -> str:
    """What a process started by `start` has logged so far."""
    return Path(process.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


def wait_until(
    condition: Callable[[], bool], timeout: float, what: str, step: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(step)


def stop(process: subprocess.Popen[bytes], timeout: float = 20) -> int:
    """SIGTERM, then wait; returns the exit code."""
    if process.poll() is None:
        process.terminate()
    return process.wait(timeout)


def listening_urls(process: subprocess.Popen[bytes], timeout: float = 30) -> list[str]:
    """The addresses a server started by `start` logged it listens on, once it has logged
    at least one (every process of an `api --processes N` logs its own line)."""
    found: list[str] = []
    name = "ordersync " + " ".join(map(str, process.args[1:2]))  # type: ignore[index]

    def logged() -> bool:
        found[:] = LISTENING.findall(log_of(process))
        if not found and process.poll() is not None:
            raise AssertionError(
                f"{name} exited ({process.returncode}) before listening:\n"
                + log_of(process)[-4000:]
            )
        return bool(found)

    wait_until(logged, timeout, f"{name} to listen")
    return found


def listening_url(process: subprocess.Popen[bytes], timeout: float = 30) -> str:
    """The address a server started by `start` (on --port 0) bound and serves on."""
    return listening_urls(process, timeout)[0]


@contextlib.contextmanager
def reserved_port(host: str = "127.0.0.1") -> Iterator[int]:
    """A port held bound (never listening) with SO_REUSEPORT while the block runs: only
    processes of this user that bind it with SO_REUSEPORT too (`api --processes N`) can
    take it, and only their listening sockets get its connections."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        holder.bind((host, 0))
        yield int(holder.getsockname()[1])
