"""Our Dramatiq middleware for tracing and correlation: a CONSUMER span per delivery.

Dramatiq does not hand AMQP headers to actors, so the relay puts the traceparent of its
producer span in the message's options (outbox/tracing.py); this middleware continues
that trace with one CONSUMER span per delivery (a retry is a delivery of its own, with
its attempt number), current while the actor runs: the httpx call to the downstream
system, instrumented, is its child. Attributes: order id (the aggregate's, for an order),
channel, event type, destination, attempt, and what the delivery came to
(actors/middleware.record_outcome).

The correlation id of the message is the worker thread's while it handles it, traced or
not, so every log line of the delivery names it (ops/logs.py). Untraced (no tracer
installed: ops/telemetry.py), no span or context is made.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode, Tracer

from adapters import correlation
from outbox.tracing import parent_context


class ConsumerTracing:
    """Whether deliveries get consumer spans, and with which tracer."""

    def __init__(self) -> None:
        self.tracer: Tracer | None = None

    def enable(self, tracer: Tracer | None) -> None:
        """Make spans with `tracer` from now on (None: stop making them)."""
        self.tracer = tracer


# The process's consumer tracing; DeliveryTracing uses it unless handed its own.
consumer_tracing = ConsumerTracing()


class DeliveryTracing(Middleware):
    def __init__(self, tracing: ConsumerTracing = consumer_tracing) -> None:
        self.tracing = tracing
        # The span and context token of the delivery each worker thread has in hand.
        self._local = threading.local()

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        options = message.options
        body = message.args[0] if message.args and isinstance(message.args[0], dict) else {}
        correlation.begin(options.get("correlation_id") or body.get("correlation_id"))
        tracer = self.tracing.tracer
        if tracer is None:
            return
        destination = body.get("destination")
        span = tracer.start_span(
            f"process {destination or message.queue_name}",
            context=parent_context(options.get("traceparent"), options.get("tracestate")),
            kind=SpanKind.CONSUMER,
            attributes=_attributes(message, body),
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        self._local.current = (span, token)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._finish(exception)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._finish(None, skipped=True)

    def _finish(self, exception: BaseException | None, *, skipped: bool = False) -> None:
        correlation.begin(None)
        current = getattr(self._local, "current", None)
        if current is None:
            return
        self._local.current = None
        span, token = current
        if skipped:
            span.set_attribute("ordersync.outcome", "skipped")
        elif isinstance(exception, dramatiq.Retry):
            span.set_attribute("ordersync.outcome", "retry")  # asked for: not an error
        elif exception is not None:
            span.record_exception(exception)
            span.set_status(Status(StatusCode.ERROR, f"{type(exception).__name__}"))
        span.end()
        otel_context.detach(token)


def _attributes(message: Any, body: dict[str, Any]) -> dict[str, Any]:
    attempt = int(message.options.get("retries", 0)) + 1
    attributes: dict[str, Any] = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "process",
        "messaging.destination.name": message.queue_name,
        "messaging.message.id": message.message_id,
        "ordersync.attempt": attempt,
    }
    known = (
        ("event_id", "ordersync.event_id"),
        ("event_type", "ordersync.event_type"),
        ("destination", "ordersync.destination"),
        ("channel", "ordersync.channel"),
        ("aggregate_type", "ordersync.aggregate_type"),
        ("aggregate_id", "ordersync.aggregate_id"),
        ("sequence", "ordersync.sequence"),
        ("generation", "ordersync.generation"),
    )
    for field, name in known:
        value = body.get(field)
        if isinstance(value, str | int) and not isinstance(value, bool):
            attributes[name] = value
    if body.get("aggregate_type") == "order" and isinstance(body.get("aggregate_id"), str):
        attributes["ordersync.order_id"] = body["aggregate_id"]
    return attributes
