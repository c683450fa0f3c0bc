"""The Dramatiq broker: declares queues exactly as the relay does.

Dramatiq re-declares its queues on start; RabbitMQ refuses a declaration whose
arguments differ from the existing queue's (406 PRECONDITION_FAILED). The relay
declares every queue first, with outbox.queues' arguments, and this broker
declares them with the same ones, quorum or classic.
"""

from __future__ import annotations

from typing import Any

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.common import xq_name

from outbox.queues import dead_letter_arguments, queue_arguments


class OrdersyncRabbitmqBroker(RabbitmqBroker):  # type: ignore[misc]
    def __init__(self, *, quorum: bool = False, **options: Any) -> None:
        self.quorum = quorum
        super().__init__(**options)

    def _build_queue_arguments(self, queue_name: str) -> dict[str, object]:
        return queue_arguments(queue_name, quorum=self.quorum)

    def _declare_xq_queue(self, queue_name: str) -> Any:
        return self.channel.queue_declare(
            queue=xq_name(queue_name),
            durable=True,
            arguments=dead_letter_arguments(quorum=self.quorum),
        )
