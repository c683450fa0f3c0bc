"""The health probe: closes an open breaker when its destination answers again, and
releases what waited for it, through the outbox (the relay sends it again; the cursors
put it back in sequence order). Each round also sweeps up deliveries left `waiting`
under a closed breaker — none should be (parking and resuming take the breaker's row
lock), so each one released is counted: a non-zero counter is a bug to look into."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa
from prometheus_client import Counter

from actors.outage import database_down
from adapters.db import breakers, ledger

log = logging.getLogger("ordersync.probe")

STRANDED_RELEASED = Counter(
    "ordersync_stranded_waiting_released",
    "Deliveries found waiting under a closed breaker and released by the probe's sweep",
    ["destination"],
)
# A delivery parks as waiting and opens the breaker in one transaction; one still waiting
# under a closed breaker this long after its last change was stranded.
STRANDED_AFTER_S = 30.0


def probe_once(engine: sa.Engine, healthy: Callable[[str], bool]) -> list[str]:
    """Probe every open destination once; returns the ones closed again."""
    with engine.connect() as conn:
        open_ones = breakers.destinations_needing_probe(conn)
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
        breakers.set_breaker(conn, destination, "closed", reason)
        released = ledger.release_waiting(conn, destination)
    log.info("%s is back (%s): %d waiting deliveries released", destination, reason, released)
    return released


def pause(engine: sa.Engine, destination: str, reason: str) -> None:
    """Stop delivering to a destination by hand; its messages wait until `resume`."""
    with engine.connect() as conn, conn.begin():
        breakers.set_breaker(conn, destination, "paused", reason)


def sweep_stranded(engine: sa.Engine, older_than_s: float = STRANDED_AFTER_S) -> dict[str, int]:
    """Release deliveries waiting under a closed breaker; returns how many, per destination."""
    with engine.connect() as conn, conn.begin():
        released = ledger.release_stranded(conn, older_than_s)
    for destination, count in released.items():
        STRANDED_RELEASED.labels(destination).inc(count)
        log.warning(
            "%s: %d deliveries were waiting under a closed breaker; released", destination, count
        )
    return released


def run_probe(
    engine: sa.Engine, healthy: Callable[[str], bool], stop: threading.Event, interval: float
) -> None:
    while not stop.wait(interval):
        try:
            probe_once(engine, healthy)
            sweep_stranded(engine)
        except Exception as error:  # the probe must outlive a database outage
            if database_down(error):
                log.warning("health probe: the database is unavailable; again in %.1fs", interval)
            else:
                log.exception("health probe failed; trying again in %.1fs", interval)
