"""The database goes away under load: the API answers 503 + Retry-After, never 500, writes
nothing by halves, and comes back by itself.

The real `ordersync api` process reaches PostgreSQL through a NetCut proxy; a few threads
send orders, reads, readiness probes and unknown-key requests (the API key lookup) while the
proxy is cut. The cut lasts ORDERSYNC_OUTAGE_CUT_S seconds (10 by default, enough in CI; the
issue's own run was 45: `ORDERSYNC_OUTAGE_CUT_S=45 pytest tests/e2e/test_api_database_outage.py`).
"""

from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from adapters.db import registry
from tests.e2e.processes import listening_url, start, wait_until
from tests.factories import order_doc
from tests.netcut import NetCut, via

pytestmark = pytest.mark.e2e

ADMIN = "e2e-admin-token-0123456789"
CUT_S = float(os.environ.get("ORDERSYNC_OUTAGE_CUT_S", "10"))
THREADS = 4
PAUSE_S = 0.02  # between one thread's rounds: a steady load, not a flood of 503s to retry
LINES = [("OUT-A", 1), ("OUT-B", 2)]
# What each kind of request may answer: its success, or 503 while the database is away.
EXPECTED = {"post": {201, 503}, "get": {200, 503}, "ready": {200, 503}, "unknown-key": {401, 503}}
# A well-formed key nobody owns: looked up in the database on every request (never cached).
UNKNOWN_KEY = "osk_ch_0123456789ab_" + "x" * 43


@dataclass(frozen=True)
class Answer:
    kind: str
    phase: str  # "up", "cut" or "restored", when the request was sent
    status: int  # -1: no HTTP answer at all
    retry_after: str | None
    external_id: str | None = None
    order_id: str | None = None


@dataclass
class Api:
    base: str
    key: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
def api(database_url: str, engine: sa.Engine, cut: NetCut) -> Iterator[Api]:
    with engine.begin() as conn:
        key = registry.add_channel(conn, "web", "canonical", rate_limit_per_minute=0)
    process = start(
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        database_url=via(database_url, cut),
        ORDERSYNC_ADMIN_TOKEN=ADMIN,
    )
    log = Path(process.log_path)  # type: ignore[attr-defined]
    try:
        api = Api(listening_url(process), key, process, log)
        wait_until(lambda: _status(f"{api.base}/readyz") == 200, 30, "the API to be ready")
        yield api
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.TransportError:
        return -1


class Load:
    """Threads sending a steady mix of requests until stopped; every answer is recorded."""

    def __init__(self, api: Api, known_order: str) -> None:
        self.api, self.known_order = api, known_order
        self.phase = "up"
        self.answers: list[Answer] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(THREADS)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def count(self, kind: str, phase: str, statuses: set[int]) -> int:
        return sum(
            1
            for a in list(self.answers)
            if (a.kind, a.phase) == (kind, phase) and a.status in statuses
        )

    def _run(self, n: int) -> None:
        channel = {"Authorization": f"Bearer {self.api.key}"}
        unknown = {"Authorization": f"Bearer {UNKNOWN_KEY}"}
        # The timeout only bounds a hung request; a request that hits it is recorded as -1.
        with httpx.Client(base_url=self.api.base, timeout=30) as client:
            i = 0
            while not self._stop.is_set():
                i += 1
                self._stop.wait(PAUSE_S)
                ext = f"OUT-{n}-{i}"
                self._send(
                    client,
                    "post",
                    ext,
                    "POST",
                    "/v1/orders",
                    json=order_doc(ext, LINES),
                    headers={**channel, "X-Correlation-ID": ext},
                )
                self._send(
                    client, "get", None, "GET", f"/v1/orders/{self.known_order}", headers=channel
                )
                self._send(client, "ready", None, "GET", "/readyz")
                self._send(
                    client,
                    "unknown-key",
                    None,
                    "GET",
                    f"/v1/orders/{self.known_order}",
                    headers=unknown,
                )

    def _send(
        self, client: httpx.Client, kind: str, ext: str | None, *args: Any, **kw: Any
    ) -> None:
        phase = self.phase
        try:
            response = client.request(*args, **kw)
        except httpx.TransportError:
            self.answers.append(Answer(kind, phase, -1, None, ext))
            return
        order_id = response.json().get("id") if response.status_code == 201 else None
        retry_after = response.headers.get("Retry-After")
        self.answers.append(Answer(kind, phase, response.status_code, retry_after, ext, order_id))


