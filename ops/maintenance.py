"""`ordersync maintenance`: the prunes of ops.pruning with their configured ages, once or a
round every interval, one log line per prune. SIGTERM or Ctrl-C stops it between batches:
the batch in hand commits, no other starts; a second signal interrupts at once."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from ops.ages import age_text
from ops.pruning import Ages, Report, prune, report_lines
from ops.settings import Settings

log = logging.getLogger("ordersync.maintenance")


def configured_ages(settings: Settings) -> Ages:
    return Ages(
        outbox=settings.retention_outbox,
        dead_letters=settings.retention_dead_letters,
        audit=settings.retention_audit,
        outbox_named="ORDERSYNC_RETENTION_OUTBOX={}",
        raw_payloads=timedelta(days=settings.raw_payload_days),
    )


def run(
    engine: sa.Engine,
    settings: Settings,
    *,
    once: bool,
    interval: timedelta,
    batch: int,
    stop: threading.Event,
    on_round: Callable[[Report], None] = lambda report: None,
) -> int:
    """Rounds of prunes until `stop` is set (or one, `once`); returns how many ran. A round
    that fails on the database (it may be away) is logged and the next one tried at its
    time: a crash loop would only try sooner. A refusal (an age shorter than the dedup
    window) is raised: no later round would be different."""
    ages, rounds = configured_ages(settings), 0
    while not stop.is_set():
        try:
            report = prune(
                engine,
                ages,
                dedup_window=settings.dedup_window,
                batch=batch,
                stop=stop,
                command="maintenance",
            )
        except exc.DBAPIError as error:
            if once:
                raise
            log.error("prune round failed: %s; next round in %s", error.orig, age_text(interval))
        else:
            for line in report_lines(report, ages):
                log.info(line)
            on_round(report)
        rounds += 1
        if once:
            break
        stop.wait(interval.total_seconds())
    return rounds


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGINT and SIGTERM set (in the main thread; elsewhere nothing is
    installed). The first signal asks to stop; a second raises KeyboardInterrupt."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def request_stop(signum: int, _frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        log.info("%s: stopping after the batch in hand", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
