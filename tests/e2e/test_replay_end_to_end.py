"""Replays through the real stack: `ordersync outbox replay` as a command, the relay
publishing what it releases, the workers applying it, the simulators counting.

- the ERP lost its data (its store wiped): a reprocess brings back exactly what it had,
  each document once, under new Idempotency-Keys; a redeliver of the same range then sends
  nothing new;
- a replay killed with kill -9 halfway and resumed releases each row once, so every
  document arrives once;
- a reprocess concurrent with new events of the same orders (shipments → invoices) keeps
  per-order order at the ERP: the replayed chain first, in order, the new events after.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections import Counter
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from tests.e2e.processes import log_of, start, wait_until
from tests.e2e.stack import Sent, Stack, delivery_keys, stocked
from tests.e2e.stack import place as stack_place

pytestmark = pytest.mark.e2e


STACK_ENV = {"ORDERSYNC_CLIENT_TIMEOUT_S": "30"}  # held calls outlast the default


def place(stack: Stack, prefix: str, count: int) -> list[str]:
    return stack_place(stack, prefix, count, [("A", 1), ("B", 1)])


def wipe_erp(stack: Stack) -> None:
    """The ERP restored from an empty backup: the simulator forgets every document."""
    assert httpx.post(f"{stack.sim}/_sim/erp/reset", timeout=5).status_code == 200
    assert stack.documents("erp")["count"] == 0


def ordersync(stack: Stack, command: str) -> subprocess.Popen[bytes]:
    """`ordersync COMMAND` (split on spaces) on the stack's database and settings."""
    return start(*command.split(), database_url=stack.database_url, **stack.env())


def finished(process: subprocess.Popen[bytes], timeout: float = 60) -> str:
    assert process.wait(timeout) == 0, log_of(process)
    return log_of(process)


def last_json(output: str) -> dict[str, Any]:
    line = [ln for ln in output.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)  # type: ignore[no-any-return]


def erp_sales_orders(stack: Stack) -> Counter[str]:
    documents = stack.documents("erp")["documents"]
    return Counter(d["body"]["order_ref"] for d in documents if d["type"] == "sales_order")


def replay_row(stack: Stack, replay_id: int) -> Any:
    with stack.engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM replays WHERE id = :id"), {"id": replay_id}
        ).one()


def generations(stack: Stack, destination: str) -> Counter[int]:
    with stack.engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT generation FROM outbox_deliveries WHERE destination = :d"),
            {"d": destination},
        )
        return Counter(r.generation for r in rows)


def test_a_wiped_erp_gets_exactly_its_documents_back_and_a_redeliver_sends_nothing_new(
    stack: Stack,
) -> None:
    stack.up(ship_after=None, workers=1, threads=4)
    stocked(stack)
    orders = place(stack, "WIPE", 25)
    wait_until(stack.settled, 60, "every delivery applied")
    assert erp_sales_orders(stack) == Counter({o: 1 for o in orders})
    wms_before = stack.documents("wms")["count"]

    wipe_erp(stack)

    dry = finished(ordersync(stack, "outbox replay --reprocess --destination erp --dry-run --json"))
    assert json.loads(dry[dry.index("{") :])["by_destination"] == {"erp": 25}
    assert stack.documents("erp")["count"] == 0  # a dry run sends nothing

    replayed = ordersync(stack, "outbox replay --reprocess --destination erp --yes --json")
    done = last_json(finished(replayed))
    assert (done["state"], done["released"]) == ("done", 25)
    wait_until(
        lambda: sum(erp_sales_orders(stack).values()) >= 25 and stack.settled(),
        60,
        "the replayed sales orders applied",
    )
    assert erp_sales_orders(stack) == Counter({o: 1 for o in orders})  # each exactly once
    erp = stack.documents("erp")
    assert erp["duplicates"] == 0
    keys = delivery_keys(stack.engine)
    assert {keys[d["idempotency_key"]].generation for d in erp["documents"]} == {1}
    assert stack.documents("wms")["count"] == wms_before  # only the ERP was replayed to

    calls_before = stack.calls("erp")["total"]
    redelivered = ordersync(stack, "outbox replay --redeliver --destination erp --yes --json")
    again = last_json(finished(redelivered))
    assert again["released"] == 25

    def republished_and_idle() -> bool:
        with stack.engine.connect() as conn:
            unpublished = conn.execute(
                sa.text("SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL")
            ).scalar_one()
        return unpublished == 0 and stack.queues_idle() and stack.settled()

    wait_until(republished_and_idle, 60, "the redelivered messages consumed")
    assert stack.calls("erp")["total"] == calls_before  # nothing new reached the ERP
    assert erp_sales_orders(stack) == Counter({o: 1 for o in orders})


