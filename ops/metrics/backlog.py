"""The figures read from the database when /metrics is scraped: the outbox backlog and its
oldest unpublished age per destination, open dead letters per destination, and orders
stuck unallocated past domain.slo.UNALLOCATED_AFTER_SECONDS.

Three queries (adapters/db/metrics_queries.py says what each reads) in one transaction with
a statement timeout, done at most once per `min_interval_s` (several Prometheus servers, or
a fast scrape interval, reuse the last reading). A destination seen once is reported at 0
when its backlog is gone, so a series does not vanish and alerts on it resolve. The
database away, the figures are left out and `ordersync_metrics_database_up` says 0.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from adapters.db import metrics_queries as q
from domain.slo import UNALLOCATED_AFTER_SECONDS

log = logging.getLogger("ordersync.metrics")

UNALLOCATED_REASONS = ("backordered", "held")


@dataclass
class Reading:
    at: float  # time.monotonic() when it was read
    now: datetime
    backlog: list[q.Backlog]
    dead_letters: dict[str, int]
    unallocated: dict[str, int]


@dataclass(eq=False)  # hashable by identity: a registry keys its collectors
class DatabaseCollector(Collector):
    engine: sa.Engine
    min_interval_s: float = 1.0
    statement_timeout_s: float = 2.0
    _last: Reading | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seen: set[str] = field(default_factory=set)  # destinations ever reported
    _seen_dead: set[str] = field(default_factory=set)

    def read(self) -> Reading:
        """The figures, from the database unless the last reading is fresh enough."""
        with self._lock:
            last = self._last
            if last is not None and time.monotonic() - last.at < self.min_interval_s:
                return last
            with self.engine.connect() as conn, conn.begin():
                q.set_statement_timeout(conn, self.statement_timeout_s)
                now = datetime.now(UTC)
                reading = Reading(
                    time.monotonic(),
                    now,
                    q.outbox_backlog(conn),
                    q.open_dead_letters(conn),
                    q.unallocated_orders(conn, now, timedelta(seconds=UNALLOCATED_AFTER_SECONDS)),
                )
            self._last = reading
            return reading

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "ordersync_metrics_database_up",
            "Whether the scrape could read the database's figures (1) or not (0)",
        )
        try:
            reading = self.read()
        except Exception as error:  # the scrape must answer even with the database away
            log.warning("metrics: the database's figures are left out: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from self._backlog(reading)
        yield from self._dead_letters(reading)
        unallocated = GaugeMetricFamily(
            "ordersync_orders_unallocated_delayed",
            f"Orders accepted over {UNALLOCATED_AFTER_SECONDS:g} s ago and still not "
            "allocated, by reason (backordered, held)",
            labels=["reason"],
        )
        for reason in UNALLOCATED_REASONS:
            unallocated.add_metric([reason], reading.unallocated.get(reason, 0))
        yield unallocated

    def _backlog(self, reading: Reading) -> Iterator[Metric]:
        count = GaugeMetricFamily(
            "ordersync_outbox_backlog",
            "Outbox deliveries not yet published (confirmed by the broker), per destination",
            labels=["destination"],
        )
        age = GaugeMetricFamily(
            "ordersync_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox delivery, per destination (0: none)",
            labels=["destination"],
        )
        found = {b.destination: b for b in reading.backlog}
        self._seen |= found.keys()
        for destination in sorted(self._seen):
            entry = found.get(destination)
            count.add_metric([destination], entry.unpublished if entry else 0)
            seconds = (reading.now - entry.oldest).total_seconds() if entry else 0.0
            age.add_metric([destination], max(seconds, 0.0))
        yield count
        yield age

    def _dead_letters(self, reading: Reading) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "ordersync_dead_letters_open",
            "Dead letters neither requeued nor purged, per destination",
            labels=["destination"],
        )
        self._seen_dead |= reading.dead_letters.keys()
        for destination in sorted(self._seen_dead):
            gauge.add_metric([destination], reading.dead_letters.get(destination, 0))
        yield gauge
