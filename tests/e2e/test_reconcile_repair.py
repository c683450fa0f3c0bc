"""Reconcile and repair against the whole real stack: orders delivered and shipped through
API, relay, worker and simulators; the ERP then loses one sales order, re-prices one and
cancels one; `ordersync reconcile --system erp --repair` finds exactly those, replays their
ERP deliveries, and once the relay and worker have delivered them a second reconcile finds
nothing."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.processes import CLI, wait_until
from tests.e2e.stack import Stack, place, stocked

pytestmark = pytest.mark.e2e


def reconcile(stack: Stack, *args: str) -> tuple[int, dict[str, Any]]:
    """`ordersync reconcile --system erp --json ARGS…` as an operator runs it."""
    env = {**os.environ, **stack.env(), "ORDERSYNC_DATABASE_URL": stack.database_url}
    done = subprocess.run(
        [CLI, "reconcile", "--system", "erp", "--json", *args],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr.decode()
    return done.returncode, json.loads(done.stdout)


def sales_orders(stack: Stack) -> dict[str, dict[str, Any]]:
    listed = httpx.get(f"{stack.sim}/erp/sales-orders", params={"limit": 1000}, timeout=5).json()
    return {s["order_ref"]: s for s in listed["items"]}


def test_a_repair_replays_what_the_erp_lost_and_a_second_reconcile_finds_nothing(
    stack: Stack,
) -> None:
    stack.up(ship_after=0.2)
    stocked(stack, units=50)
    ids = place(stack, "RP", 6, [("A", 1), ("B", 2)])
    wait_until(
        lambda: (
            sum(s["status"] == "invoiced" for s in sales_orders(stack).values()) == 6
            and stack.settled()
        ),
        60,
        "every order invoiced in the ERP and every delivery applied",
    )
    lost, repriced, cancelled = ids[:3]
    for change in (
        {"order_ref": lost, "delete": True},
        {"order_ref": repriced, "grand_total": "1.00"},
        {"order_ref": cancelled, "status": "cancelled"},
    ):
        response = httpx.post(f"{stack.sim}/_sim/erp/tamper", json=change, timeout=5)
        assert response.status_code == 200, response.text

    code, found = reconcile(stack, "--repair")

    assert code == 1
    assert {(d["order_id"], d["kind"]) for d in found["discrepancies"]} == {
        (lost, "missing"),
        (repriced, "amount"),
        (cancelled, "status"),
    }
    assert found["counts"]["checked"] == 6 and found["in_flight"] == []
    repair = found["repair"]
    assert repair["orders"] == sorted([lost, repriced, cancelled])
    assert repair["total"] == 6  # each one's sales order and invoice, nothing else

    wait_until(lambda: lost in sales_orders(stack) and stack.settled(), 60, "the replay delivered")
    code, again = reconcile(stack)

    assert (code, again["discrepancies"], again["in_flight"]) == (0, [], [])
    assert again["counts"]["checked"] == 6
    held = sales_orders(stack)
    assert held[repriced]["totals"]["grand_total"] == "36.03"
    assert {held[i]["status"] for i in ids} == {"invoiced"}
    # Exactly the three orders' documents came again (under new keys); the rest once.
    received = Counter(d["body"]["order_ref"] for d in stack.documents("erp")["documents"])
    assert received == Counter({i: 4 if i in (lost, repriced, cancelled) else 2 for i in ids})
    with stack.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM dead_letters")).scalar_one() == 0
        actions = conn.execute(
            sa.text("SELECT action, outcome FROM audit_log WHERE action LIKE 'reconcile.%'")
        ).all()
    assert [tuple(a) for a in actions] == [("reconcile.system", "ok")] * 2
