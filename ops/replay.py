"""Running a replay: plan it, release its rows at a bounded rate with a checkpoint per
batch, resume it after a Ctrl-C or a crash, cancel it (the SQL is adapters.db.replays).

Only one process runs a given replay at a time (a session advisory lock on its id, held
while it releases): a second `--resume` of the same replay is refused, not doubled.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from adapters.db import replays
from adapters.db.replays import ReplayError, ReplayFilter, Selection

__all__ = ["ReplayError", "ReplayFilter", "ReplaySummary", "replay"]

MODES = ("redeliver", "reprocess")
MAX_BATCH = 500
_RUN_LOCK = 0x6F72_6465  # pg_try_advisory_lock(_RUN_LOCK, replay id): who runs it

# (released so far, total): called after each batch.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ReplaySummary:
    replay_id: int
    mode: str
    state: str  # done, interrupted or cancelled
    total: int
    released: int
    seconds: float


def preview(engine: sa.Engine, mode: str, flt: ReplayFilter) -> Selection:
    """What a replay would take (the dry run): changes nothing."""
    _check_mode(mode)
    with engine.connect() as conn:
        return replays.select(conn, mode, flt)


def start(
    engine: sa.Engine,
    mode: str,
    flt: ReplayFilter,
    *,
    created_by: str,
    rate: float | None = None,
) -> tuple[int, Selection]:
    """Plan a replay: record it, mark its rows, hold its chains (one transaction)."""
    _check_mode(mode)
    if rate is not None and rate <= 0:
        raise ReplayError("--rate must be a positive number of messages per second")
    with engine.begin() as conn:
        selection = replays.select(conn, mode, flt)
        replay_id = replays.create(conn, mode, flt, selection, created_by=created_by, rate=rate)
    return replay_id, selection


def run(
    engine: sa.Engine,
    replay_id: int,
    *,
    rate: float | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    running: threading.Event | None = None,
) -> ReplaySummary:
    """Release the replay's rows from its checkpoint on, batch by batch, at most `rate` a
    second (default: the rate it was started with; none: as fast as the database takes
    it). A set `stop` (Ctrl-C) ends it between batches as `interrupted`, to be resumed;
    a cancel meanwhile ends it as `cancelled`. `running` is set once this process holds
    the replay (for a caller that waits to know it started)."""
    began = time.monotonic()
    with engine.connect() as lock_conn:
        if not lock_conn.execute(
            sa.text("SELECT pg_try_advisory_lock(:a, :b)"), {"a": _RUN_LOCK, "b": replay_id}
        ).scalar_one():
            raise ReplayError(f"replay {replay_id} is being run by another process")
        try:
            if running is not None:
                running.set()
            return _release_all(engine, replay_id, rate, progress, stop, began)
        finally:
            lock_conn.execute(
                sa.text("SELECT pg_advisory_unlock(:a, :b)"), {"a": _RUN_LOCK, "b": replay_id}
            )
            lock_conn.commit()


def _release_all(
    engine: sa.Engine,
    replay_id: int,
    rate: float | None,
    progress: Progress | None,
    stop: threading.Event | None,
    began: float,
) -> ReplaySummary:
    with engine.begin() as conn:
        replay = replays.get(conn, replay_id, lock=True)
        if replay is None:
            raise ReplayError(f"no replay {replay_id}")
        if replay.state not in replays.ACTIVE_STATES:
            raise ReplayError(f"replay {replay_id} is {replay.state}; there is nothing to resume")
        replays.set_state(conn, replay_id, "running")
    rate = rate if rate is not None else replay.rate
    batch = MAX_BATCH if rate is None else max(1, min(MAX_BATCH, math.ceil(rate / 10)))
    checkpoint, released, total = replay.checkpoint, replay.released, replay.total
    reprocess = replay.mode == "reprocess"
    paced_from, paced_start = time.monotonic(), released
    if progress:
        progress(released, total)
    while released < total:
        if stop is not None and stop.is_set():
            return _ended(engine, replay, "interrupted", released, began)
        if rate is not None:
            # Batch k goes out no sooner than (what went before it) / rate: the whole
            # replay takes at least total / rate seconds.
            _sleep_until(paced_from + (released - paced_start) / rate, stop)
            if stop is not None and stop.is_set():
                continue
        try:
            with engine.begin() as conn:
                checkpoint, now_released = replays.release_batch(
                    conn, replay_id, checkpoint, batch, reprocess=reprocess
                )
        except ReplayError:  # cancelled meanwhile: nothing more goes
            return _ended(engine, replay, "cancelled", released, began)
        if now_released == released:  # no rows left after the checkpoint (some pruned)
            break
        released = now_released
        if progress:
            progress(released, total)
    if rate is not None:
        _sleep_until(paced_from + (released - paced_start) / rate, stop)
    return _ended(engine, replay, "done", released, began)


def _ended(
    engine: sa.Engine, replay: Any, state: str, released: int, began: float
) -> ReplaySummary:
    """The runner's last word: `state`, unless the replay was cancelled meanwhile."""
    with engine.begin() as conn:
        if not replays.set_state(conn, replay.id, state, only_from=("running",)):
            state = replays.get(conn, replay.id).state
    seconds = time.monotonic() - began
    return ReplaySummary(replay.id, replay.mode, state, replay.total, released, seconds)


def _sleep_until(deadline: float, stop: threading.Event | None) -> None:
    wait = deadline - time.monotonic()
    if wait > 0:
        if stop is not None:
            stop.wait(wait)
        else:
            time.sleep(wait)


def cancel(engine: sa.Engine, replay_id: int) -> dict[str, int]:
    with engine.begin() as conn:
        return replays.cancel(conn, replay_id)


def replay(
    engine: sa.Engine,
    *,
    mode: str,
    flt: ReplayFilter,
    actor: str | None = None,
    via: str = "cli",
    rate: float | None = None,
) -> ReplaySummary:
    """Plan and run a replay to its end, audited (for tooling such as reconcile --repair)."""
    from ops.audit import audited

    with audited(
        engine, "outbox.replay", filter={"mode": mode, **flt.as_dict()}, actor=actor, via=via
    ) as entry:
        replay_id, selection = start(
            engine, mode, flt, created_by=actor or _default_actor(), rate=rate
        )
        entry.counts = {"replay_id": replay_id, **selection.counts()}
        summary = run(engine, replay_id, rate=rate)
        entry.counts["released"] = summary.released
        return summary


def _default_actor() -> str:
    from ops.audit import os_user

    return os_user()


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ReplayError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
