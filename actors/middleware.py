"""Our Dramatiq middleware: per delivery, where its time went and what became of it.

`DeliveryTiming` (installed by actors.registry.register on every broker, the in-process
one included) opens a DeliveryReport when a worker thread starts a message and hands it
to the listeners of `delivery_hooks` when the message is done: time in the queue (from
the message's timestamp, which the relay sets to the outbox row's creation), the spans
the code that knows them opened meanwhile (`guard`: actors.guard.deliver, its cursor
lock, inbox and ledger; inside it `handler`: the call to the downstream system), and the
outcome (applied, duplicate, parked, waiting, superseded, dead, unknown; `retry` when
Dramatiq will try again, `error`, `skipped`).

The report being built lives in a context variable of the worker thread, so the guard
reports its phases without being handed anything. Nobody listening, no report is made:
the middleware checks an empty list and a span is one context-variable read.
Tracing and metrics attach here (spans carry wall-clock start and end times).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dramatiq
from dramatiq.middleware import Middleware
from opentelemetry import trace

from outbox.hooks import Hooks, Span

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(slots=True)
class DeliveryReport:
    """One message handled by one worker thread (a retry is a report of its own)."""

    actor_name: str
    queue_name: str
    message_id: str
    event_id: str | None
    event_type: str | None
    destination: str | None
    retries: int
    enqueued_at: float  # the message's timestamp, wall-clock seconds
    started_at: float
    ended_at: float = 0.0
    outcome: str | None = None
    spans: list[Span] = field(default_factory=list)

    @property
    def queue_seconds(self) -> float:
        return self.started_at - self.enqueued_at

    @property
    def handler_seconds(self) -> float:
        return sum(s.seconds for s in self.spans if s.name == "handler")

    @property
    def guard_seconds(self) -> float:
        """The guard's own time: its database bookkeeping, without the handler's call."""
        guard = sum(s.seconds for s in self.spans if s.name == "guard")
        return guard - self.handler_seconds if guard else 0.0

    def span(self, name: str) -> Span | None:
        return next((s for s in self.spans if s.name == name), None)


class DeliveryHooks(Hooks[DeliveryReport]):
    pass


# The process's delivery hooks; DeliveryTiming reports here unless handed hooks of its own.
delivery_hooks = DeliveryHooks()
_current: ContextVar[DeliveryReport | None] = ContextVar("ordersync_delivery", default=None)
_UNTIMED = nullcontext()


class DeliveryTiming(Middleware):
    def __init__(self, hooks: DeliveryHooks = delivery_hooks) -> None:
        self.hooks = hooks

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        if not self.hooks.listeners:
            return
        body = message.args[0] if message.args and isinstance(message.args[0], dict) else {}
        _current.set(
            DeliveryReport(
                actor_name=message.actor_name,
                queue_name=message.queue_name,
                message_id=message.message_id,
                event_id=body.get("event_id"),
                event_type=body.get("event_type"),
                destination=body.get("destination"),
                retries=int(message.options.get("retries", 0)),
                enqueued_at=message.message_timestamp / 1000,
                started_at=time.time(),
            )
        )

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        if exception is None:
            self._finish(None)
        else:
            self._finish("retry" if isinstance(exception, dramatiq.Retry) else "error")

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._finish("skipped")

    def _finish(self, outcome: str | None) -> None:
        report = _current.get()
        if report is None:
            return
        _current.set(None)
        report.ended_at = time.time()
        if outcome is not None or report.outcome is None:
            report.outcome = outcome or "done"
        self.hooks.emit(report)


class _Timed:
    __slots__ = ("report", "span")

    def __init__(self, report: DeliveryReport, name: str) -> None:
        self.report = report
        self.span = Span(name, 0.0)

    def __enter__(self) -> Span:
        self.span.started_at = time.time()
        self.report.spans.append(self.span)
        return self.span

    def __exit__(self, *exc: object) -> None:
        self.span.ended_at = time.time()


def phase(name: str) -> AbstractContextManager[object]:
    """Time the enclosed code as span `name` of the delivery in progress (if it is
    reported; otherwise a context manager that does nothing)."""
    report = _current.get()
    return _UNTIMED if report is None else _Timed(report, name)


def timed(name: str) -> Callable[[F], F]:
    """Time every call of the decorated function as span `name` (see phase)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with phase(name):
                return fn(*args, **kwargs)

        return run  # type: ignore[return-value]

    return decorate


def record_outcome(outcome: str) -> None:
    """What the delivery in progress came to, as the code that decided it says (on its
    report, and on its consumer span when traced: actors/tracing.py)."""
    trace.get_current_span().set_attribute("ordersync.outcome", outcome)
    report = _current.get()
    if report is not None:
        report.outcome = outcome