def test_a_replay_killed_halfway_and_resumed_delivers_every_document_once(stack: Stack) -> None:
    stack.up(ship_after=None, workers=1, threads=4)
    stocked(stack)
    orders = place(stack, "KILL", 40)
    wait_until(stack.settled, 60, "every delivery applied")
    wipe_erp(stack)
    runner = ordersync(stack, "outbox replay --reprocess --destination erp --rate 10 --yes --json")

    def replay_started() -> Any:
        with stack.engine.connect() as conn:
            return conn.execute(sa.text("SELECT id, released FROM replays")).first()

    wait_until(
        lambda: (r := replay_started()) is not None and r.released >= 10, 30, "the replay halfway"
    )
    runner.send_signal(signal.SIGKILL)
    runner.wait(10)
    replay_id = replay_started().id
    killed = replay_row(stack, replay_id)
    assert killed.state == "running" and 10 <= killed.released < 40  # a crash, mid-way
    resumed = last_json(finished(ordersync(stack, f"outbox replay --resume {replay_id} --json")))
    assert (resumed["state"], resumed["released"]) == ("done", 40)
    assert generations(stack, "erp") == Counter({1: 40})  # every row released once
    wait_until(
        lambda: sum(erp_sales_orders(stack).values()) >= 40 and stack.settled(),
        60,
        "the replayed sales orders applied",
    )
    assert erp_sales_orders(stack) == Counter({o: 1 for o in orders})
    assert stack.documents("erp")["duplicates"] == 0


def test_a_reprocess_with_new_events_of_the_same_orders_keeps_each_orders_order(
    stack: Stack,
) -> None:
    stack.up(ship_after=0.2, workers=2, threads=8)
    stocked(stack)
    stack.faults("wms", hold_all=True)  # no shipment (so no invoice) before the replay
    orders = place(stack, "RACE", 20)

    def sales_orders_applied() -> bool:
        with stack.engine.connect() as conn:
            return conn.execute(
                sa.text(
                    "SELECT count(*) FROM outbox_deliveries d JOIN outbox_events e USING"
                    " (event_id) WHERE d.destination = 'erp' AND d.status = 'applied'"
                    " AND e.event_type = 'order.accepted'"
                )
            ).scalar_one() == len(orders)

    wait_until(sales_orders_applied, 60, "the sales orders applied")
    runner = ordersync(stack, "outbox replay --reprocess --destination erp --rate 8 --yes --json")
    wait_until(lambda: _held_cursors(stack) > 0, 30, "the replay holding its orders")
    stack.faults("wms", hold_all=False)
    stack.release("wms")  # the shipments now come back: invoices, new ERP events
    summary = last_json(finished(runner))
    assert summary["released"] == len(orders)

    def invoiced_and_settled() -> bool:
        erp = stack.documents("erp")["documents"]
        return sum(1 for d in erp if d["type"] == "invoice") >= len(orders) and stack.settled()

    wait_until(invoiced_and_settled, 90, "every order invoiced, every delivery applied")
    keys = delivery_keys(stack.engine)
    arrivals: dict[str, list[Sent]] = {}
    for document in stack.documents("erp")["documents"]:
        sent = keys[document["idempotency_key"]]
        arrivals.setdefault(sent.aggregate_id, []).append(sent)
    assert sorted(arrivals) == sorted(orders)
    overtaken = 0
    for order, sent in arrivals.items():
        steps = [(s.sequence, s.generation) for s in sent]
        replayed = [seq for seq, gen in steps if gen == 1]
        assert replayed == sorted(replayed), (order, steps)  # the chain in order
        live = [seq for seq, gen in steps if gen == 0]
        assert live == sorted(set(live)), (order, steps)  # each live event once, in order
        last_replayed = max(i for i, (_, gen) in enumerate(steps) if gen == 1)
        newer = [i for i, (seq, gen) in enumerate(steps) if gen == 0 and seq > max(replayed)]
        assert all(i > last_replayed for i in newer), (order, steps)  # held behind the chain
        overtaken += bool(newer)
    assert overtaken > 0  # the race happened: new events arrived for orders being replayed
    assert _held_cursors(stack) == 0


def _held_cursors(stack: Stack) -> int:
    with stack.engine.connect() as conn:
        return int(
            conn.execute(
                sa.text("SELECT count(*) FROM consumer_cursors WHERE replay_id IS NOT NULL")
            ).scalar_one()
        )
