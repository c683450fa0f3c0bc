"""Dramatiq actors, one per queue, registered through a factory that takes the broker.

One actor per downstream system of the clients' `Systems` registry (actors.systems),
applying a message with that system's handler table, and one for the channels' shared
queue (actors.channel, by the channel's kind). Queue and actor names come from
outbox.queues, so what the relay publishes and what the workers consume cannot drift
apart.

What happens to a message is decided here and recorded in the database before the
message is acknowledged:

- applied, duplicate, parked, waiting, superseded: `actors.guard.deliver`;
- a transient failure (timeout, 5xx, 429): retried with backoff a few times; then the
  destination is asked whether it is up — if it is not, the message waits for it in the
  database (breaker open) however long that takes; if it is, and other messages get
  through, this one document is poison: a dead letter for its own aggregate only;
- a document the system refuses (4xx) or our code cannot map: a dead letter;
- the database unreachable: nothing can be recorded, so nothing is acknowledged — the
  worker holds the message and waits (`actors.outage`);
- a deadlock or serialization failure: tried again, never counted as poison.

Only `dramatiq.Retry` leaves an actor, and its count never runs out: nothing of ours
ends in Dramatiq's `.XQ` queue, and Dramatiq never logs a message with its payload.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dramatiq
import sqlalchemy as sa
from dramatiq.common import compute_backoff
from dramatiq.middleware import CurrentMessage
from pydantic import ValidationError

from actors import channel, logsafe
from actors.clients import SystemClients
from actors.guard import (
    Outcome,
    dead_letter,
    dead_letter_unreadable,
    deliver,
    park_waiting,
    record_attempt,
    record_transient_failure,
)
from actors.middleware import DeliveryTiming, record_outcome
from actors.outage import Hold, database_conflict, database_down
from actors.tracing import DeliveryTracing
from adapters.systems.errors import TransientError
from outbox.envelope import Envelope
from outbox.queues import CHANNEL_PREFIX, CHANNEL_QUEUE, QueueRoute

log = logging.getLogger("ordersync.actors")

Handler = Callable[[Envelope], object]
Healthy = Callable[[str], bool]
# A copy's failures in this delivery cycle, kept in the Dramatiq message's options: a
# message the relay sends again (released after an outage) starts a new cycle at 0.
CYCLE_FAILURES = "ordersync_failures"


@dataclass
class Policy:
    """Retries are for blips; beyond them the destination's breaker opens."""

    attempts: int = 3  # handler attempts per cycle before the destination is asked if it is up
    breaker_threshold: int = 5  # consecutive failures that open a destination's breaker
    min_backoff_ms: int = 200
    max_backoff_ms: int = 2_000  # far below RabbitMQ's 30-minute consumer timeout
    # A system's Retry-After is honoured up to this; asked to wait longer, the message
    # waits in the database (breaker open) instead of in a delay queue.
    max_retry_after_s: float = 60.0
    # A document that keeps failing while its destination answers its health check is
    # poison when another message reached that destination within `success_window_s`,
    # or, with no such evidence, once it has failed this often in all (across cycles).
    poison_attempts: int = 9
    success_window_s: float = 60.0
    hold: Hold = field(default_factory=Hold)  # while the database is unreachable
    outcomes: dict[str, int] = field(default_factory=dict)  # counts, for tests and metrics
    last_applied: dict[str, float] = field(default_factory=dict)  # destination → monotonic


