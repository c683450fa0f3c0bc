"""The dashboard's pages: login and logout, the overview, an order's timeline."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from adapters.db.dead_letters import list_dead_letters
from adapters.http.keys import CONFIG, ENGINE
from adapters.http.threads import run
from domain.slo import UNALLOCATED_AFTER_SECONDS
from domain.status import OrderStatus
from ops.dashboard import compliance, delays, overview, session
from ops.dashboard.forms import form, page, safe_next, see_other
from ops.dashboard.order_view import order_view
from ops.dashboard.pages import bars, render
from ops.dashboard.session import Session
from ops.dashboard.snapshot import snapshot
from ops.dashboard.throttle import wait_before_login

DEAD_LETTERS_LISTED = 20
log = logging.getLogger("ordersync.dashboard")


async def login_page(request: web.Request) -> web.StreamResponse:
    if session.current(request) is not None:
        return see_other(safe_next(request.query.get("next")))
    closed = not request.app[CONFIG].admin_token
    return render(
        "login.html",
        None,
        status=403 if closed else 200,
        error=None,
        closed=closed,
        next=safe_next(request.query.get("next")),
    )


async def login(request: web.Request) -> web.StreamResponse:
    """A good admin token: a session cookie and on to the page asked for. Anything else:
    the login page again, 401, and no cookie."""
    sent = form(request)
    target = safe_next(sent.get("next"))
    if not request.app[CONFIG].admin_token:
        return render("login.html", None, status=403, error=None, closed=True, next=target)
    wait = wait_before_login(request)
    if wait is not None:
        log.warning("dashboard login throttled (from %s)", request.remote)
        throttled = render(
            "login.html",
            None,
            status=429,
            error=f"Too many attempts from this address: try again in {wait} s.",
            closed=False,
            next=target,
        )
        throttled.headers["Retry-After"] = str(wait)
        return throttled
    if not session.token_matches(request, sent.get("token", "")):
        # Who tried, never what they typed.
        log.warning("dashboard login refused: not the admin token (from %s)", request.remote)
        return render(
            "login.html",
            None,
            status=401,
            error="That is not the admin token.",
            closed=False,
            next=target,
        )
    response = see_other(target)
    opened = session.start(request, response)
    log.info("dashboard session %s opened (from %s)", opened.id[:8], request.remote)
    return response


@page
async def logout(request: web.Request, _: Session) -> web.StreamResponse:
    response = see_other("/dashboard/login")
    session.end(response)
    return response


def overview_data(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    """Everything the overview shows (read in one snapshot: ops.dashboard.snapshot)."""
    by_channel = overview.orders_by_channel(conn)
    lag = overview.outbox_lag(conn, now)
    dead = overview.dead_letters_by_destination(conn)
    letters = list_dead_letters(conn, limit=DEAD_LETTERS_LISTED)
    for letter in letters:
        letter["order_id"] = delays.order_id_of(letter["aggregate_type"], letter["aggregate_id"])
    present = {status for counts in by_channel.values() for status in counts}
    return {
        "now": now,
        "by_channel": by_channel,
        "statuses": [s.value for s in OrderStatus if s.value in present],
        "channel_bars": bars({c: sum(v.values()) for c, v in by_channel.items()}),
        "delayed": delays.delayed_orders(conn, now),
        "unallocated_after": UNALLOCATED_AFTER_SECONDS,
        "compliance": compliance.compliance(conn, now),
        "slo_window": compliance.WINDOW.total_seconds(),
        "lag": lag,
        "lag_bars": bars({row["destination"]: row["backlog"] for row in lag}),
        "dead": dead,
        "dead_bars": bars(dead),
        "dead_letters": letters,
        "destinations": overview.destinations(conn),
    }


def _read_snapshot(engine: sa.Engine, read: Any, *args: Any) -> Any:
    with snapshot(engine) as conn:
        return read(conn, *args)


@page
async def overview_page(request: web.Request, found: Session) -> web.StreamResponse:
    now = datetime.now(UTC)
    data = await run(request, _read_snapshot, request.app[ENGINE], overview_data, now)
    return render("overview.html", found, refresh=True, **data)


@page
async def order_page(request: web.Request, found: Session) -> web.StreamResponse:
    try:
        order_id = uuid.UUID(request.match_info["order_id"])
    except ValueError:
        order_id = None
    data = None
    if order_id is not None:
        data = await run(request, _read_snapshot, request.app[ENGINE], order_view, order_id)
    if data is None:
        return render(
            "message.html",
            found,
            status=404,
            title="No such order",
            text=f"There is no order {request.match_info['order_id']!r}.",
            failed=True,
            details={},
            back="/dashboard",
        )
    return render("order.html", found, refresh=True, **data)
