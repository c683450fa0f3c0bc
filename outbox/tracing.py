"""The relay's PRODUCER spans: one per message, from its publish to the broker's answer.

The pika instrumentation covers blocking channels, not this relay's asynchronous-confirm
publisher, so the relay makes these spans itself. Each is parented on the traceparent
the outbox row stores (the api's request span, written in the same transaction as the
change), however long after the request it runs; and the message carries the producer
span's own context onward in its options (outbox/messages.py), which the actors' consumer
span continues (actors/tracing.py). So one trace runs request → publish → delivery →
the downstream call, across processes and outages.

Off (no tracer installed: ops/telemetry.py installs one when OTEL_TRACES_EXPORTER is
set), the relay checks one attribute per batch and builds no span or context.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from outbox.messages import OutgoingMessage, build
from outbox.publisher import PublishOutcome
from outbox.queues import queue_for

W3C = TraceContextTextMapPropagator()


def parent_context(traceparent: str | None, tracestate: str | None) -> Context:
    """The context a stored W3C traceparent names (an empty one, never the caller's current
    context, when there is none: the span is then the root of a trace of its own)."""
    if not traceparent:
        return Context()
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    return W3C.extract(carrier, context=Context())


class PublishSpans:
    """The producer spans of one batch, ended when the broker has answered for each."""

    def __init__(self) -> None:
        self.spans: dict[int, Span] = {}

    def finish(self, outcome: PublishOutcome) -> None:
        """Confirmed messages end OK; refused or unconfirmed ones end in error, with why."""
        for delivery_id in outcome.confirmed:
            span = self.spans.pop(delivery_id, None)
            if span is not None:
                span.end()
        for delivery_id, reason in outcome.failed.items():
            span = self.spans.pop(delivery_id, None)
            if span is not None:
                span.set_status(Status(StatusCode.ERROR, reason[:200]))
                span.end()
        self.abandon("no answer from the broker")

    def abandon(self, reason: str) -> None:
        """End every span still open in error (the batch was rolled back: its rows stay
        unpublished and are published again, under new spans, by a later cycle)."""
        for span in self.spans.values():
            span.set_status(Status(StatusCode.ERROR, reason[:200]))
            span.end()
        self.spans.clear()


class PublishTracing:
    """Whether the relay makes producer spans, and how."""

    def __init__(self) -> None:
        self.tracer: Tracer | None = None

    @property
    def enabled(self) -> bool:
        return self.tracer is not None

    def enable(self, tracer: Tracer | None) -> None:
        """Make spans with `tracer` from now on (None: stop making them)."""
        self.tracer = tracer

    def build(self, rows: Sequence[Any]) -> tuple[list[OutgoingMessage], PublishSpans]:
        """The batch's messages, each carrying the context of its own producer span."""
        tracer = self.tracer
        if tracer is None:
            return [build(row) for row in rows], PublishSpans()
        spans = PublishSpans()
        messages = []
        for row in rows:
            span = tracer.start_span(
                f"publish {row.destination}",
                context=parent_context(row.traceparent, row.tracestate),
                kind=SpanKind.PRODUCER,
                attributes=_attributes(row),
            )
            carrier: dict[str, str] = {}
            W3C.inject(carrier, context=trace.set_span_in_context(span))
            spans.spans[row.delivery_id] = span
            messages.append(build(row, trace_context=carrier))
        return messages, spans


def _attributes(row: Any) -> dict[str, Any]:
    attributes = {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "send",
        "messaging.destination.name": queue_for(row.destination).queue_name,
        "messaging.message.id": f"{row.event_id}/{row.destination}/{row.generation}",
        "ordersync.event_id": str(row.event_id),
        "ordersync.event_type": row.event_type,
        "ordersync.aggregate_type": row.aggregate_type,
        "ordersync.aggregate_id": row.aggregate_id,
        "ordersync.destination": row.destination,
        "ordersync.sequence": row.sequence,
        "ordersync.generation": row.generation,
        "ordersync.delivery_id": row.delivery_id,
    }
    if row.aggregate_type == "order":
        attributes["ordersync.order_id"] = row.aggregate_id
    if row.channel:
        attributes["ordersync.channel"] = row.channel
    return attributes


# The process's relay tracing: a Relay uses this one unless it is handed its own.
publish_tracing = PublishTracing()
