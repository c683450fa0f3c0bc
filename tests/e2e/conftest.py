"""A failing process test shows the logs of the processes it started (the last lines of
each), so a failure in CI can be read without the machine."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest
import sqlalchemy as sa

from tests.e2e.processes import STARTED, log_of
from tests.e2e.stack import Stack

LOG_TAIL_LINES = 80


@pytest.fixture(autouse=True)
def _process_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    request.node.stash[_FIRST] = len(STARTED)
    yield


_FIRST = pytest.StashKey[int]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if not report.failed or _FIRST not in item.stash:
        return
    for process in STARTED[item.stash[_FIRST] :]:
        lines = log_of(process).splitlines()[-LOG_TAIL_LINES:]
        title = f"ordersync {' '.join(map(str, process.args[1:2]))} (pid {process.pid})"
        report.sections.append((f"log of {title}", "\n".join(lines)))


@pytest.fixture
def stack(
    request: pytest.FixtureRequest, engine: sa.Engine, database_url: str, broker_url: str
) -> Iterator[Stack]:
    """The whole stack on this test's database and vhost (not started: Stack.up), taken
    down after; a module's STACK_ENV is laid over the stack's settings."""
    extra = getattr(request.module, "STACK_ENV", {})
    stack = Stack(engine, database_url, broker_url, extra_env=dict(extra))
    try:
        yield stack
    finally:
        stack.down()
