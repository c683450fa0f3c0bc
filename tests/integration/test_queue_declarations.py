"""The relay and the workers declare the same queues with the same arguments (else 406)."""

from __future__ import annotations

import subprocess
import urllib.parse

import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.errors import ConnectionClosed

from actors.broker import OrdersyncRabbitmqBroker
from ops.wiring import QUEUES
from outbox.messages import OutgoingMessage
from outbox.rabbitmq_publisher import RabbitPublisher


def declare_with_relay(url: str, *, quorum: bool) -> None:
    publisher = RabbitPublisher(url, quorum=quorum)
    publisher.connect(QUEUES)
    outcome = publisher.publish([OutgoingMessage(1, "erp", "m1", b"{}")], 10)
    publisher.close()
    assert outcome.confirmed == [1]


def test_dramatiqs_own_broker_declares_the_relays_classic_queues_without_conflict(
    broker_url: str,
) -> None:
    declare_with_relay(broker_url, quorum=False)
    broker = RabbitmqBroker(url=broker_url)
    try:
        for queue in QUEUES:
            broker.declare_queue(queue, ensure=True)
    finally:
        broker.close()


def test_quorum_queues_need_our_broker_subclass(broker_url: str) -> None:
    declare_with_relay(broker_url, quorum=True)

    plain = RabbitmqBroker(url=broker_url)
    try:
        with pytest.raises(ConnectionClosed, match=r"PRECONDITION_FAILED|inequivalent"):
            plain.declare_queue("erp", ensure=True)
    finally:
        plain.close()

    ours = OrdersyncRabbitmqBroker(url=broker_url, quorum=True)
    try:
        for queue in QUEUES:
            ours.declare_queue(queue, ensure=True)
    finally:
        ours.close()
    assert queue_types(broker_url)["erp"] == "quorum"
    assert queue_types(broker_url)["erp.XQ"] == "quorum"


def queue_types(url: str) -> dict[str, str]:
    vhost = urllib.parse.unquote(urllib.parse.urlsplit(url).path[1:])
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "name", "type", "--no-table-headers"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return dict(line.split("\t")[:2] for line in listing.splitlines() if "\t" in line)
