"""OpenTelemetry for one process, from the standard OTEL_* variables, set up once.

OTEL_TRACES_EXPORTER picks the exporter: `otlp` (OTLP over HTTP/protobuf; its endpoint,
headers and timeout from OTEL_EXPORTER_OTLP_*), `console` (spans as JSON on stdout), or
`none` — the default, so the tests, the benchmarks and the demo pay nothing: no provider
is made, nothing is instrumented, and the product's own span code (the relay's producer
spans, the actors' consumer spans, the api's stored traceparent) finds no tracer and
makes no span object. OTEL_SERVICE_NAME names the process (default: the command's
`ordersync-api`, `ordersync-relay`, `ordersync-worker`); OTEL_TRACES_SAMPLER and
OTEL_RESOURCE_ATTRIBUTES are read by the SDK itself.

Traced, the official instrumentations cover the libraries — aiohttp's server (a SERVER
span per request, continuing the caller's traceparent), httpx (a CLIENT span per call to
a downstream system or channel), psycopg (a span per statement) and pika (blocking
channels: Dramatiq's own publishes) — and our code the rest (outbox/tracing.py,
actors/tracing.py). Tests hand `configure` an exporter of their own (an
InMemorySpanExporter) and call `reset` after.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from actors.tracing import consumer_tracing
from outbox.tracing import publish_tracing

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger("ordersync.telemetry")
EXPORTERS = ("otlp", "console", "none")


class TelemetryError(ValueError):
    """The OTEL_* variables ask for something this process cannot do."""


@dataclass
class Telemetry:
    """The process's tracing, once configured."""

    provider: TracerProvider
    instrumentors: list[Any] = field(default_factory=list)  # BaseInstrumentor


_active: Telemetry | None = None
_global_provider_set = False


def active() -> Telemetry | None:
    """The process's telemetry (None: tracing is off)."""
    return _active


def configure(
    service: str,
    *,
    exporter: SpanExporter | None = None,
    environ: Mapping[str, str] | None = None,
) -> Telemetry | None:
    """Trace this process as OTEL_* say (None: tracing off); once — a second call returns
    what the first set up. `exporter`: export there instead, each span as it ends (tests).

    The SDK and the instrumentations are imported only here, when tracing is on: a process
    without it does not load them."""
    global _active, _global_provider_set
    if _active is not None:
        return _active
    env = os.environ if environ is None else environ
    chosen = exporter or _exporter_from(env)
    if chosen is None:
        return None
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.pika import PikaInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    # A test's exporter gets each span as it ends; a real one gets them in batches, off
    # the request's and the delivery's threads.
    processor = SimpleSpanProcessor(chosen) if exporter else BatchSpanProcessor(chosen)
    # OTEL_SERVICE_NAME, when set, names the service (Resource.create reads it); a name
    # given here would override it.
    named = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(processor)
    if exporter is None and not _global_provider_set:
        # For any other library that asks the global provider (once per process: the API
        # refuses a second one).
        trace.set_tracer_provider(provider)
        _global_provider_set = True
    telemetry = Telemetry(provider)
    for instrumentor in (
        AioHttpServerInstrumentor(),
        HTTPXClientInstrumentor(),
        PsycopgInstrumentor(),
        PikaInstrumentor(),
    ):
        instrumentor.instrument(tracer_provider=provider)
        telemetry.instrumentors.append(instrumentor)
    publish_tracing.enable(provider.get_tracer("ordersync.relay"))
    consumer_tracing.enable(provider.get_tracer("ordersync.actors"))
    _active = telemetry
    log.info("tracing on: service %s", provider.resource.attributes.get(SERVICE_NAME))
    return telemetry


def reset() -> None:
    """Tracing off again: instrumentations removed, spans flushed (tests; a process keeps
    its telemetry until it exits, when the SDK flushes it)."""
    global _active
    if _active is None:
        return
    publish_tracing.enable(None)
    consumer_tracing.enable(None)
    for instrumentor in _active.instrumentors:
        instrumentor.uninstrument()
    _active.provider.shutdown()
    _active = None


def check(environ: Mapping[str, str] | None = None) -> str | None:
    """The exporter OTEL_* ask for (None: none), or TelemetryError saying what is wrong —
    before a process starts, so a typo stops it with a message, not a traceback."""
    env = os.environ if environ is None else environ
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "none").split(",")]
    names = [n for n in names if n and n != "none"]
    unknown = sorted(set(names) - set(EXPORTERS))
    if unknown:
        raise TelemetryError(
            f"OTEL_TRACES_EXPORTER={env['OTEL_TRACES_EXPORTER']!r}: "
            f"{', '.join(unknown)} unknown; choose one of {', '.join(EXPORTERS)}"
        )
    if not names:
        return None
    if len(names) > 1:
        raise TelemetryError("OTEL_TRACES_EXPORTER: one exporter at a time (otlp or console)")
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if names[0] == "otlp" and protocol != "http/protobuf":
        raise TelemetryError(
            f"OTLP protocol {protocol!r}: this build exports OTLP over http/protobuf "
            "(set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf, the collector's port 4318)"
        )
    return names[0]


def _exporter_from(env: Mapping[str, str]) -> SpanExporter | None:
    chosen = check(env)
    if chosen is None:
        return None
    if chosen == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()  # endpoint, headers, timeout: OTEL_EXPORTER_OTLP_*
