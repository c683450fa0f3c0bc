"""One behaviour suite for both publishers: RabbitMQ (real broker, own vhost) and the
embedded in-process one, where the behaviour applies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from outbox.inprocess_publisher import InProcessPublisher
from outbox.messages import OutgoingMessage
from outbox.publisher import Publisher
from outbox.rabbitmq_publisher import RabbitPublisher
from tests.broker import drain


class Harness:
    """A publisher and a way to read back what it delivered."""

    def __init__(self, publisher: Publisher, read: Any) -> None:
        self.publisher = publisher
        self.read = read


@pytest.fixture(params=["rabbitmq", "inprocess"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "rabbitmq":
        url = request.getfixturevalue("broker_url")
        publisher: Publisher = RabbitPublisher(url)
        harness = Harness(publisher, lambda queue: drain(url, queue))
    else:
        broker = StubBroker()

        def read(queue: str) -> list[dict[str, Any]]:
            found = []
            while not broker.queues[queue].empty():
                found.append(dramatiq.Message.decode(broker.queues[queue].get()).asdict())
            return found

        harness = Harness(InProcessPublisher(broker), read)
    yield harness
    harness.publisher.close()


def message(delivery_id: int, queue: str = "erp") -> OutgoingMessage:
    msg = dramatiq.Message(
        queue_name=queue,
        actor_name=f"{queue}.deliver",
        args=({"n": delivery_id},),
        kwargs={},
        options={},
        message_id=f"m-{delivery_id}",
    )
    return OutgoingMessage(delivery_id, queue, msg.message_id, msg.encode())


def test_confirmed_messages_are_on_their_queue_in_publish_order(harness: Harness) -> None:
    harness.publisher.connect(["erp", "wms"])
    outcome = harness.publisher.publish(
        [message(i, "erp" if i % 3 else "wms") for i in range(1, 301)], 30
    )
    assert sorted(outcome.confirmed) == list(range(1, 301))
    assert outcome.failed == {}
    erp = harness.read("erp")
    assert [m["args"][0]["n"] for m in erp] == [i for i in range(1, 301) if i % 3]
    assert all(m["actor_name"] == "erp.deliver" for m in erp)
    assert len(harness.read("wms")) == 100


def test_a_message_for_a_queue_that_does_not_exist_fails_and_is_not_confirmed(
    harness: Harness,
) -> None:
    harness.publisher.connect(["erp"])
    outcome = harness.publisher.publish([message(1), message(2, "nowhere"), message(3)], 30)
    assert sorted(outcome.confirmed) == [1, 3]
    assert set(outcome.failed) == {2}
    assert [m["args"][0]["n"] for m in harness.read("erp")] == [1, 3]


def test_publishing_nothing_confirms_nothing(harness: Harness) -> None:
    harness.publisher.connect(["erp"])
    outcome = harness.publisher.publish([], 1)
    assert (outcome.confirmed, outcome.failed) == ([], {})


def test_a_publisher_reports_whether_it_is_connected(harness: Harness) -> None:
    assert not harness.publisher.connected
    harness.publisher.connect(["erp"])
    assert harness.publisher.connected
    harness.publisher.close()
    assert not harness.publisher.connected
