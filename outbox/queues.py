"""Which broker queue and Dramatiq actor receive a destination's messages.

One queue per downstream system, named after it, and its actor `<name>.deliver`; every
channel destination shares the `channels` queue (the envelope names the channel), so a
new channel needs no new queue or worker. Ordering and circuit breaking are per
destination in the database, not per queue. Which systems there are is not known here
(the outbox sits below the actors): the relay is handed the queue names to declare.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

CHANNEL_PREFIX = "channel:"


@dataclass(frozen=True, slots=True)
class QueueRoute:
    queue_name: str
    actor_name: str


CHANNEL_QUEUE = QueueRoute("channels", "channels.deliver")


def queue_for(destination: str) -> QueueRoute:
    """A system's own queue, or the channels' shared one."""
    if destination.startswith(CHANNEL_PREFIX):
        return CHANNEL_QUEUE
    if not destination or destination == CHANNEL_QUEUE.queue_name or ":" in destination:
        raise ValueError(f"no queue for destination {destination!r}")
    return QueueRoute(destination, f"{destination}.deliver")


def queue_names(systems: Iterable[str]) -> tuple[str, ...]:
    """Every queue of these systems and the channels' queue: what a relay declares."""
    return (*(queue_for(s).queue_name for s in systems), CHANNEL_QUEUE.queue_name)


def queue_arguments(queue_name: str, *, quorum: bool = False) -> dict[str, object]:
    """Exactly the arguments Dramatiq declares a queue (and its delay queue) with.

    The relay and the workers must agree to the letter: RabbitMQ refuses a second
    declaration with other arguments (406 PRECONDITION_FAILED).
    """
    arguments: dict[str, object] = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": f"{queue_name}.XQ",
    }
    if quorum:
        arguments["x-queue-type"] = "quorum"
    return arguments


def dead_letter_arguments(*, quorum: bool = False) -> dict[str, object]:
    """Dramatiq's `.XQ` queue: messages expire after its dead-message TTL (7 days)."""
    from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL

    arguments: dict[str, object] = {"x-message-ttl": DEAD_MESSAGE_TTL}
    if quorum:
        arguments["x-queue-type"] = "quorum"
    return arguments


def declarations(queue_name: str, *, quorum: bool = False) -> list[tuple[str, dict[str, object]]]:
    """(name, arguments) of a queue, its `.DQ` delay queue and its `.XQ` dead-letter queue."""
    main = queue_arguments(queue_name, quorum=quorum)
    return [
        (queue_name, main),
        (f"{queue_name}.DQ", main),
        (f"{queue_name}.XQ", dead_letter_arguments(quorum=quorum)),
    ]