def register(
    broker: dramatiq.Broker, engine: sa.Engine, clients: SystemClients, policy: Policy
) -> list[Any]:
    """Declare one actor per queue on `broker` (RabbitMQ, or the in-process stub): one per
    system of `clients.systems`, and the channels' one."""
    logsafe.install()
    if not any(isinstance(m, CurrentMessage) for m in broker.middleware):
        broker.add_middleware(CurrentMessage())
    if not any(isinstance(m, DeliveryTiming) for m in broker.middleware):
        broker.add_middleware(DeliveryTiming())
    if not any(isinstance(m, DeliveryTracing) for m in broker.middleware):
        broker.add_middleware(DeliveryTracing())
    routes: list[tuple[QueueRoute, Handler]] = [
        (system.queue, clients.applier(system.name)) for system in clients.systems.values()
    ]
    routes.append((CHANNEL_QUEUE, lambda envelope: channel.handle(envelope, clients)))
    actors = []
    for route, handler in routes:

        def apply(raw: dict[str, Any], _handler: Handler = handler) -> None:
            policy.hold.run(
                lambda: _settle(engine, raw, _handler, clients, policy),
                logsafe.envelope_fields(raw),
            )

        actors.append(
            dramatiq.actor(
                apply,
                actor_name=route.actor_name,
                queue_name=route.queue_name,
                broker=broker,
                min_backoff=policy.min_backoff_ms,
                max_backoff=policy.max_backoff_ms,
                # Our ledger counts the attempts and decides; an actor raises only
                # dramatiq.Retry, while another try is wanted, so Dramatiq's own count
                # must never end in its dead-letter queue.
                retry_when=lambda retries, error: True,
            )
        )
    return actors


def _settle(engine: sa.Engine, raw: Any, handler: Any, clients: Any, policy: Policy) -> str:
    """receive(), with its own bookkeeping's failures turned into retries: a deadlock or a
    failed statement while recording an outcome must not reach Dramatiq as an unhandled
    error (it would log the message and count towards nothing we decide). An unreachable
    database goes on to the caller's hold."""
    try:
        return receive(engine, raw, handler, clients, policy)
    except dramatiq.Retry:
        raise
    except Exception as error:
        if database_down(error):
            raise
        what = logsafe.envelope_fields(raw)
        if database_conflict(error):
            log.info("%s: database conflict while recording its outcome; again", what)
            raise dramatiq.Retry("database conflict", delay=_backoff_ms(1, policy)) from None
        # By its type only: a driver's message can quote the row (the customer's data).
        log.error("%s: recording its outcome failed (%s); again", what, type(error).__name__)
        raise dramatiq.Retry(type(error).__name__, delay=policy.max_backoff_ms) from None


def receive(engine: sa.Engine, raw: Any, handler: Any, clients: Any, policy: Policy) -> str:
    """One message off the queue: its envelope checked, then applied (see _apply)."""
    try:
        envelope = Envelope.model_validate(raw)
    except ValidationError as error:
        why = logsafe.reason(error)
        outcome = dead_letter_unreadable(engine, raw, why)
        what = logsafe.envelope_fields(raw)
        log.error("%s: unreadable envelope (%s): %s", what, outcome.value, why)
        return _count(policy, None, outcome)
    if envelope.destination.startswith(CHANNEL_PREFIX):
        # Look the channel up now, not inside the message's transaction: that
        # would hold two pooled connections at once for one message.
        clients.channel(envelope.destination.removeprefix(CHANNEL_PREFIX))
    return _apply(engine, envelope, handler, policy, healthy=clients.healthy)


def retry_after_delay_ms(seconds: float, policy: Policy) -> int:
    """The system's Retry-After, at least our minimum backoff, plus up to 10% jitter so
    the messages it refused do not all come back in the same millisecond."""
    delay = max(seconds * 1000, policy.min_backoff_ms)
    return int(delay * (1 + random.random() / 10))


def _apply(
    engine: sa.Engine,
    envelope: Envelope,
    handler: Any,
    policy: Policy,
    *,
    healthy: Healthy | None = None,
) -> str:
    """Deliver, and record what became of it; raises dramatiq.Retry while a retry is wanted
    (and lets an unreachable database through to the caller's hold)."""
    try:
        outcome = deliver(engine, envelope, handler)
    except TransientError as error:
        outcome = _transient(engine, envelope, error, policy, healthy)
    except Exception as error:
        if database_down(error):
            raise
        if database_conflict(error):
            log.info("%s: database conflict (%s); trying again", _describe(envelope), error)
            raise dramatiq.Retry("database conflict", delay=_backoff_ms(1, policy)) from None
        outcome = _failed(engine, envelope, error, policy)
    return _count(policy, envelope.destination, outcome)


