"""Dramatiq actors, one per queue, registered through a factory that takes the broker.

Each downstream system is one module with a `handle(envelope, clients)` function
and one line in HANDLERS; the queue and actor names come from outbox.queues, so
what the relay publishes and what the workers consume cannot drift apart.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import sqlalchemy as sa

from actors import channel, crm, erp, wms
from actors.guard import (
    Outcome,
    dead_letter,
    deliver,
    park_waiting,
    record_attempt,
    record_transient_failure,
)
from adapters.systems.errors import TransientError
from outbox.envelope import Envelope
from outbox.queues import CHANNEL_PREFIX, CHANNEL_QUEUE, SYSTEM_QUEUES, queue_for

log = logging.getLogger("ordersync.actors")

Handle = Callable[[Envelope, Any], object]
HANDLERS: dict[str, Handle] = {
    "erp": erp.handle,
    "wms": wms.handle,
    "crm": crm.handle,
    CHANNEL_QUEUE.queue_name: channel.handle,
}


@dataclass
class Policy:
    """Retries are for blips; beyond them the destination's breaker opens."""

    attempts: int = 3  # handler attempts before a message waits for its destination
    breaker_threshold: int = 5  # consecutive failures that open a destination's breaker
    min_backoff_ms: int = 200
    max_backoff_ms: int = 2_000  # far below RabbitMQ's 30-minute consumer timeout
    # A system's Retry-After is honoured up to this; asked to wait longer, the message
    # waits in the database (breaker open) instead of in a delay queue.
    max_retry_after_s: float = 60.0
    outcomes: dict[str, int] = field(default_factory=dict)  # counts, for tests and metrics


def register(broker: dramatiq.Broker, engine: sa.Engine, clients: Any, policy: Policy) -> list[Any]:
    """Declare one actor per queue on `broker` (RabbitMQ, or the in-process stub)."""
    actors = []
    for queue in (*SYSTEM_QUEUES, CHANNEL_QUEUE.queue_name):
        handle = HANDLERS[queue]
        route = queue_for(queue if queue != CHANNEL_QUEUE.queue_name else "channel:_")

        def apply(raw: dict[str, Any], _handle: Handle = handle) -> None:
            envelope = Envelope.model_validate(raw)
            if envelope.destination.startswith(CHANNEL_PREFIX):
                # Look the channel up now, not inside the message's transaction: that
                # would want a second connection (and the embedded pool has one).
                clients.channel(envelope.destination.removeprefix(CHANNEL_PREFIX))
            _apply(engine, envelope, lambda env: _handle(env, clients), policy)

        actors.append(
            dramatiq.actor(
                apply,
                actor_name=route.actor_name,
                queue_name=route.queue_name,
                broker=broker,
                min_backoff=policy.min_backoff_ms,
                max_backoff=policy.max_backoff_ms,
                # Our ledger counts the attempts (across redeliveries too) and decides;
                # _apply raises only while a retry is still wanted.
                retry_when=lambda retries, error: retries < policy.attempts * 2,
            )
        )
    return actors


def retry_after_delay_ms(seconds: float, policy: Policy) -> int:
    """The system's Retry-After, at least our minimum backoff, plus up to 10% jitter so
    the messages it refused do not all come back in the same millisecond."""
    delay = max(seconds * 1000, policy.min_backoff_ms)
    return int(delay * (1 + random.random() / 10))


def _apply(engine: sa.Engine, envelope: Envelope, handler: Any, policy: Policy) -> str:
    try:
        outcome = deliver(engine, envelope, handler)
    except TransientError as error:
        attempts, state = record_transient_failure(
            engine, envelope, str(error), breaker_threshold=policy.breaker_threshold
        )
        asked = error.retry_after
        if (
            state == "closed"
            and attempts < policy.attempts
            and (asked is None or asked <= policy.max_retry_after_s)
        ):
            log.info(
                "%s: attempt %d of %s failed (%s); retrying",
                envelope.destination,
                attempts,
                envelope.event_id,
                error,
            )
            if asked is None:
                raise  # Dramatiq's exponential backoff with jitter
            raise dramatiq.Retry(str(error), delay=retry_after_delay_ms(asked, policy)) from error
        park_waiting(engine, envelope, str(error), retry_after_s=asked)
        outcome = Outcome.WAITING
        log.warning(
            "%s is failing (%s): %s waits for it", envelope.destination, error, envelope.event_id
        )
    except Exception as error:  # not an outage: a bug or a document the code cannot map
        reason = f"{type(error).__name__}: {error}"
        if record_attempt(engine, envelope, reason) < policy.attempts:
            raise
        dead_letter(engine, envelope, reason)
        outcome = Outcome.DEAD
        log.error("%s: %s is a dead letter: %s", envelope.destination, envelope.event_id, reason)
    policy.outcomes[outcome.value] = policy.outcomes.get(outcome.value, 0) + 1
    return outcome.value
