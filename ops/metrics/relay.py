"""The relay's metrics, from its batch reports (outbox.hooks): messages the broker
confirmed or refused, and how long confirmation took."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from outbox.hooks import BatchReport, RelayHooks, relay_hooks

PUBLISHED = Counter(
    "ordersync_relay_published",
    "Outbox deliveries the broker confirmed and the relay marked published",
)
PUBLISH_FAILURES = Counter(
    "ordersync_relay_publish_failures",
    "Outbox deliveries the broker refused or returned (left unpublished for the next cycle)",
)
BATCHES = Counter("ordersync_relay_batches", "Relay batches published and committed")
CONFIRM_SECONDS = Histogram(
    "ordersync_relay_confirm_duration",
    "Seconds per batch from handing its messages to the broker to the last confirmation",
    unit="seconds",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 30.0),
)


def observe_batch(report: BatchReport) -> None:
    """Count one batch (a listener of the relay hooks)."""
    BATCHES.inc()
    if report.confirmed:
        PUBLISHED.inc(len(report.confirmed))
    if report.failed:
        PUBLISH_FAILURES.inc(len(report.failed))
    try:
        seconds = report.span("confirm").ended_at - report.span("publish").started_at
    except KeyError:
        return
    CONFIRM_SECONDS.observe(max(seconds, 0.0))


def attach(hooks: RelayHooks = relay_hooks) -> None:
    """Count every batch of this process's relays (once, however often it is called)."""
    if observe_batch not in hooks.listeners:
        hooks.subscribe(observe_batch)
