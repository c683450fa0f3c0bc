"""The dashboard in a real headless browser (Debian's chromium, driven by Playwright — no
browser download) against a started `ordersync api` over a seeded database: the login, the
overview's numbers, an order's timeline with every delivery, a confirmed action, no console
error anywhere, and a screenshot of each page kept as a test artifact."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.dashboard_seed import TRACE_ID, Seeded, seed
from tests.e2e.processes import listening_url, start, stop

pytestmark = pytest.mark.e2e
ADMIN = "e2e-dashboard-token-0123456789"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def api(database_url: str) -> Iterator[str]:
    process = start(
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        database_url=database_url,
        ORDERSYNC_ADMIN_TOKEN=ADMIN,
    )
    try:
        yield listening_url(process)
    finally:
        stop(process)


@pytest.fixture
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            "Debian's chromium is not installed (apt-get install -y chromium); "
            "CI installs it (.ci/browser.sh)"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def metric(page: Any, name: str) -> str:
    return str(page.locator(f'[data-metric="{name}"]').inner_text()).strip()


def test_the_dashboard_in_a_browser_shows_the_seeded_numbers_and_every_delivery(
    api: str, engine: sa.Engine, chromium: Any
) -> None:
    seeded: Seeded = seed(engine, api, ADMIN)
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda r: problems.append(f"{r.url}: {r.failure}"))

    page.goto(f"{api}/dashboard")
    assert "/dashboard/login" in page.url  # no session yet
    page.fill('input[name="token"]', "not-the-token")
    page.click('button[type="submit"]')
    assert page.locator('[role="alert"]').inner_text() == "That is not the admin token."
    # The browser reports the 401 it was answered, and that is all it reports.
    assert problems == [
        "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
    ]
    problems.clear()
    page.fill('input[name="token"]', ADMIN)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{api}/dashboard")

    assert metric(page, "delayed-orders") == "2"
    assert metric(page, "money-at-risk-EUR") == "16.03"
    assert metric(page, "money-at-risk-USD") == "26.03"
    assert metric(page, "orders-web-allocated") == "2"
    assert metric(page, "orders-web-backordered") == "2"
    assert metric(page, "orders-shop2-fulfilled") == "1"
    assert metric(page, "dead-wms") == "1"
    assert metric(page, "slo-inventory_sync") == "50.0%"
    assert metric(page, "slo-shipment_update") == "0.0%"
    for destination, backlog in seeded.unpublished.items():
        assert metric(page, f"lag-{destination}") == str(backlog)
    assert page.locator("svg rect").count() >= 3  # the charts drew bars
    screenshot(page, "dashboard-overview.png")

    # The delayed order's link opens its timeline: every delivery of the ledger is drawn.
    order = seeded.orders["SHOP-1"]
    page.click(f'[data-delayed-order="{order}"] a')
    page.wait_for_url(f"{api}/dashboard/orders/{order}")
    with engine.connect() as conn:
        ledger = conn.execute(
            sa.text(
                "SELECT event_id, destination, status FROM outbox_deliveries"
                " WHERE aggregate_id = :a"
            ),
            {"a": order},
        ).all()
    assert page.locator("[data-delivery]").count() == len(ledger) > 0
    for row in ledger:
        cells = page.locator(f'[data-delivery="{row.event_id}/{row.destination}"] td')
        assert cells.nth(1).inner_text() == row.status
    assert metric(page, "delivery-count") == str(len(ledger))
    assert metric(page, "trace-ids") == TRACE_ID
    screenshot(page, "dashboard-order.png")

    # A button asks first, then acts: the breaker is paused and the audit says who.
    page.goto(f"{api}/dashboard")
    page.locator('form[action="/dashboard/actions/pause"]:has(input[value="crm"]) button').click()
    page.fill('input[name="reason"]', "browser test")
    page.click('button:has-text("Pause")')
    assert "crm is paused: browser test" in page.inner_text("main")
    with engine.connect() as conn:
        entry = conn.execute(sa.text("SELECT action, actor FROM audit_log")).one()
    assert tuple(entry) == ("destination.pause", "dashboard")

    assert problems == [], problems  # no console error, no failed request, on any page
    page.close()
