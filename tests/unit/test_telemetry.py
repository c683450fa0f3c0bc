"""Tracing is set up from the standard OTEL_* variables, and is nothing at all by default."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from actors.tracing import consumer_tracing
from ops import telemetry
from outbox.tracing import publish_tracing


def test_by_default_nothing_is_traced_and_no_tracer_is_installed() -> None:
    assert telemetry.configure("ordersync-api", environ={}) is None
    assert telemetry.configure("ordersync-api", environ={"OTEL_TRACES_EXPORTER": "none"}) is None
    assert telemetry.active() is None
    assert not publish_tracing.enabled and consumer_tracing.tracer is None


@pytest.mark.parametrize(
    ("environ", "complaint"),
    [
        ({"OTEL_TRACES_EXPORTER": "jaeger"}, "jaeger unknown; choose one of otlp, console, none"),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, "one exporter at a time"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "exports OTLP over http/protobuf",
        ),
    ],
)
def test_a_bad_otel_setting_is_refused_with_what_to_set(
    environ: dict[str, str], complaint: str
) -> None:
    with pytest.raises(telemetry.TelemetryError, match=complaint):
        telemetry.check(environ)


def test_the_exporters_it_knows() -> None:
    assert telemetry.check({"OTEL_TRACES_EXPORTER": " OTLP "}) == "otlp"
    assert telemetry.check({"OTEL_TRACES_EXPORTER": "console"}) == "console"


def test_configured_once_the_products_spans_are_on_and_named_after_the_process() -> None:
    exporter = InMemorySpanExporter()
    try:
        configured = telemetry.configure("ordersync-relay", exporter=exporter, environ={})
        assert configured is not None
        assert telemetry.configure("ordersync-worker", environ={}) is configured  # once
        assert publish_tracing.enabled and consumer_tracing.tracer is not None
        assert configured.provider.resource.attributes["service.name"] == "ordersync-relay"
        tracer = configured.provider.get_tracer("test")
        with tracer.start_as_current_span("work"):
            assert trace.get_current_span().get_span_context().is_valid
        assert [s.name for s in exporter.get_finished_spans()] == ["work"]
    finally:
        telemetry.reset()
    assert telemetry.active() is None and not publish_tracing.enabled


def test_otel_service_name_wins_over_the_commands_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "api-eu-1")
    try:
        configured = telemetry.configure("ordersync-api", exporter=InMemorySpanExporter())
        assert configured is not None
        assert configured.provider.resource.attributes["service.name"] == "api-eu-1"
    finally:
        telemetry.reset()
