"""The health probe: closes an open breaker when its destination answers again, and
releases what waited for it, through the outbox (the relay sends it again; the cursors
put it back in sequence order)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

from adapters.db import consumer

log = logging.getLogger("ordersync.probe")


def probe_once(engine: sa.Engine, healthy: Callable[[str], bool]) -> list[str]:
    """Probe every open destination once; returns the ones closed again."""
    with engine.connect() as conn:
        open_ones = consumer.destinations_needing_probe(conn)
    closed = []
    for destination in open_ones:
        if not healthy(destination):
            continue
        resume(engine, destination, reason="health probe")
        closed.append(destination)
    return closed


def resume(engine: sa.Engine, destination: str, reason: str) -> int:
    """Close the breaker and release the waiting deliveries; returns how many."""
    with engine.connect() as conn, conn.begin():
        consumer.set_breaker(conn, destination, "closed", reason)
        released = consumer.release_waiting(conn, destination)
    log.info("%s is back (%s): %d waiting deliveries released", destination, reason, released)
    return released


def pause(engine: sa.Engine, destination: str, reason: str) -> None:
    """Stop delivering to a destination by hand; its messages wait until `resume`."""
    with engine.connect() as conn, conn.begin():
        consumer.set_breaker(conn, destination, "paused", reason)


def run_probe(
    engine: sa.Engine, healthy: Callable[[str], bool], stop: threading.Event, interval: float
) -> None:
    while not stop.wait(interval):
        try:
            probe_once(engine, healthy)
        except Exception:  # the probe must outlive a database blip
            log.exception("health probe failed; trying again in %.1fs", interval)
