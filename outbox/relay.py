"""The relay: committed outbox rows → broker messages, never lost, in order per aggregate.

A cycle claims the oldest unpublished delivery rows of the partitions this relay
leases (`FOR UPDATE SKIP LOCKED`), publishes them with asynchronous confirms,
and only then marks the confirmed ones published, in the same transaction. A
crash anywhere before that commit leaves the rows unpublished: they are
published again (at least once; consumers drop the duplicate by message id).

Order: one aggregate's rows always land in one partition, which one relay
holds, and are published in id order. For one aggregate and destination, id
order is commit order: its writers queue on the same row locks, so a later
writer inserts (and takes ids) only after the earlier one committed. The relay
never reads "id > last seen": every unpublished row of a partition is eligible,
so a row that commits late is simply found by the next cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from outbox.hooks import BatchTimer, RelayHooks, relay_hooks
from outbox.messages import build
from outbox.publisher import Confirmations, Publisher, PublisherError
from outbox.relay_queries import MARK_FAILED, claim, mark_published
from outbox.tracing import PublishSpans, PublishTracing, publish_tracing

log = logging.getLogger("ordersync.relay")


# Rows per claim. Measured (bench/relay.py): 1,000 → 4,000 took one relay from 68% to
# 81% of raw pika: fewer round trips and commits per row, and a deeper window of
# unconfirmed messages. Under light load a claim finds a few rows; the size only
# matters while a backlog drains.
DEFAULT_BATCH_SIZE = 4000


@dataclass
class RelayStats:
    published: int = 0
    failed: int = 0
    cycles: int = 0
    last_error: str | None = None
    errors: list[str] = field(default_factory=list)


@dataclass
class _InFlight:
    """A claimed batch, handed to the broker: its rows stay locked until it is finished."""

    conn: sa.Connection
    transaction: sa.RootTransaction
    confirmations: Confirmations
    timer: BatchTimer
    spans: PublishSpans | None  # the batch's producer spans, when traced


class Relay:
    """One relay process's loop. `leases` is None for a single relay reading every
    partition (the demo's, and tests')."""

    def __init__(
        self,
        engine: sa.Engine,
        publisher: Publisher,
        *,
        queues: Sequence[str],
        leases: Any | None = None,
        wait_for_rows: Callable[[float], object] | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        confirm_timeout: float = 30.0,
        idle_poll_max: float = 0.2,
        rebalance_every: float = 1.0,
        hooks: RelayHooks = relay_hooks,
        tracing: PublishTracing = publish_tracing,
    ) -> None:
        self.engine = engine
        self.publisher = publisher
        self.queues = tuple(queues)  # declared before the first publish (outbox.queues)
        self.leases = leases
        self.wait_for_rows = wait_for_rows
        self.batch_size = batch_size
        self.confirm_timeout = confirm_timeout
        self.idle_poll_max = idle_poll_max
        self.rebalance_every = rebalance_every
        self.stats = RelayStats()
        self.hooks = hooks
        self.tracing = tracing
        self._partitions: list[int] | None = None if leases is None else []
        self._rebalanced_at = 0.0
        self._broker_backoff = 0.0
        self._failed_last_cycle = False

    def partitions(self, *, rebalance: bool = True) -> list[int] | None:
        """The partitions to read (None: all of them, for a single relay)."""
        if rebalance and self.leases is not None and self._rebalance_due():
            self._partitions = sorted(self.leases.rebalance())
            self._rebalanced_at = time.monotonic()
        return self._partitions

    def run_once(self) -> int:
        """One cycle, start to end: claim, publish, mark. Returns the rows published."""
        batch = self._start(rebalance=True)
        return 0 if batch is None else self._finish(batch)

    def _start(self, *, rebalance: bool) -> _InFlight | None:
        """Claim a batch and hand it to the broker; its confirmations arrive meanwhile.
        `rebalance`: whether the leases may change now (never with a batch in flight)."""
        self.stats.cycles += 1
        if not self.publisher.connected:
            self.publisher.connect(self.queues)
        partitions = self.partitions(rebalance=rebalance)
        if partitions is not None and not partitions:
            return None
        timer = self.hooks.timer()  # a no-op one when nobody listens
        spans: PublishSpans | None = None
        conn = self.engine.connect()
        try:
            transaction = conn.begin()
            rows = claim(conn, partitions, self.batch_size)
            if not rows:
                conn.close()
                return None
            timer.done("claim", len(rows))
            if self.tracing.enabled:
                messages, spans = self.tracing.build(rows)
            else:
                messages = [build(row) for row in rows]
            timer.done("build", len(messages))
            confirmations = self.publisher.send(messages)
            timer.done("publish", len(messages))
        except BaseException as error:
            conn.close()  # rolls back: the rows stay unpublished
            if spans is not None:
                spans.abandon(f"batch rolled back: {error}")
            raise
        return _InFlight(conn, transaction, confirmations, timer, spans)

    def _finish(self, batch: _InFlight, *, collateral: bool = False) -> int:
        """Wait for the batch's confirmations; mark what was confirmed; commit.
        `collateral`: the batch failed only because an earlier one closed the connection
        under it; its rows keep their error, but the cause reported stays the earlier one."""
        timer = batch.timer
        try:
            with batch.conn:
                timer.resume()
                outcome = batch.confirmations.wait(self.confirm_timeout)
                timer.done("confirm", len(outcome.confirmed))
                if outcome.confirmed:
                    mark_published(batch.conn, outcome.confirmed)
                if outcome.failed:
                    batch.conn.execute(
                        MARK_FAILED,
                        [{"b_id": i, "b_error": err[:500]} for i, err in outcome.failed.items()],
                    )
                batch.transaction.commit()
        except BaseException as error:
            if batch.spans is not None:
                batch.spans.abandon(f"batch not marked published: {error}")
            raise
        if batch.spans is not None:
            batch.spans.finish(outcome)
        timer.finish(outcome)
        self.stats.published += len(outcome.confirmed)
        if outcome.failed and not collateral:
            self._report_failures(outcome.failed)
        return len(outcome.confirmed)

    def _step(self, in_flight: _InFlight | None) -> tuple[_InFlight | None, int]:
        """Start the next batch, then finish the one in flight: the claim and build of
        one batch overlap the broker's confirms of the previous one.

        Two open transactions at once: both batches hold their rows locked (row locks
        keep them apart), so they never overlap; batches go out on
        one channel in claim order, so an aggregate's messages stay in sequence. Leases
        change only with nothing in flight: a partition handed over while its rows are
        still locked here would let another relay publish their successors first.
        """
        started = None
        try:
            if in_flight is None or not self._rebalance_due():
                started = self._start(rebalance=in_flight is None)
        finally:
            # Whatever happened above, the batch in flight is finished here (its caller
            # must not finish it again).
            try:
                published = 0 if in_flight is None else self._finish(in_flight)
            except BaseException:
                if started is not None:
                    started.conn.close()  # rolled back: its rows stay unpublished
                raise
        # A failed batch closed the connection under the one just started: finish that
        # one now too (its unconfirmed rows stay unpublished), so the next batch starts
        # on a fresh connection.
        if started is not None and self._failed_last_cycle:
            published += self._finish(started, collateral=self._failed_last_cycle)
            started = None
        return started, published

    def _rebalance_due(self) -> bool:
        return (
            self.leases is not None
            and time.monotonic() - self._rebalanced_at >= self.rebalance_every
        )

    def _report_failures(self, failed: dict[int, str]) -> None:
        self._failed_last_cycle = True
        self.stats.failed += len(failed)
        reasons = sorted(set(failed.values()))
        self.stats.last_error = reasons[0]
        self.stats.errors = reasons[:10]
        log.error(
            "%d message(s) not published, left for the next cycle: %s",
            len(failed),
            "; ".join(reasons[:3]),
        )
        # Queues declared again on the next connect heal a queue deleted behind our back.
        self.publisher.close()

    def run(self, stop: threading.Event) -> None:
        """Cycle until `stop` is set; between empty cycles, wait (adaptively) for new rows."""
        wait = self.wait_for_rows or stop.wait
        idle = 0.0
        in_flight: _InFlight | None = None
        while not stop.is_set():
            self._failed_last_cycle = False
            try:
                in_flight, published = self._step(in_flight)
                self._broker_backoff = 0.0
            except PublisherError as error:
                in_flight = None  # _step finished it before the error left it
                self._broker_backoff = min(max(self._broker_backoff * 2, 0.25), 5.0)
                self.stats.last_error = str(error)
                log.warning(
                    "broker unavailable (%s); retrying in %.2fs", error, self._broker_backoff
                )
                stop.wait(self._broker_backoff)
                continue
            if self._failed_last_cycle:
                stop.wait(0.5)  # do not spin on rows the broker refuses
            if published or in_flight is not None:
                idle = 0.0
                continue
            if self.wait_for_rows is not None:
                # NOTIFY wakes us when rows commit: the next look is the safety poll.
                wait(self.idle_poll_max)
                continue
            idle = min(max(idle * 2, 0.001), self.idle_poll_max)
            wait(idle)
        if in_flight is not None:
            self._finish(in_flight)
        self.shutdown()

    def shutdown(self) -> None:
        self.publisher.close()
        if self.leases is not None:
            self.leases.release_all()
