"""Relay processes: killed, doubled, and with the broker cut away from under them."""

from __future__ import annotations

import signal
import threading
import urllib.parse
from collections import defaultdict
from typing import Any

import pytest
import sqlalchemy as sa

from outbox.envelope import Envelope
from outbox.stats import relays
from tests.broker import drain, queue_depth
from tests.e2e.processes import log_of, start, stop, wait_until
from tests.netcut import NetCut
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
        code = stop(restarted)  # asserted after: a failure above must stay the one reported
    assert code == 0, log_of(restarted)
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
        codes = [stop(first), stop(second)]
    assert codes == [0, 0], log_of(first) + log_of(second)
    envelopes = received(broker_url)
    assert len(envelopes) == total
    sequences: dict[tuple[str, str], list[int]] = defaultdict(list)
    for env in envelopes:
        sequences[(env.destination, env.aggregate_id)].append(env.sequence)
    assert len(sequences) == 2000  # 1,000 aggregates at wms and at channel:web
    for key, seqs in sequences.items():
        assert seqs == list(range(1, len(seqs) + 1)), f"{key} arrived as {seqs}"


def test_a_dead_relays_partitions_are_taken_over(
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
            60,
            "the survivor holding all 64 partitions",
        )
        write_orders(engine, aggregates=50, events_each=1)
        wait_until(lambda: unpublished(engine) == 0, 30, "the survivor publishing everything")
    finally:
        if first.poll() is None:
            first.kill()
        code = stop(second)
    assert code == 0, log_of(second)


def test_the_relay_reconnects_after_the_broker_goes_away_and_comes_back(
    engine: sa.Engine, database_url: str, broker_url: str
) -> None:
    """The relay reaches RabbitMQ through a proxy that the test cuts (every connection
    dropped, new ones refused) — the broker other suites share keeps running."""
    parts = urllib.parse.urlsplit(broker_url)
    with NetCut(parts.hostname or "127.0.0.1", parts.port or 5672) as cut:
        proxied = urllib.parse.urlunsplit(
            parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{cut.port}")
        )
        relay = start("relay", database_url=database_url, broker_url=proxied)
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
            cut.cut()
            assert cut.is_refusing()
            writer.start()
            # Rows wait in the outbox while the broker is away.
            wait_until(lambda: unpublished(engine) >= 50, 30, "rows to pile up in the outbox")
            assert relay.poll() is None  # the relay rides the outage out
            reconnected = cut.accepted
            cut.restore()
            wait_until(lambda: cut.accepted > reconnected, 60, "the relay to reconnect")
            stop_writing.set()
            writer.join(60)
            wait_until(lambda: unpublished(engine) == 0, 90, "the relay catching up")
        finally:
            stop_writing.set()
            code = stop(relay)
    assert code == 0, log_of(relay)
    envelopes = received(broker_url)
    assert {(str(e.event_id), e.destination) for e in envelopes} == all_deliveries(engine)
