"""A dashboard session is good in every process of `ordersync api --processes N`: the
cookie carries the session (signed), so whichever process the kernel hands a connection
to (SO_REUSEPORT) knows it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.processes import listening_urls, reserved_port, start, stop, wait_until

pytestmark = pytest.mark.e2e
ADMIN = "e2e-dashboard-token-0123456789"
CONNECTIONS = 30  # each a new one: the odds that one process takes them all are 2^-29


@pytest.fixture
def two_processes(database_url: str) -> Iterator[str]:
    with contextlib.ExitStack() as held:
        port = held.enter_context(reserved_port())
        process = start(
            "api",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--processes",
            "2",
            database_url=database_url,
            ORDERSYNC_ADMIN_TOKEN=ADMIN,
        )
        try:
            wait_until(lambda: len(listening_urls(process)) == 2, 30, "two API processes")
            yield f"http://127.0.0.1:{port}"
        finally:
            stop(process)


def test_a_session_opened_in_one_process_is_good_in_the_other(two_processes: str) -> None:
    login = httpx.post(
        f"{two_processes}/dashboard/login", data={"token": ADMIN, "next": "/dashboard"}
    )
    assert login.status_code == 303, login.text
    cookie = re.match(r"ordersync_dashboard=([^;]+)", login.headers["set-cookie"])
    assert cookie
    statuses = []
    for _ in range(CONNECTIONS):
        with httpx.Client(cookies={"ordersync_dashboard": cookie.group(1)}) as fresh:
            statuses.append(fresh.get(f"{two_processes}/dashboard").status_code)
    assert statuses == [200] * CONNECTIONS