def _transient(
    engine: sa.Engine,
    envelope: Envelope,
    error: TransientError,
    policy: Policy,
    healthy: Healthy | None,
) -> Outcome:
    attempts, state = record_transient_failure(
        engine, envelope, str(error), breaker_threshold=policy.breaker_threshold
    )
    failures = _cycle_failures() or attempts
    asked = error.retry_after
    if (
        state == "closed"
        and failures < policy.attempts
        and (asked is None or asked <= policy.max_retry_after_s)
    ):
        log.info("%s: attempt %d failed (%s); retrying", _describe(envelope), attempts, error)
        delay = (
            _backoff_ms(failures, policy) if asked is None else retry_after_delay_ms(asked, policy)
        )
        raise dramatiq.Retry(str(error), delay=delay) from None
    if asked is None and healthy is not None and healthy(envelope.destination):
        # The destination answers its health check, so this is about this document.
        if attempts >= policy.poison_attempts:
            # A blip does not fail one message this often before it succeeds once (at a
            # 20% error rate, nine failures in a row happen to one message in two million).
            why = (
                f"{error} — failed {attempts} times while {envelope.destination} answered "
                "its health check"
            )
            return _dead_lettered(engine, envelope, why, attempts, why)
        if state == "closed" and _others_flow(envelope.destination, policy):
            # Other messages get through: keep trying this one at the slowest backoff,
            # leaving the breaker (and so everyone else) alone.
            log.info("%s: attempt %d failed (%s); retrying", _describe(envelope), attempts, error)
            raise dramatiq.Retry(str(error), delay=policy.max_backoff_ms) from None
    park_waiting(engine, envelope, str(error), retry_after_s=asked)
    log.warning(
        "%s: %s is failing (%s); the message waits for it",
        _describe(envelope),
        envelope.destination,
        error,
    )
    return Outcome.WAITING


def _others_flow(destination: str, policy: Policy) -> bool:
    """Whether this worker applied another message to the destination lately."""
    last = policy.last_applied.get(destination)
    return last is not None and time.monotonic() - last <= policy.success_window_s


def _failed(engine: sa.Engine, envelope: Envelope, error: Exception, policy: Policy) -> Outcome:
    """Not an outage: a bug or a document our code cannot map. Retried, then a dead letter."""
    why = logsafe.reason(error)  # recorded in full on the ledger; the log gets its type
    attempts = record_attempt(engine, envelope, why)
    kind = type(error).__name__
    if attempts < policy.attempts:
        log.warning("%s: attempt %d failed (%s); retrying", _describe(envelope), attempts, kind)
        raise dramatiq.Retry(kind, delay=_backoff_ms(attempts, policy)) from None
    return _dead_lettered(engine, envelope, why, attempts, kind)


def _dead_lettered(
    engine: sa.Engine, envelope: Envelope, why: str, attempts: int, logged: str
) -> Outcome:
    """Dead-letter it, unless another copy settled it meanwhile; log which."""
    outcome = dead_letter(engine, envelope, why)
    if outcome is Outcome.DEAD:
        log.error("%s is a dead letter (attempt %d): %s", _describe(envelope), attempts, logged)
    else:
        log.info("%s: settled meanwhile by another copy (%s)", _describe(envelope), outcome)
    return outcome


def _count(policy: Policy, destination: str | None, outcome: Outcome) -> str:
    record_outcome(outcome.value)
    policy.outcomes[outcome.value] = policy.outcomes.get(outcome.value, 0) + 1
    if outcome is Outcome.APPLIED and destination is not None:
        policy.last_applied[destination] = time.monotonic()
    return outcome.value


def _cycle_failures() -> int | None:
    """This copy's failures in the current cycle, counting this one (None outside a worker)."""
    message = CurrentMessage.get_current_message()
    if message is None:
        return None
    failures = int(message.options.get(CYCLE_FAILURES, 0)) + 1
    message.options[CYCLE_FAILURES] = failures
    return failures


def _backoff_ms(failures: int, policy: Policy) -> int:
    _, delay = compute_backoff(
        max(failures - 1, 0), factor=policy.min_backoff_ms, max_backoff=policy.max_backoff_ms
    )
    return int(delay)


def _describe(envelope: Envelope) -> str:
    """How our log lines name a message: its ids and routing, never its payload."""
    return (
        f"{envelope.event_type} {envelope.event_id} to {envelope.destination} "
        f"({envelope.aggregate_type} {envelope.aggregate_id} #{envelope.sequence}"
        f"{f' gen {envelope.generation}' if envelope.generation else ''})"
    )
