"""Extension points of the relay: what each batch cost, phase by phase.

Tracing and metrics attach here, and so do the benchmarks: a listener subscribes to
`relay_hooks` (or the hooks handed to a Relay) and is called once per batch with a
BatchReport. Nobody listening, the relay checks an empty list once a batch and calls a
shared timer that does nothing: no report object is built, no clock is read.

A batch's phases, in the relay's order: `claim` (the locking read of the rows), `build`
(the messages), `publish` (handing them to the broker; confirms arrive meanwhile),
`confirm` (waiting for the last confirmation) and `mark` (the rows marked published,
committed). With pipelining, the next batch's claim, build and publish run between
this one's publish and confirm, so the phases of one batch need not be contiguous.
Times are wall-clock seconds (time.time()): spans need them, and the benchmarks join
them with timestamps taken in other processes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from outbox.publisher import PublishOutcome

log = logging.getLogger("ordersync.hooks")

Report = TypeVar("Report")


@dataclass(slots=True)
class Span:
    """One timed phase: when it started and ended, and how many items it handled."""

    name: str
    started_at: float
    ended_at: float = 0.0
    count: int = 0

    @property
    def seconds(self) -> float:
        return self.ended_at - self.started_at


class Hooks(Generic[Report]):
    """Listeners of one kind of report. A listener that raises is logged and skipped: an
    observer must never change what the product does."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[Report], object]] = []

    def subscribe(self, listener: Callable[[Report], object]) -> Callable[[], None]:
        """Call `listener` with every report from now on; returns the unsubscribe call."""
        self.listeners.append(listener)
        return lambda: self.unsubscribe(listener)

    def unsubscribe(self, listener: Callable[[Report], object]) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def emit(self, report: Report) -> None:
        for listener in list(self.listeners):
            try:
                listener(report)
            except Exception:
                log.exception("a %s listener failed", type(report).__name__)


@dataclass(slots=True)
class BatchReport:
    """One relay batch: its phases, and the delivery ids the broker confirmed or refused."""

    spans: list[Span] = field(default_factory=list)
    confirmed: Sequence[int] = ()
    failed: Mapping[int, str] = field(default_factory=dict)

    def span(self, name: str) -> Span:
        """The named phase (KeyError if the batch never reached it)."""
        for span in self.spans:
            if span.name == name:
                return span
        raise KeyError(name)

    @property
    def started_at(self) -> float:
        return self.spans[0].started_at

    @property
    def ended_at(self) -> float:
        return self.spans[-1].ended_at


class BatchTimer:
    """Times one batch as the relay goes: each call closes the phase that started at the
    previous one. Made only when someone listens (RelayHooks.timer)."""

    def __init__(self, hooks: RelayHooks) -> None:
        self.hooks = hooks
        self.report = BatchReport()
        self._since = time.time()

    def done(self, phase: str, count: int) -> None:
        """Phase `phase` ended now, having handled `count` rows or messages."""
        now = time.time()
        self.report.spans.append(Span(phase, self._since, now, count))
        self._since = now

    def resume(self) -> None:
        """The batch's next phase starts now (after other batches' work in between)."""
        self._since = time.time()

    def finish(self, outcome: PublishOutcome) -> None:
        """The batch is marked and committed: close its `mark` phase and report it."""
        self.done("mark", len(outcome.confirmed) + len(outcome.failed))
        self.report.confirmed, self.report.failed = outcome.confirmed, outcome.failed
        self.hooks.emit(self.report)


class _Unobserved(BatchTimer):
    """The timer of a batch nobody listens to: every call returns at once."""

    def __init__(self) -> None:
        pass

    def done(self, phase: str, count: int) -> None:
        pass

    def resume(self) -> None:
        pass

    def finish(self, outcome: PublishOutcome) -> None:
        pass


_UNOBSERVED = _Unobserved()


class RelayHooks(Hooks[BatchReport]):
    def timer(self) -> BatchTimer:
        """A timer for the next batch; with nobody listening, one shared timer that does
        nothing (no report is built, no clock read)."""
        return BatchTimer(self) if self.listeners else _UNOBSERVED


# The process's relay hooks: a Relay reports here unless it is handed hooks of its own.
relay_hooks = RelayHooks()
