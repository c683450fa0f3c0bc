"""The actors' metrics, from their delivery reports (actors.middleware): outcomes and
latency per destination, retries, dead letters, and the objectives a delivery ends.

A journey's objective (domain.slo.journey_of) is observed when the delivery that ends it
is applied by its own message: from the message's timestamp, which the relay sets to the
outbox row's creation, to the end of the handling.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from actors.middleware import DeliveryHooks, DeliveryReport, delivery_hooks
from domain.slo import journey_of
from ops.metrics.slo import SLO_HISTOGRAMS

DELIVERIES = Counter(
    "ordersync_deliveries",
    "Messages handled by the actors, by destination and outcome (applied, duplicate, "
    "parked, waiting, superseded, dead, retry, error, skipped, done)",
    ["destination", "outcome"],
)
DELIVERY_SECONDS = Histogram(
    "ordersync_delivery_duration",
    "Seconds an actor spent on one message (guard and downstream call), per destination",
    ["destination"],
    unit="seconds",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
QUEUE_SECONDS = Histogram(
    "ordersync_delivery_queue",
    "Seconds from the outbox row's creation to an actor starting its message, per destination",
    ["destination"],
    unit="seconds",
    buckets=(0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0),
)
RETRIES = Counter(
    "ordersync_delivery_retries",
    "Deliveries that failed and that Dramatiq will try again, per destination",
    ["destination"],
)
DEAD_LETTERS = Counter(
    "ordersync_dead_letters",
    "Deliveries dead-lettered (poison: a document the system rejects, a bug), per destination",
    ["destination"],
)


def observe_delivery(report: DeliveryReport) -> None:
    """Count one handled message (a listener of the delivery hooks)."""
    destination = report.destination or report.queue_name  # a message not of the outbox
    outcome = report.outcome or "done"
    DELIVERIES.labels(destination, outcome).inc()
    DELIVERY_SECONDS.labels(destination).observe(max(report.ended_at - report.started_at, 0.0))
    if report.retries == 0:  # a retry's timestamp is its first try's: counted once
        QUEUE_SECONDS.labels(destination).observe(max(report.queue_seconds, 0.0))
    if outcome == "retry":
        RETRIES.labels(destination).inc()
    elif outcome == "dead":
        DEAD_LETTERS.labels(destination).inc()
    elif outcome == "applied" and report.event_type and report.destination:
        objective = journey_of(report.event_type, report.destination)
        if objective is not None:
            journey = max(report.ended_at - report.enqueued_at, 0.0)
            SLO_HISTOGRAMS[objective.name].labels(destination).observe(journey)


def attach(hooks: DeliveryHooks = delivery_hooks) -> None:
    """Count every delivery of this process's workers (once, however often it is called)."""
    if observe_delivery not in hooks.listeners:
        hooks.subscribe(observe_delivery)
