"""Circuit breakers, one row per destination (closed, open or paused) in `destinations`:
consecutive failures open it, the health probe or an operator closes it again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.consumer_tables import destinations_table

_B = sa.bindparam
_BREAKER_STATE = sa.select(destinations_table.c.state).where(
    destinations_table.c.name == _B("destination")
)
_BREAKER_STATE_LOCKED = _BREAKER_STATE.with_for_update(read=True)


def breaker_state(conn: sa.Connection, destination: str) -> str:
    row = conn.execute(_BREAKER_STATE, {"destination": destination}).first()
    return str(row.state) if row else "closed"


def breaker_state_locked(conn: sa.Connection, destination: str) -> str:
    """The breaker's current state, share-locked until commit: a resume (which updates the
    row, then releases what waits) either ran before this read, or waits for this
    transaction and then finds the row it parks. Only on the rare parking path: share
    locks on one hot row from every message would churn multixacts."""
    row = conn.execute(_BREAKER_STATE_LOCKED, {"destination": destination}).first()
    return str(row.state) if row else "closed"


def lock_breaker(conn: sa.Connection, destination: str) -> str:
    """The breaker's state, its row created if new and locked until commit (FOR UPDATE): a
    resume, which closes the breaker and then releases what waits, runs wholly before or
    wholly after the caller. Only on the rare path that parks a message after its retries."""
    t = destinations_table
    stmt = insert(t).values(name=destination, state="closed", failures=0)
    stmt = stmt.on_conflict_do_update(index_elements=[t.c.name], set_={"name": stmt.excluded.name})
    return str(conn.execute(stmt.returning(t.c.state)).scalar_one())


def set_breaker(
    conn: sa.Connection,
    destination: str,
    state: str,
    reason: str | None = None,
    *,
    retry_after_s: float | None = None,
) -> None:
    """Set a destination's breaker; `retry_after_s`: the system asked not to be called
    again before then (its Retry-After), so the probe leaves it alone until then."""
    t = destinations_table
    retry_at = None if retry_after_s is None else _now() + timedelta(seconds=retry_after_s)
    values = {
        "state": state,
        "reason": reason,
        "failures": 0,
        "changed_at": sa.func.now(),
        "retry_at": retry_at,
    }
    stmt = insert(t).values(name=destination, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[t.c.name], set_=values))


def count_failure(conn: sa.Connection, destination: str, threshold: int, reason: str) -> str:
    """One more consecutive failure; opens the breaker at `threshold`. Returns the state."""
    t = destinations_table
    stmt = insert(t).values(name=destination, state="closed", failures=1, reason=reason)
    row = conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[t.c.name],
            set_={"failures": t.c.failures + 1, "reason": reason},
        ).returning(t.c.failures, t.c.state)
    ).one()
    if row.state == "closed" and row.failures >= threshold:
        set_breaker(conn, destination, "open", reason)
        return "open"
    return str(row.state)


def _now() -> datetime:
    # One clock for retry_at and the comparisons with it: set_breaker computes it here.
    return datetime.now(UTC)


def destinations_needing_probe(conn: sa.Connection) -> list[str]:
    """Open breakers, but not before the time their system asked for (Retry-After)."""
    t = destinations_table
    due = sa.or_(t.c.retry_at.is_(None), t.c.retry_at <= _now())
    return list(conn.execute(sa.select(t.c.name).where(t.c.state == "open", due)).scalars())


def breaker_exists(conn: sa.Connection, destination: str) -> bool:
    """Whether the destination has a breaker row (it failed, or was paused, once)."""
    return conn.execute(_BREAKER_STATE, {"destination": destination}).first() is not None
