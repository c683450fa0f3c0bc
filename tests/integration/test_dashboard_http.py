"""The dashboard over HTTP against real PostgreSQL: the login and its cookie, CSRF on every
POST, the pages' numbers, and each button doing what /ops does, audited as "dashboard"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adapters.http.keys import HttpConfig
from tests.dashboard_seed import TRACE_ID, Seeded, seed
from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.live import serve

pytestmark = pytest.mark.integration
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def base_url(engine: sa.Engine) -> Iterator[str]:
    with serve(engine, HttpConfig(admin_token=ADMIN_TOKEN, secret_key="k" * 32)) as url:
        yield url


@pytest.fixture
def seeded(engine: sa.Engine, base_url: str) -> Seeded:
    return seed(engine, base_url, ADMIN_TOKEN)


@pytest.fixture
def browser(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as client:
        yield client


def log_in(browser: httpx.Client) -> str:
    """Log in with the admin token; returns the session's CSRF token (from a page's form)."""
    response = browser.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": "/dashboard"})
    assert response.status_code == 303, response.text
    page = browser.get("/dashboard")
    assert page.status_code == 200, page.text
    return CSRF.findall(page.text)[0]


def metric(html: str, name: str) -> str:
    found = re.search(rf'data-metric="{re.escape(name)}">([^<]*)<', html)
    assert found, f"no {name} on the page"
    return found.group(1).strip()


def audit(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM audit_log ORDER BY id")))


def one(engine: sa.Engine, sql: str, **params: Any) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.text(sql), params).one()


def test_every_dashboard_page_sends_a_browser_without_a_session_to_the_login(
    browser: httpx.Client,
) -> None:
    for path in ("/dashboard", "/dashboard/orders/8a0f7d8e-1111-4222-8333-444455556666"):
        response = browser.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/dashboard/login?next=%2Fdashboard")
    login = browser.get("/dashboard/login")
    assert login.status_code == 200 and 'name="token"' in login.text
    assert "default-src 'none'" in login.headers["content-security-policy"]


def test_a_wrong_token_is_the_login_page_again_with_401_and_no_cookie(
    browser: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="ordersync.dashboard"):
        response = browser.post(
            "/dashboard/login", data={"token": "not-it-0123", "next": "/dashboard"}
        )
    assert response.status_code == 401
    (refused,) = [r for r in caplog.records if r.name == "ordersync.dashboard"]
    assert "login refused" in refused.getMessage()
    assert "not-it-0123" not in caplog.text  # what was typed is never logged
    assert "not the admin token" in response.text
    assert "set-cookie" not in response.headers
    assert browser.get("/dashboard").status_code == 303


def test_login_attempts_from_one_address_are_throttled_the_right_token_too(
    browser: httpx.Client,
) -> None:
    from ops.dashboard.throttle import ATTEMPTS_PER_MINUTE, BURST_S

    burst = int(ATTEMPTS_PER_MINUTE / 60 * BURST_S)
    answers = [
        browser.post("/dashboard/login", data={"token": f"guess-{i}"}).status_code
        for i in range(burst)
    ]
    assert answers == [401] * burst
    response = browser.post("/dashboard/login", data={"token": ADMIN_TOKEN})
    assert response.status_code == 429  # not even checked: a script learns nothing
    assert int(response.headers["retry-after"]) >= 1
    assert "Too many attempts" in response.text and "set-cookie" not in response.headers
    assert browser.get("/dashboard").status_code == 303


def test_the_session_cookie_is_httponly_samesite_strict_and_secure_only_over_https(
    browser: httpx.Client,
) -> None:
    response = browser.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": "/dashboard"})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard"
    cookie = response.headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes
    assert "SameSite=Strict" in cookie and "Path=/dashboard" in cookie
    assert "secure" not in attributes  # plain http: a Secure cookie would never come back
    behind_tls = browser.post(
        "/dashboard/login",
        data={"token": ADMIN_TOKEN},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "secure" in {p.strip().lower() for p in behind_tls.headers["set-cookie"].split(";")}


def test_a_forged_or_tampered_cookie_is_no_session(browser: httpx.Client) -> None:
    log_in(browser)
    (value,) = [c.value for c in browser.cookies.jar]
    for forged in (value[:-2] + ("AA" if not value.endswith("AA") else "BB"), "e30.forged.sig"):
        browser.cookies.clear()
        browser.cookies.set("ordersync_dashboard", forged, path="/dashboard")
        assert browser.get("/dashboard").status_code == 303


def test_logging_out_clears_the_cookie(browser: httpx.Client) -> None:
    csrf = log_in(browser)
    response = browser.post("/dashboard/logout", data={"csrf": csrf})
    assert response.status_code == 303
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert browser.get("/dashboard").status_code == 303


def test_the_login_goes_back_only_to_a_dashboard_page(browser: httpx.Client) -> None:
    for asked, went in (
        ("/dashboard/orders/x", "/dashboard/orders/x"),
        ("https://evil.example/", "/dashboard"),
        ("//evil.example/dashboard", "/dashboard"),
        ("/dashboard//evil.example", "/dashboard"),
    ):
        response = browser.post("/dashboard/login", data={"token": ADMIN_TOKEN, "next": asked})
        assert response.headers["location"] == went, asked


def test_a_post_without_this_sessions_csrf_token_is_refused_and_does_nothing(
    browser: httpx.Client, engine: sa.Engine, seeded: Seeded
) -> None:
    csrf = log_in(browser)
    form = {"destination": "erp", "confirm": "yes", "reason": "csrf test"}
    for sent in ({}, {"csrf": "not-" + csrf}):
        response = browser.post("/dashboard/actions/pause", data={**form, **sent})
        assert response.status_code == 403, response.text
    assert audit(engine) == []
    # Without a session at all: to the login, nothing done either.
    browser.cookies.clear()
    response = browser.post("/dashboard/actions/pause", data={**form, "csrf": csrf})
    assert response.status_code == 303 and "/dashboard/login" in response.headers["location"]
    assert audit(engine) == []
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM destinations")).scalar_one() == 0


def test_the_overview_shows_the_seeded_numbers(browser: httpx.Client, seeded: Seeded) -> None:
    log_in(browser)
    page = browser.get("/dashboard")
    html = page.text
    assert '<meta http-equiv="refresh"' in html
    assert metric(html, "orders-web-allocated") == "2"
    assert metric(html, "orders-web-backordered") == "2"
    assert metric(html, "orders-shop2-fulfilled") == "1"
    assert metric(html, "delayed-orders") == "2"
    assert metric(html, "money-at-risk-EUR") == "16.03"
    assert metric(html, "money-at-risk-USD") == "26.03"
    assert metric(html, "dead-wms") == "1"
    assert metric(html, "slo-inventory_sync") == "50.0%"
    assert metric(html, "slo-shipment_update") == "0.0%"
    for destination, backlog in seeded.unpublished.items():
        assert metric(html, f"lag-{destination}") == str(backlog)
    for order in ("WEB-3", "SHOP-1"):  # the delayed orders link to their timelines
        assert f'href="/dashboard/orders/{seeded.orders[order]}"' in html
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_the_order_page_draws_every_delivery_of_the_timeline(
    browser: httpx.Client, engine: sa.Engine, seeded: Seeded
) -> None:
    log_in(browser)
    order = seeded.orders["WEB-2"]
    html = browser.get(f"/dashboard/orders/{order}").text
    with engine.connect() as conn:
        ledger = conn.execute(
            sa.text(
                "SELECT d.event_id, d.destination FROM outbox_deliveries d"
                " WHERE d.aggregate_id = :a"
            ),
            {"a": order},
        ).all()
    drawn = set(re.findall(r'data-delivery="([^"]+)"', html))
    assert drawn == {f"{row.event_id}/{row.destination}" for row in ledger}
    assert metric(html, "delivery-count") == str(len(ledger))
    assert f'data-dead-letter="{seeded.dead_letter_id}"' in html
    # WEB-2 came untraced; SHOP-1's requests carried a traceparent.
    assert 'data-metric="trace-ids"><span class="muted">none recorded</span>' in html
    traced = browser.get(f"/dashboard/orders/{seeded.orders['SHOP-1']}").text
    assert re.findall(r'data-metric="trace-ids"><code>(\w+)</code>', traced) == [TRACE_ID]
    missing = browser.get("/dashboard/orders/8a0f7d8e-1111-4222-8333-444455556666")
    assert missing.status_code == 404


def test_requeue_asks_first_then_requeues_as_ops_does_audited_as_the_dashboard(
    browser: httpx.Client, engine: sa.Engine, seeded: Seeded
) -> None:
    csrf = log_in(browser)
    form = {"csrf": csrf, "dead_letter_id": str(seeded.dead_letter_id), "back": "/dashboard"}
    asked = browser.post("/dashboard/actions/requeue", data=form)
    assert asked.status_code == 200 and "Confirm: requeue dead letter" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert one(engine, "SELECT requeued_at FROM dead_letters").requeued_at is None
    done = browser.post("/dashboard/actions/requeue", data={**form, "confirm": "yes"})
    assert done.status_code == 200, done.text
    assert "1 requeued, 0 skipped." in done.text
    assert one(engine, "SELECT requeued_at FROM dead_letters").requeued_at is not None
    delivery = one(
        engine,
        "SELECT status, published_at FROM outbox_deliveries WHERE destination = 'wms'"
        " AND aggregate_id = :a AND sequence = 1",
        a=seeded.orders["WEB-2"],
    )
    assert (delivery.status, delivery.published_at) == ("pending", None)  # to the relay again
    (entry,) = audit(engine)
    assert (entry.action, entry.actor, entry.via, entry.outcome) == (
        "dlq.requeue",
        "dashboard",
        "http",
        "ok",
    )
    assert entry.filter["ids"] == [seeded.dead_letter_id]
    # Twice is skipped the way /ops skips it: the page says why, nothing is sent.
    again = browser.post("/dashboard/actions/requeue", data={**form, "confirm": "yes"})
    assert again.status_code == 200
    assert "0 requeued, 1 skipped." in again.text and "already requeued at" in again.text


def test_pause_and_resume_ask_first_and_act_on_the_breaker_audited(
    browser: httpx.Client, engine: sa.Engine, seeded: Seeded
) -> None:
    csrf = log_in(browser)
    asked = browser.post("/dashboard/actions/pause", data={"csrf": csrf, "destination": "erp"})
    assert asked.status_code == 200 and 'name="reason"' in asked.text
    assert audit(engine) == []
    paused = browser.post(
        "/dashboard/actions/pause",
        data={"csrf": csrf, "destination": "erp", "confirm": "yes", "reason": "ERP upgrade"},
    )
    assert paused.status_code == 200, paused.text
    assert one(engine, "SELECT state, reason FROM destinations WHERE name = 'erp'") == (
        "paused",
        "ERP upgrade",
    )
    assert metric(browser.get("/dashboard").text, "breaker-erp") == "paused"
    resumed = browser.post(
        "/dashboard/actions/resume", data={"csrf": csrf, "destination": "erp", "confirm": "yes"}
    )
    assert resumed.status_code == 200, resumed.text
    assert one(engine, "SELECT state FROM destinations WHERE name = 'erp'").state == "closed"
    entries = [(e.action, e.actor, e.detail) for e in audit(engine)]
    assert entries == [
        ("destination.pause", "dashboard", "ERP upgrade"),
        ("destination.resume", "dashboard", None),
    ]
    unknown = browser.post(
        "/dashboard/actions/pause", data={"csrf": csrf, "destination": "erpp", "confirm": "yes"}
    )
    assert unknown.status_code == 404 and "is not a destination" in unknown.text


def test_a_replay_is_a_dry_run_first_then_the_replay_both_audited(
    browser: httpx.Client, engine: sa.Engine, seeded: Seeded
) -> None:
    csrf = log_in(browser)
    order = seeded.orders["WEB-1"]
    form = {"csrf": csrf, "order": order, "mode": "redeliver"}
    asked = browser.post("/dashboard/actions/replay", data=form)
    assert asked.status_code == 200, asked.text
    assert "The dry run selects" in asked.text
    (dry,) = audit(engine)
    assert (dry.action, dry.actor, dry.dry_run, dry.filter["orders"]) == (
        "outbox.replay",
        "dashboard",
        True,
        [order],
    )
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replays")).scalar_one() == 0
    total = dry.counts["total"]
    assert total > 0 and f"selects {total} deliveries" in asked.text
    done = browser.post("/dashboard/actions/replay", data={**form, "confirm": "yes"})
    assert done.status_code == 200 and "Replay started" in done.text, done.text
    replay = one(engine, "SELECT id, mode, total, created_by FROM replays")
    assert (replay.mode, replay.total, replay.created_by) == ("redeliver", total, "dashboard")
    _, started = audit(engine)
    assert (started.action, started.actor, started.dry_run) == ("outbox.replay", "dashboard", False)
    bad = browser.post("/dashboard/actions/replay", data={**form, "mode": "everything"})
    assert bad.status_code == 422 and "mode" in bad.text


def test_the_dashboard_is_closed_without_an_admin_token(engine: sa.Engine) -> None:
    with serve(engine, HttpConfig(admin_token=None)) as url, httpx.Client(base_url=url) as http:
        page = http.get("/dashboard/login")
        assert page.status_code == 403 and "ORDERSYNC_ADMIN_TOKEN" in page.text
        refused = http.post("/dashboard/login", data={"token": ""})
        assert refused.status_code == 403 and "set-cookie" not in refused.headers


def test_the_html_routes_are_not_in_the_json_api_description(browser: httpx.Client) -> None:
    spec = browser.get("/openapi.json").json()
    assert not [path for path in spec["paths"] if path.startswith("/dashboard")]
