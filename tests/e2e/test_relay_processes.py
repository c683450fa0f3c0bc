"""Relay processes: killed, doubled, and with the broker stopped under them."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa

from outbox.envelope import Envelope
from outbox.stats import relays
from tests.broker import drain, queue_depth, rabbitmqctl
from tests.e2e.processes import start, stop, wait_until
from tests.outbox_rows import write_orders

pytestmark = pytest.mark.e2e


def unpublished(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        query = "SELECT count(*) FROM outbox_deliveries WHERE published_at IS NULL"
        return int(conn.execute(sa.text(query)).scalar_one())


def all_deliveries(engine: sa.Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT event_id, destination FROM outbox_deliveries"))
        return {(str(r.event_id), r.destination) for r in rows}


def received(broker_url: str) -> list[Envelope]:
    raw = drain(broker_url, "wms") + drain(broker_url, "channels")
    return [Envelope.model_validate(m["args"][0]) for m in raw]


def test_a_relay_killed_mid_batch_loses_nothing_after_a_restart(
    engine: sa.Engine, database_url: str, broker_url: str
) -> None:
    total = write_orders(engine, aggregates=4000, events_each=2)  # 12,000 deliveries
    relay = start("relay", "--batch-size", "6000", database_url=database_url, broker_url=broker_url)
    try:
        # Kill as soon as the first batch's messages reach the broker: published, not marked.
        wait_until(lambda: queue_depth(broker_url, "wms") > 0, 60, "the first messages")
        relay.send_signal(signal.SIGKILL)
        relay.wait(10)
    finally:
        if relay.poll() is None:
            relay.kill()
    left = unpublished(engine)
    assert left > 0, "the relay finished before it was killed: the test proved nothing"

    restarted = start("relay", database_url=database_url, broker_url=broker_url)
    try:
        wait_until(lambda: unpublished(engine) == 0, 90, "every row published after restart")
    finally:
        assert stop(restarted) == 0
    envelopes = received(broker_url)
    assert {(str(e.event_id), e.destination) for e in envelopes} == all_deliveries(engine)
    assert len(envelopes) >= total  # at least once: duplicates allowed, losses not


def test_two_relays_share_the_partitions_and_keep_every_aggregates_order(
    engine: sa.Engine, database_url: str, broker_url: str
) -> None:
    first = start("relay", "--name", "relay-a", database_url=database_url, broker_url=broker_url)
    second = start("relay", "--name", "relay-b", database_url=database_url, broker_url=broker_url)
    try:

        def two_holders() -> bool:
            with engine.connect() as conn:
                holders = relays(conn)
            return len(holders) == 2 and sum(len(h["partitions"]) for h in holders) == 64

        wait_until(two_holders, 30, "two relays holding all 64 partitions between them")
        with engine.connect() as conn:
            held = [set(h["partitions"]) for h in relays(conn)]
        assert not held[0] & held[1]
        assert {len(h) for h in held} == {32}

        total = write_orders(engine, aggregates=1000, events_each=4)  # 6,000 deliveries
        wait_until(lambda: unpublished(engine) == 0, 90, "every row published")
    finally:
        assert stop(first) == 0 and stop(second) == 0
    envelopes = received(broker_url)
    assert len(envelopes) == total
    sequences: dict[tuple[str, str], list[int]] = defaultdict(list)
    for env in envelopes:
        sequences[(env.destination, env.aggregate_id)].append(env.sequence)
    assert len(sequences) == 2000  # 1,000 aggregates at wms and at channel:web
    for key, seqs in sequences.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"{key} arrived as {seqs}"


def test_a_dead_relays_partitions_are_taken_over_within_seconds(
    engine: sa.Engine, database_url: str, broker_url: str
) -> None:
    first = start("relay", "--name", "relay-a", database_url=database_url, broker_url=broker_url)
    second = start("relay", "--name", "relay-b", database_url=database_url, broker_url=broker_url)

    def holders() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            return relays(conn)

    try:
        wait_until(lambda: len(holders()) == 2, 30, "two relays holding partitions")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        wait_until(
            lambda: [(h["relay"], len(h["partitions"])) for h in holders()] == [("relay-b", 64)],
            10,
            "the survivor holding all 64 partitions",
        )
        write_orders(engine, aggregates=50, events_each=1)
        wait_until(lambda: unpublished(engine) == 0, 30, "the survivor publishing everything")
    finally:
        if first.poll() is None:
            first.kill()
        assert stop(second) == 0


def test_the_relay_reconnects_after_rabbitmq_stops_and_starts(
    engine: sa.Engine, database_url: str, broker_url: str
) -> None:
    relay = start("relay", database_url=database_url, broker_url=broker_url)
    stop_writing = threading.Event()

    def keep_writing() -> None:  # orders keep coming in while the broker is away
        round_ = 0
        while not stop_writing.is_set():
            write_orders(engine, aggregates=10, events_each=1, prefix=f"r{round_}")
            round_ += 1
            stop_writing.wait(0.1)

    writer = threading.Thread(target=keep_writing)
    write_orders(engine, aggregates=20, events_each=1, prefix="before")
    try:
        wait_until(lambda: unpublished(engine) == 0, 30, "publishing to start")
        rabbitmqctl("stop_app")
        try:
            writer.start()
            threading.Event().wait(3)
            assert unpublished(engine) > 0  # rows wait in the outbox while the broker is away
        finally:
            rabbitmqctl("start_app")
            subprocess.run(["rabbitmqctl", "-q", "await_startup"], check=True, timeout=120)
        threading.Event().wait(1)
        stop_writing.set()
        writer.join(60)
        wait_until(lambda: unpublished(engine) == 0, 90, "the relay catching up")
    finally:
        stop_writing.set()
        assert stop(relay) == 0
    envelopes = received(broker_url)
    assert {(str(e.event_id), e.destination) for e in envelopes} == all_deliveries(engine)
