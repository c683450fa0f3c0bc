"""Our Dramatiq middleware on the in-process broker with a real worker: each message is
reported once with its queue time, its spans and its outcome; with nobody listening,
nothing is built."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker

from actors import middleware
from actors.middleware import (
    DeliveryHooks,
    DeliveryReport,
    DeliveryTiming,
    phase,
    record_outcome,
    timed,
)

GUARD_WORK_S = 0.02
HANDLER_WORK_S = 0.03


@timed("guard")
def _guard(seen: list[Any]) -> None:
    time.sleep(GUARD_WORK_S)
    with phase("handler") as span:
        seen.append(span)
        time.sleep(HANDLER_WORK_S)
    record_outcome("applied")


@pytest.fixture
def hooks() -> DeliveryHooks:
    return DeliveryHooks()


@pytest.fixture
def broker(hooks: DeliveryHooks) -> Iterator[StubBroker]:
    broker = StubBroker()
    broker.add_middleware(DeliveryTiming(hooks))
    broker.emit_after("process_boot")
    yield broker
    broker.close()


def _run(broker: StubBroker, actor: Any, *messages: dict[str, Any]) -> None:
    for body in messages:
        actor.send(body)
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        broker.join(actor.queue_name, timeout=10_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()


def _envelope(n: int) -> dict[str, Any]:
    return {
        "event_id": f"e-{n}",
        "event_type": "order.accepted",
        "destination": "erp",
    }


def test_each_delivery_is_reported_with_its_queue_time_spans_and_outcome(
    broker: StubBroker, hooks: DeliveryHooks
) -> None:
    seen: list[Any] = []
    reports: list[DeliveryReport] = []
    hooks.subscribe(reports.append)

    @dramatiq.actor(actor_name="test.apply", queue_name="erp", broker=broker)
    def apply(envelope: dict[str, Any]) -> None:
        _guard(seen)

    sent_at = time.time()
    _run(broker, apply, _envelope(1), _envelope(2))

    assert len(reports) == 2
    assert {r.event_id for r in reports} == {"e-1", "e-2"}
    for report in reports:
        assert (report.actor_name, report.queue_name) == ("test.apply", "erp")
        assert (report.event_type, report.destination, report.outcome) == (
            "order.accepted",
            "erp",
            "applied",
        )
        # The message's timestamp is in milliseconds: its queue time is never negative
        # beyond that rounding, and a local queue is not slow.
        assert -0.002 <= report.queue_seconds < 5
        assert sent_at - 0.002 <= report.enqueued_at <= report.started_at
        guard, handler = report.span("guard"), report.span("handler")
        assert guard is not None and handler is not None
        assert guard.started_at <= handler.started_at <= handler.ended_at <= guard.ended_at
        assert report.started_at <= guard.started_at and guard.ended_at <= report.ended_at
        assert HANDLER_WORK_S <= report.handler_seconds < HANDLER_WORK_S + 1
        assert GUARD_WORK_S <= report.guard_seconds < GUARD_WORK_S + 1
    assert all(span is not None for span in seen)


def test_a_retry_and_an_unhandled_error_are_outcomes_of_their_own(
    broker: StubBroker, hooks: DeliveryHooks
) -> None:
    reports: list[DeliveryReport] = []
    hooks.subscribe(reports.append)

    @dramatiq.actor(
        actor_name="test.flaky", queue_name="wms", broker=broker, max_retries=1, min_backoff=1
    )
    def flaky(envelope: dict[str, Any]) -> None:
        if envelope["event_id"] == "e-retry":
            raise dramatiq.Retry("again", delay=1)
        raise ValueError("a bug")

    _run(broker, flaky, {"event_id": "e-retry"}, {"event_id": "e-bug"})

    outcomes = sorted((r.event_id, r.outcome, r.retries) for r in reports)
    assert ("e-bug", "error", 0) in outcomes
    assert ("e-retry", "retry", 0) in outcomes and ("e-retry", "retry", 1) in outcomes


def test_nobody_listening_means_no_report_is_built(
    broker: StubBroker, hooks: DeliveryHooks, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[object] = []

    class CountedReport(DeliveryReport):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            built.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(middleware, "DeliveryReport", CountedReport)
    seen: list[Any] = []

    @dramatiq.actor(actor_name="test.quiet", queue_name="crm", broker=broker)
    def quiet(envelope: dict[str, Any]) -> None:
        _guard(seen)

    _run(broker, quiet, _envelope(1))
    assert seen == [None]  # the span was the do-nothing context manager
    assert built == []

    hooks.subscribe(lambda report: None)  # the counter itself works
    _run(broker, quiet, _envelope(2))
    assert len(built) == 1 and seen[-1] is not None


def test_a_failing_listener_changes_nothing_for_the_others(
    broker: StubBroker, hooks: DeliveryHooks
) -> None:
    reports: list[DeliveryReport] = []

    def broken(report: DeliveryReport) -> None:
        raise RuntimeError("listener bug")

    hooks.subscribe(broken)
    unsubscribe = hooks.subscribe(reports.append)

    @dramatiq.actor(actor_name="test.calm", queue_name="erp", broker=broker)
    def calm(envelope: dict[str, Any]) -> None:
        record_outcome("duplicate")

    _run(broker, calm, _envelope(1))
    unsubscribe()
    _run(broker, calm, _envelope(2))
    assert [(r.event_id, r.outcome) for r in reports] == [("e-1", "duplicate")]