def test_a_database_outage_under_load_is_503_never_500_and_heals_itself(
    api: Api, cut: NetCut, engine: sa.Engine
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN}"}
    stock = {
        "adjustments": [
            {"sku": sku, "location": "WH-EAST", "set_on_hand": 1_000_000} for sku, _ in LINES
        ]
    }
    stocked = httpx.post(
        f"{api.base}/v1/inventory/adjustments",
        json=stock,
        headers={**admin, "X-Correlation-ID": "OUT-STOCK"},
    )
    assert stocked.status_code == 200, stocked.text
    first = httpx.post(
        f"{api.base}/v1/orders",
        json=order_doc("OUT-FIRST", LINES),
        headers={"Authorization": f"Bearer {api.key}", "X-Correlation-ID": "OUT-FIRST"},
    )
    assert first.status_code == 201, first.text

    with Load(api, first.json()["id"]) as load:
        wait_until(lambda: load.count("post", "up", {201}) >= 10, 60, "orders before the cut")
        load.phase = "cut"
        cut.cut()
        assert cut.is_refusing()
        time.sleep(CUT_S)  # the outage itself; nothing is timed against it
        load.phase = "restored"
        accepted_before_restore = cut.accepted
        cut.restore()
        # Recovered by itself: orders, reads and readiness succeed again, on new connections.
        for kind, ok in (("post", 201), ("get", 200), ("ready", 200)):
            wait_until(
                lambda k=kind, s=ok: load.count(k, "restored", {s}) >= 20,
                120,
                f"{kind} to succeed after the restore",
            )
    assert api.process.poll() is None, "the API died during the outage:\n" + api.log_tail()
    assert cut.accepted > accepted_before_restore

    answers = load.answers
    by_status = collections.Counter((a.kind, a.phase, a.status) for a in answers)
    unexpected = [a for a in answers if a.status not in EXPECTED[a.kind]]
    assert not unexpected, (
        f"{len(unexpected)} unexpected answers, e.g. {unexpected[:5]}; all: {by_status}\n"
        + api.log_tail()
    )
    without_retry_after = [a for a in answers if a.status == 503 and not a.retry_after]
    assert not without_retry_after, "503 without Retry-After: " + str(
        collections.Counter((a.kind, a.phase) for a in without_retry_after)
    )
    for kind in EXPECTED:  # the cut bit every kind of request that reaches the database
        assert by_status[(kind, "cut", 503)] > 0, f"no 503 for {kind} during the cut: {by_status}"
    # After the restore, it stays recovered: each kind's last answers all succeed.
    for kind, ok in (("post", 201), ("get", 200), ("ready", 200), ("unknown-key", 401)):
        last = [a.status for a in answers if a.kind == kind][-5:]
        assert last == [ok] * 5, f"{kind} after the restore: {last}"

    created = {a.external_id: a.order_id for a in answers if a.status == 201}
    refused = sorted(str(a.external_id) for a in answers if a.kind == "post" and a.status == 503)
    _assert_each_order_whole_or_absent(
        engine, {"OUT-FIRST": first.json()["id"], **created}, set(refused)
    )

    # The client's way out of a 503: send the same order again. It is then there exactly once,
    # whether the first try was written (200, the stored order) or not (201).
    def again(ext: str) -> httpx.Response:
        return httpx.post(
            f"{api.base}/v1/orders",
            json=order_doc(ext, LINES),
            headers={"Authorization": f"Bearer {api.key}", "X-Correlation-ID": f"{ext}-again"},
            timeout=30,
        )

    with ThreadPoolExecutor(8) as pool:
        for ext, response in zip(refused, pool.map(again, refused), strict=True):
            assert response.status_code in (200, 201), response.text
            created[ext] = response.json()["id"]
    _assert_each_order_whole_or_absent(engine, {"OUT-FIRST": first.json()["id"], **created}, set())
    print(f"\nanswers by (kind, phase, status): {dict(sorted(by_status.items()))}")


def _assert_each_order_whole_or_absent(
    engine: sa.Engine, created: dict[str | None, str | None], refused: set[str]
) -> None:
    """Every order answered 201 is stored whole; an order refused with 503 is stored whole
    (its COMMIT went through before the connection died) or not at all; nothing else exists."""
    with engine.connect() as conn:
        orders = _pairs(conn, "SELECT external_id, id::text FROM orders WHERE channel = 'web'")
        lines = _pairs(conn, "SELECT order_id::text, count(*) FROM order_lines GROUP BY 1")
        reserved = _pairs(conn, "SELECT order_id::text, sum(quantity) FROM reservations GROUP BY 1")
        # Every event an order's transaction wrote carries its request's correlation id.
        # (customer.updated left out: only the first order of the e-mail writes it.)
        events = _pairs(
            conn,
            "SELECT correlation_id, count(*) FROM outbox_events"
            " WHERE event_type <> 'customer.updated' GROUP BY 1",
        )
        ledger = _pairs(
            conn,
            "SELECT e.correlation_id, count(*) FROM outbox_deliveries d"
            " JOIN outbox_events e ON e.event_id = d.event_id"
            " WHERE e.event_type <> 'customer.updated' GROUP BY 1",
        )
        stock_reserved = conn.execute(sa.text("SELECT sum(reserved) FROM stock")).scalar_one()
        all_reservations = conn.execute(
            sa.text("SELECT coalesce(sum(quantity), 0) FROM reservations")
        ).scalar_one()
    for ext, order_id in created.items():
        assert orders.get(str(ext)) == order_id, f"order {ext} answered 201 is not stored"
    assert set(orders) <= set(created) | refused, set(orders) - set(created) - refused
    reference = orders["OUT-FIRST"]
    assert lines[reference] == len(LINES) and reserved[reference] == sum(q for _, q in LINES)
    assert events["OUT-FIRST"] > 0 and ledger["OUT-FIRST"] > events["OUT-FIRST"]
    for ext, order_id in orders.items():
        assert lines.get(order_id) == lines[reference], f"order {ext}: lines"
        assert reserved.get(order_id) == reserved[reference], f"order {ext}: reservations"
    correlations = {c for c in events if c is not None}
    stored_requests = {"OUT-STOCK"} | set(orders) | {f"{e}-again" for e in orders}
    assert correlations <= stored_requests, (
        f"events without their order: {correlations - stored_requests}"
    )
    for ext in orders:
        written = events.get(ext, 0) + events.get(f"{ext}-again", 0)
        assert written == events["OUT-FIRST"], f"order {ext}: {written} outbox events"
        rows = ledger.get(ext, 0) + ledger.get(f"{ext}-again", 0)
        assert rows == ledger["OUT-FIRST"], f"order {ext}: {rows} ledger rows"
    # The stock rows were written in the same transactions as the reservations.
    assert stock_reserved == all_reservations


def _pairs(conn: sa.Connection, sql: str) -> dict[Any, Any]:
    return {row[0]: row[1] for row in conn.execute(sa.text(sql))}
