"""The embedded publisher: into Dramatiq's in-process broker (pika cannot publish there)."""

from __future__ import annotations

from collections.abc import Sequence

import dramatiq
from dramatiq.errors import QueueNotFound

from outbox.messages import OutgoingMessage
from outbox.publisher import Confirmations, Publisher, PublishOutcome, Settled


class InProcessPublisher(Publisher):
    """Publishes to a Dramatiq broker in this process (the StubBroker of the embedded mode).

    The broker keeps messages in memory, so "confirmed" means enqueued here; the
    embedded mode is for the demo, its durability is the outbox table itself.
    """

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker
        self._connected = False

    @property
    def connected(self) -> bool:
        return self._connected

    def connect(self, queues: Sequence[str]) -> None:
        for queue in queues:
            self.broker.declare_queue(queue)
        self._connected = True

    def send(self, messages: Sequence[OutgoingMessage]) -> Confirmations:
        outcome = PublishOutcome()
        for message in messages:
            if message.queue_name not in self.broker.get_declared_queues():
                # Like a mandatory publish to a missing queue: refused, not dropped.
                outcome.failed[message.delivery_id] = f"no queue {message.queue_name!r}"
                continue
            try:
                self.broker.enqueue(dramatiq.Message.decode(message.body))
            except QueueNotFound as error:
                outcome.failed[message.delivery_id] = f"no queue: {error}"
                continue
            outcome.confirmed.append(message.delivery_id)
        return Settled(outcome)

    def close(self) -> None:
        self._connected = False
