"""A worker while the database is away: hold the message, wait, never spend its retries.

Every outcome of a message (applied, parked, waiting, dead) is a database write, and the
message is acknowledged only after that write commits. While PostgreSQL cannot be
reached nothing can be recorded, so the message is not acknowledged: the thread holds it
and tries again with backoff. A hold is bounded (`hold_s`, far below RabbitMQ's
30-minute consumer timeout, and short enough that the messages prefetched behind it do
not wait past that timeout either); then the message goes back to RabbitMQ through
Dramatiq's delay queue (`dramatiq.Retry`, whose count never runs out here) and the next
copy holds again. An outage of minutes or hours costs waiting, never a message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import dramatiq

from adapters.db.errors import DATABASE_ERRORS, DatabaseUnavailable, convert
from domain.errors import ConcurrencyConflict

log = logging.getLogger("ordersync.actors")
T = TypeVar("T")


def database_down(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached (not that a statement failed)."""
    return isinstance(error, DatabaseUnavailable) or (
        isinstance(error, DATABASE_ERRORS) and isinstance(convert(error), DatabaseUnavailable)
    )


def database_conflict(error: BaseException) -> bool:
    """A deadlock or serialization failure: a blip of concurrency, worth another try."""
    return isinstance(error, ConcurrencyConflict) or (
        isinstance(error, DATABASE_ERRORS) and isinstance(convert(error), ConcurrencyConflict)
    )


@dataclass(frozen=True)
class Hold:
    """How a worker thread waits for the database: backoff from `min_wait_s` doubling to
    `max_wait_s` (with jitter), for at most `hold_s` before the message goes back."""

    min_wait_s: float = 0.5
    max_wait_s: float = 5.0
    hold_s: float = 60.0

    def run(self, attempt: Callable[[], T], what: str) -> T:
        """Run `attempt` until the database answers; hand the message back after `hold_s`."""
        deadline = time.monotonic() + self.hold_s
        wait = self.min_wait_s
        while True:
            try:
                return attempt()
            except Exception as error:
                if not database_down(error):
                    raise
                jittered = wait * (1 + random.random() / 5)
                if time.monotonic() + jittered > deadline:
                    log.warning(
                        "database unavailable (%s): %s goes back to the broker, again in %.1fs",
                        type(error).__name__,
                        what,
                        jittered,
                    )
                    raise dramatiq.Retry(
                        "database unavailable", delay=int(jittered * 1000)
                    ) from None
                log.warning(
                    "database unavailable (%s): holding %s, next try in %.1fs",
                    type(error).__name__,
                    what,
                    jittered,
                )
                time.sleep(jittered)
                wait = min(wait * 2, self.max_wait_s)
