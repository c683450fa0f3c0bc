"""Start ordersync processes as an operator would, and wait on conditions."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CLI = str(Path(sys.executable).parent / "ordersync")
# Every process started, in order: a failing test's report shows the logs of its own.
STARTED: list[subprocess.Popen[bytes]] = []


def start(
    *args: str, database_url: str, broker_url: str | None = None, **env: str
) -> subprocess.Popen[bytes]:
    """Start `ordersync ARGS…`. Its log goes to a file: a pipe nobody reads fills up and
    then blocks every thread of the process that logs."""
    environment = {**os.environ, "ORDERSYNC_DATABASE_URL": database_url, **env}
    if broker_url:
        environment["ORDERSYNC_BROKER_URL"] = broker_url
    log = tempfile.NamedTemporaryFile(prefix=f"ordersync-{args[0]}-", suffix=".log", delete=False)
    with log:
        process = subprocess.Popen([CLI, *args], env=environment, stdout=log, stderr=log)
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
