"""/ops over HTTP against real PostgreSQL: closed without a token, admin only, problem+json
errors, and every action in the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from adapters.http.keys import HttpConfig
from ops.bootstrap import product_app
from tests.integration.conftest import Keys
from tests.outbox_rows import write_orders

ADMIN = {**Keys.bearer(Keys.admin), "X-Operator": "anna"}


def applied_wms(engine: sa.Engine, aggregates: int = 3) -> None:
    """Orders whose wms deliveries are published and applied (as if the workers ran)."""
    write_orders(engine, aggregates=aggregates, events_each=2)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE outbox_deliveries SET published_at = now(), status = 'applied',"
                " applied_at = now()"
            )
        )


def audit_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM audit_log ORDER BY id")))


async def test_ops_is_closed_without_an_admin_token(aiohttp_client: Any, engine: Any) -> None:
    closed = await aiohttp_client(product_app(engine, HttpConfig(admin_token=None)))
    response = await closed.get("/ops/outbox/stats", headers=Keys.bearer("anything"))
    assert response.status == 403
    assert response.content_type == "application/problem+json"
    assert "ORDERSYNC_ADMIN_TOKEN" in (await response.json())["detail"]


async def test_ops_wants_the_admin_token_and_nothing_else(client: Any, keys: Keys) -> None:
    for headers, status in (
        ({}, 401),
        (Keys.bearer("not-the-token"), 401),
        (Keys.bearer(keys.web), 403),  # a channel key
        (Keys.bearer(keys.erp), 403),  # a system key (the admin is not a system here)
        (ADMIN, 200),
    ):
        response = await client.get("/ops/outbox/stats", headers=headers)
        assert response.status == status, (headers, await response.text())
        if status != 200:
            assert response.content_type == "application/problem+json"


async def test_a_dry_run_over_http_counts_and_changes_nothing(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    applied_wms(engine)
    response = await client.post(
        "/ops/replays",
        json={"mode": "reprocess", "dry_run": True, "orders": ["o-1"]},
        headers=ADMIN,
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["dry_run"] is True
    assert body["by_destination"] == {"wms": 2, "channel:web": 1}  # both of o-1's events
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replays")).scalar_one() == 0
    (entry,) = audit_rows(engine)
    assert (entry.action, entry.via, entry.actor, entry.dry_run, entry.outcome) == (
        "outbox.replay",
        "http",
        "admin token (anna)",
        True,
        "ok",
    )


async def test_a_replay_started_over_http_runs_and_is_followed(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    applied_wms(engine)
    started = await client.post(
        "/ops/replays", json={"mode": "reprocess", "destinations": ["wms"]}, headers=ADMIN
    )
    assert started.status == 202, await started.text()
    replay_id = (await started.json())["replay_id"]
    assert started.headers["Location"] == f"/ops/replays/{replay_id}"
    for _ in range(200):
        state = await (await client.get(f"/ops/replays/{replay_id}", headers=ADMIN)).json()
        if state["state"] == "done":
            break
        await asyncio.sleep(0.05)
    assert (state["state"], state["total"], state["released"]) == ("done", 6, 6)
    listed = await (await client.get("/ops/replays", headers=ADMIN)).json()
    assert [r["id"] for r in listed["replays"]] == [replay_id]
    refused = await client.post(f"/ops/replays/{replay_id}/cancel", headers=ADMIN)
    assert refused.status == 409  # done: nothing to cancel
    assert "only an active one" in (await refused.json())["detail"]
    missing = await client.get("/ops/replays/999", headers=ADMIN)
    assert missing.status == 404
    assert [(e.action, e.outcome) for e in audit_rows(engine)] == [
        ("outbox.replay", "ok"),
        ("outbox.replay.cancel", "refused"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"mode": "rewind"},
        {"mode": "reprocess", "rate": -1},
        {"mode": "reprocess", "orders": "o-1"},
        {"mode": "reprocess", "bogus": True},
        {"mode": "reprocess", "statuses": ["dead"]},
    ],
)
async def test_a_bad_replay_request_is_a_problem_and_changes_nothing(
    client: Any, keys: Keys, engine: sa.Engine, body: dict[str, Any]
) -> None:
    applied_wms(engine, aggregates=1)
    response = await client.post("/ops/replays", json=body, headers=ADMIN)
    assert response.status in (409, 422), await response.text()
    assert response.content_type == "application/problem+json"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM replays")).scalar_one() == 0


async def test_pausing_and_resuming_a_destination_over_http_is_audited(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    paused = await client.post(
        "/ops/destinations/erp/pause", json={"reason": "ERP maintenance"}, headers=ADMIN
    )
    assert paused.status == 200, await paused.text()
    listed = await (await client.get("/ops/destinations", headers=ADMIN)).json()
    assert any(d["destination"] == "erp" and d["state"] == "paused" for d in listed["destinations"])
    resumed = await client.post("/ops/destinations/erp/resume", headers=ADMIN)
    assert (await resumed.json())["state"] == "closed"
    unknown = await client.post("/ops/destinations/ftp/pause", json={}, headers=ADMIN)
    assert unknown.status == 404
    trail = await (await client.get("/ops/audit?limit=10", headers=ADMIN)).json()
    assert [(e["action"], e["detail"]) for e in trail["entries"]] == [
        ("destination.resume", None),
        ("destination.pause", "ERP maintenance"),
    ]
    bad = await client.get("/ops/audit?limit=0", headers=ADMIN)
    assert bad.status == 400


async def test_dead_letters_over_http_listed_shown_requeued_and_purged(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    from tests.dead_letters import Recorder, relay_and_deliver
    from tests.integration.test_dead_letter_requeue import poisoned

    poisoned(engine, aggregates=3)  # o-0…o-2: each one's first wms message dead
    response = await client.get("/ops/dead-letters?destination=wms", headers=ADMIN)
    listed = await response.json()
    assert response.status == 200, listed
    letters = {d["aggregate_id"]: d["id"] for d in listed["dead_letters"]}
    assert sorted(letters) == ["o-0", "o-1", "o-2"]
    shown = await client.get(f"/ops/dead-letters/{letters['o-0']}", headers=ADMIN)
    assert shown.status == 200 and (await shown.json())["aggregate_id"] == "o-0"
    assert (await client.get("/ops/dead-letters/999", headers=ADMIN)).status == 404

    for body in ({}, {"ids": [1], "all": True}, {"all": True, "error_classes": ["cosmic"]}):
        bad = await client.post("/ops/dead-letters/requeue", json=body, headers=ADMIN)
        assert bad.status == 422, body
    no_reason = await client.post("/ops/dead-letters/purge", json={"all": True}, headers=ADMIN)
    assert no_reason.status == 422

    dry = await client.post(
        "/ops/dead-letters/requeue", json={"ids": [letters["o-0"]], "dry_run": True}, headers=ADMIN
    )
    assert (await dry.json())["selected"] == [letters["o-0"]]
    requeued = await client.post(
        "/ops/dead-letters/requeue", json={"ids": [letters["o-0"]]}, headers=ADMIN
    )
    assert (await requeued.json())["requeued"] == 1
    again = await client.post(
        "/ops/dead-letters/requeue", json={"ids": [letters["o-0"]]}, headers=ADMIN
    )
    assert (await again.json())["requeued"] == 0  # requeued twice, sent once
    purged = await client.post(
        "/ops/dead-letters/purge",
        json={"orders": ["o-1", "o-2"], "reason": "cancelled upstream"},
        headers=ADMIN,
    )
    assert (await purged.json())["purged"] == 2
    system = Recorder()
    relay_and_deliver(engine, system)
    applied = [(a, s) for _, a, s in system.applied]
    assert {a for a, _ in applied} == {"o-0", "o-1", "o-2"}
    assert [s for a, s in applied if a == "o-0"] == [1, 2, 3]  # requeued, then its successors
    assert [s for a, s in applied if a == "o-1"] == [2, 3]  # purged: it goes on without it
    trail = [(e.action, e.dry_run, e.outcome, e.detail) for e in audit_rows(engine)]
    assert trail == [
        ("dlq.requeue", True, "ok", None),
        ("dlq.requeue", False, "ok", None),
        ("dlq.requeue", False, "ok", None),
        ("dlq.purge", False, "ok", "cancelled upstream"),
    ]


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("GET", "/ops/replays/99999999999999999999", 404),
        ("POST", "/ops/replays/99999999999999999999/cancel", 404),
        ("POST", "/ops/replays/99999999999999999999/resume", 404),
        ("GET", "/ops/replays/-1", 404),
        ("GET", "/ops/replays/%C2%B3", 404),  # "³": a digit to isdigit(), not to int()
        ("GET", "/ops/dead-letters/99999999999999999999", 404),
        ("GET", "/ops/audit?action=a%00b", 400),
        ("POST", "/ops/destinations/erp%00x/resume", 404),
        ("GET", "/ops/dead-letters?include_resolved=maybe", 400),
        ("GET", "/ops/dead-letters?order=o%00", 400),
    ],
)
async def test_odd_paths_and_queries_are_problems_not_errors(
    client: Any, keys: Keys, method: str, path: str, status: int
) -> None:
    response = await client.request(
        method, path, headers=ADMIN, json={} if method == "POST" else None
    )
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"


async def test_resuming_a_replay_another_process_runs_is_a_conflict(
    client: Any, keys: Keys, engine: sa.Engine
) -> None:
    from ops import replay
    from ops.replay import ReplayFilter

    applied_wms(engine, aggregates=1)
    replay_id, _ = replay.start(engine, "redeliver", ReplayFilter(), created_by="t")
    with engine.connect() as holder:  # as `ordersync outbox replay` running it would
        holder.execute(
            sa.text("SELECT pg_advisory_lock(:a, :b)"), {"a": replay._RUN_LOCK, "b": replay_id}
        )
        response = await client.post(f"/ops/replays/{replay_id}/resume", headers=ADMIN)
        holder.rollback()
    assert response.status == 409, await response.text()
    assert "another process" in (await response.json())["detail"]
