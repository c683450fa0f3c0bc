"""Replays of outbox ranges, in SQL: select, plan, release in batches, cancel, list.

A replay never publishes. It marks the ledger rows it selected (`replay_id`) and then
releases them in id order, a batch per transaction, by clearing `published_at`: the relay
sends them again as it sends any unpublished row (confirms, partitions, order), and each
batch moves the replay's checkpoint in the same transaction, so a resumed replay never
releases a row twice.

- redeliver: the same generation; the consumer drops what it already applied (the inbox,
  the cursor) and applies what never arrived, in sequence order as always;
- reprocess: generation + 1, so a new Idempotency-Key and the destination applies it
  again. Those rows lie behind their cursors, so ordering is the replay's own: the rows
  of one (destination, aggregate) form a chain (replay_step 1, 2, …), the aggregate's
  cursor holds the replay (replay_id, replay_step of replay_steps), the consumer applies
  the chain in order, and a new event of that aggregate parks until the chain is through
  (actors.guard, adapters.db.delivery_transaction).

State-like rows (a coalesce key: a stock figure for a channel) replay as the current
state: of each (destination, aggregate, key) only the newest row goes, whether or not the
filter caught it, so no replay sends an older figure over a newer one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.db.consumer_tables import cursors_table as cur
from adapters.db.operations_tables import replays_table as rt
from outbox.tables import deliveries_table as d
from outbox.tables import events_table as e
from outbox.writer import NOTIFY_CHANNEL

# What each mode may take, and what it takes when --status is not given: a redelivery
# re-sends what was published (applied or not), a reprocess what was applied. Pending rows
# go out anyway; parked and waiting ones are released by their predecessor or their
# destination's return; dead ones are requeued (`ordersync dlq requeue`).
ELIGIBLE = {
    "redeliver": ("published", "applied", "superseded"),
    "reprocess": ("applied", "superseded"),
}
DEFAULT_STATUSES = {"redeliver": ("published", "applied"), "reprocess": ("applied",)}
ACTIVE_STATES = ("running", "interrupted")


class ReplayError(Exception):
    """A replay that cannot be started, resumed or cancelled as asked (the message says why)."""


@dataclass(frozen=True)
class ReplayFilter:
    """Filters that combine (AND); each list is an OR of its values."""

    from_id: int | None = None  # outbox event ids, inclusive
    to_id: int | None = None
    since: datetime | None = None  # the event's commit time (outbox_events.created_at)
    until: datetime | None = None
    orders: tuple[str, ...] = ()
    channel: str | None = None
    event_types: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "from_id": self.from_id,
            "to_id": self.to_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "orders": list(self.orders),
            "channel": self.channel,
            "event_types": list(self.event_types),
            "destinations": list(self.destinations),
            "statuses": list(self.statuses),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplayFilter:
        def when(key: str) -> datetime | None:
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(
            from_id=data.get("from_id"),
            to_id=data.get("to_id"),
            since=when("since"),
            until=when("until"),
            orders=tuple(data.get("orders") or ()),
            channel=data.get("channel"),
            event_types=tuple(data.get("event_types") or ()),
            destinations=tuple(data.get("destinations") or ()),
            statuses=tuple(data.get("statuses") or ()),
        )


@dataclass
class Selection:
    """What a replay would release: counts for the dry run, and what was left out, why."""

    ids: list[int]
    by_destination: Counter[str] = field(default_factory=Counter)
    by_event_type: Counter[str] = field(default_factory=Counter)
    orders: set[str] = field(default_factory=set)
    first_id: int | None = None  # outbox event ids
    last_id: int | None = None
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return len(self.ids)

    def counts(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_destination": dict(sorted(self.by_destination.items())),
            "by_event_type": dict(sorted(self.by_event_type.items())),
            "orders": len(self.orders),
            "first_event_id": self.first_id,
            "last_event_id": self.last_id,
            "skipped": dict(sorted(self.skipped.items())),
        }


def statuses_for(mode: str, flt: ReplayFilter) -> tuple[str, ...]:
    """The ledger statuses a replay in `mode` takes under `flt` (a ReplayError for one it
    cannot take, naming what to use instead)."""
    if not flt.statuses:
        return DEFAULT_STATUSES[mode]
    wrong = [s for s in flt.statuses if s not in ELIGIBLE[mode]]
    if wrong:
        hint = {
            "dead": "dead letters are requeued with `ordersync dlq requeue`",
            "pending": "pending deliveries are on their way (the relay sends them)",
            "parked": "parked deliveries go when their predecessor is applied",
            "waiting": "waiting deliveries go when their destination is back "
            "(`ordersync destination resume`)",
        }
        why = "; ".join(hint.get(s, f"{s!r} is not a ledger status") for s in wrong)
        raise ReplayError(
            f"a {mode} replay takes statuses {', '.join(ELIGIBLE[mode])}, not "
            f"{', '.join(wrong)}: {why}"
        )
    return flt.statuses


def _matching(flt: ReplayFilter, statuses: tuple[str, ...]) -> sa.Select[Any]:
    query = sa.select(
        d.c.id,
        d.c.destination,
        d.c.aggregate_type,
        d.c.aggregate_id,
        d.c.sequence,
        d.c.coalesce_key,
        d.c.status,
        e.c.id.label("event_row"),
        e.c.event_type,
    ).select_from(d.join(e, e.c.event_id == d.c.event_id))
    conditions = []
    if flt.from_id is not None:
        conditions.append(e.c.id >= flt.from_id)
    if flt.to_id is not None:
        conditions.append(e.c.id <= flt.to_id)
    if flt.since is not None:
        conditions.append(e.c.created_at >= flt.since)
    if flt.until is not None:
        conditions.append(e.c.created_at < flt.until)
    if flt.orders:
        conditions += [d.c.aggregate_type == "order", d.c.aggregate_id.in_(flt.orders)]
    if flt.channel:
        conditions.append(e.c.channel == flt.channel)
    if flt.event_types:
        conditions.append(e.c.event_type.in_(flt.event_types))
    if flt.destinations:
        conditions.append(d.c.destination.in_(flt.destinations))
    # State-like rows are taken whatever their status: their current figure stands in.
    conditions.append(sa.or_(d.c.status.in_(statuses), d.c.coalesce_key.is_not(None)))
    return query.where(*conditions).order_by(d.c.id)


_NEWEST_OF_KEY = sa.text(
    """
    SELECT DISTINCT ON (n.destination, n.aggregate_type, n.aggregate_id, n.coalesce_key)
           n.id, n.destination, n.aggregate_type, n.aggregate_id, n.sequence, n.coalesce_key,
           n.status, e.id AS event_row, e.event_type
    FROM outbox_deliveries n JOIN outbox_events e ON e.event_id = n.event_id
    JOIN unnest(CAST(:ids AS bigint[])) AS picked(id) ON true
    JOIN outbox_deliveries p ON p.id = picked.id
    WHERE n.destination = p.destination AND n.aggregate_type = p.aggregate_type
      AND n.aggregate_id = p.aggregate_id AND n.coalesce_key = p.coalesce_key
    ORDER BY n.destination, n.aggregate_type, n.aggregate_id, n.coalesce_key, n.sequence DESC
    """
)


def select(conn: sa.Connection, mode: str, flt: ReplayFilter) -> Selection:
    """The ledger rows a replay in `mode` takes under `flt`, in id order."""
    statuses = statuses_for(mode, flt)
    rows = list(conn.execute(_matching(flt, statuses)))
    skipped: Counter[str] = Counter()
    chosen = [r for r in rows if r.coalesce_key is None]
    state_like = [r.id for r in rows if r.coalesce_key is not None]
    if state_like:
        newest_rows = list(conn.execute(_NEWEST_OF_KEY, {"ids": state_like}))
        newest = {n.id for n in newest_rows}
        skipped["older state-like figures"] = sum(1 for i in state_like if i not in newest)
        for n in newest_rows:
            if n.status in ELIGIBLE[mode]:
                chosen.append(n)
            else:
                skipped["current state on its way"] += 1
    chosen = sorted({r.id: r for r in chosen}.values(), key=lambda r: r.id)
    if mode == "reprocess" and chosen:
        chosen, blocked = _without_blocked(conn, chosen)
        if blocked:
            skipped["aggregate blocked by a dead letter"] += blocked
    selection = Selection(ids=[r.id for r in chosen], skipped=skipped)
    for r in chosen:
        selection.by_destination[r.destination] += 1
        selection.by_event_type[r.event_type] += 1
        if r.aggregate_type == "order":
            selection.orders.add(r.aggregate_id)
    if chosen:
        event_rows = [r.event_row for r in chosen]
        selection.first_id, selection.last_id = min(event_rows), max(event_rows)
    return selection


def _without_blocked(conn: sa.Connection, rows: list[Any]) -> tuple[list[Any], int]:
    """A chain cannot run behind a dead letter: aggregates blocked at a destination are left
    out of a reprocess (requeue or purge the dead letter first)."""
    keys = {(r.destination, r.aggregate_type, r.aggregate_id) for r in rows}
    blocked = {
        (b.destination, b.aggregate_type, b.aggregate_id)
        for b in conn.execute(
            sa.select(cur.c.destination, cur.c.aggregate_type, cur.c.aggregate_id).where(
                cur.c.blocked_by.is_not(None)
            )
        )
    } & keys
    kept = [r for r in rows if (r.destination, r.aggregate_type, r.aggregate_id) not in blocked]
    return kept, len(rows) - len(kept)


def active_replay(conn: sa.Connection) -> Any | None:
    """The replay that is running or was interrupted, if any (one at a time)."""
    return conn.execute(
        sa.select(rt).where(rt.c.state.in_(ACTIVE_STATES)).order_by(rt.c.id).limit(1)
    ).first()


_LOCK_REPLAYS = 0x6F72_6465_7273_0001  # one advisory key: starting a replay is serialized


def create(
    conn: sa.Connection,
    mode: str,
    flt: ReplayFilter,
    selection: Selection,
    *,
    created_by: str,
    rate: float | None,
) -> int:
    """Record the replay, mark its rows and, for a reprocess, hold each chain's cursor —
    one transaction (the caller's). Refused while another replay is active."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_REPLAYS})
    other = active_replay(conn)
    if other is not None:
        raise ReplayError(
            f"replay {other.id} is {other.state}: resume it (`ordersync outbox replay --resume "
            f"{other.id}`) or cancel it (`--cancel {other.id}`) first; replays run one at a time"
        )
    held = conn.execute(_HELD).first()
    if held is not None:
        raise ReplayError(
            f"replay {held.replay_id} is released but still being delivered ({held.n} "
            "aggregates held in order); start this one when `ordersync outbox replays` shows "
            "it delivered"
        )
    replay_id = conn.execute(
        sa.insert(rt)
        .values(
            mode=mode,
            state="running",
            filter=flt.as_dict(),
            total=selection.total,
            counts=selection.counts(),
            created_by=created_by[:128],
            rate=rate,
        )
        .returning(rt.c.id)
    ).scalar_one()
    chained = mode == "reprocess"
    ids = selection.ids
    blocked: set[tuple[str, str, str]] = set()
    if chained:
        # Cursors first, then ledger rows: the order a consumer locks them in. Under the
        # cursor locks no message of these aggregates can die meanwhile; one blocked by a
        # dead letter now is left out (its chain could not run).
        locked = conn.execute(_LOCK_CURSORS, {"ids": ids})
        blocked = {(c.destination, c.aggregate_type, c.aggregate_id) for c in locked if c.blocked}
    # The rows themselves, locked: one a prune deleted meanwhile is gone, not numbered.
    kept = [
        r.id
        for r in conn.execute(_LOCK_ROWS, {"ids": ids})
        if (r.destination, r.aggregate_type, r.aggregate_id) not in blocked
    ]
    conn.execute(_MARK_ROWS, {"r": replay_id, "ids": kept, "chained": chained})
    if chained:
        conn.execute(_HOLD_CURSORS, {"r": replay_id})
    if len(kept) != selection.total:
        selection.skipped["changed while planning"] += selection.total - len(kept)
        selection.ids = sorted(kept)
        conn.execute(
            sa.update(rt)
            .where(rt.c.id == replay_id)
            .values(total=len(kept), counts=selection.counts())
        )
    return int(replay_id)


_HELD = sa.text(
    "SELECT replay_id, count(*) AS n FROM consumer_cursors WHERE replay_id IS NOT NULL"
    " GROUP BY replay_id ORDER BY replay_id LIMIT 1"
)
_LOCK_CURSORS = sa.text(
    """
    INSERT INTO consumer_cursors AS c
        (destination, aggregate_type, aggregate_id, last_sequence, updated_at)
    SELECT DISTINCT p.destination, p.aggregate_type, p.aggregate_id, 0, now()
    FROM outbox_deliveries p WHERE p.id = ANY(CAST(:ids AS bigint[]))
    ORDER BY 1, 2, 3
    ON CONFLICT (destination, aggregate_type, aggregate_id)
        DO UPDATE SET last_sequence = c.last_sequence
    RETURNING c.destination, c.aggregate_type, c.aggregate_id, c.blocked_by IS NOT NULL AS blocked
    """
)
_LOCK_ROWS = sa.text(
    """
    SELECT id, destination, aggregate_type, aggregate_id FROM outbox_deliveries
    WHERE id = ANY(CAST(:ids AS bigint[])) ORDER BY id FOR UPDATE
    """
)
_MARK_ROWS = sa.text(
    """
    UPDATE outbox_deliveries d
    SET replay_id = :r,
        replay_step = CASE WHEN :chained THEN chain.step END
    FROM (
        SELECT id, row_number() OVER (
            PARTITION BY destination, aggregate_type, aggregate_id ORDER BY sequence
        ) AS step
        FROM outbox_deliveries WHERE id = ANY(CAST(:ids AS bigint[]))
    ) chain
    WHERE d.id = chain.id
    """
)
# Each chain's hold, counted from the rows marked (the cursors are locked already).
_HOLD_CURSORS = sa.text(
    """
    UPDATE consumer_cursors c
    SET replay_id = :r, replay_step = 0, replay_steps = chain.steps, updated_at = now()
    FROM (
        SELECT destination, aggregate_type, aggregate_id, count(*) AS steps
        FROM outbox_deliveries WHERE replay_id = :r
        GROUP BY destination, aggregate_type, aggregate_id
    ) chain
    WHERE c.destination = chain.destination AND c.aggregate_type = chain.aggregate_type
      AND c.aggregate_id = chain.aggregate_id
    """
)

# One batch: the next rows after the checkpoint, released (published_at cleared; a
# reprocess also raises the generation and shows the row pending again), and the
# checkpoint moved — one statement, one transaction.
_RELEASE = sa.text(
    """
    WITH batch AS (
        SELECT id FROM outbox_deliveries
        WHERE replay_id = :r AND id > :checkpoint
        ORDER BY id LIMIT :n
        FOR UPDATE
    ), released AS (
        UPDATE outbox_deliveries d
        SET published_at = NULL, updated_at = now(),
            generation = d.generation + CASE WHEN :reprocess THEN 1 ELSE 0 END,
            status = CASE WHEN :reprocess THEN 'pending' ELSE d.status END
        FROM batch WHERE d.id = batch.id
        RETURNING d.id
    ), moved AS (
        UPDATE replays
        SET checkpoint = coalesce((SELECT max(id) FROM released), checkpoint),
            released = released + (SELECT count(*) FROM released), updated_at = now()
        WHERE id = :r AND state = 'running'
        RETURNING checkpoint, released
    )
    SELECT moved.checkpoint, moved.released, pg_notify(:channel, '') IS NULL AS woke
    FROM moved
    """
)


def release_batch(
    conn: sa.Connection, replay_id: int, checkpoint: int, n: int, *, reprocess: bool
) -> tuple[int, int]:
    """Release up to `n` rows after `checkpoint`; (new checkpoint, released so far). A
    replay no longer running (cancelled meanwhile) releases nothing: a ReplayError."""
    row = conn.execute(
        _RELEASE,
        {
            "r": replay_id,
            "checkpoint": checkpoint,
            "n": n,
            "reprocess": reprocess,
            "channel": NOTIFY_CHANNEL,
        },
    ).first()
    if row is None:
        raise ReplayError(f"replay {replay_id} is no longer running")
    return int(row.checkpoint), int(row.released)


def set_state(
    conn: sa.Connection, replay_id: int, state: str, *, only_from: tuple[str, ...] = ()
) -> bool:
    """Move a replay to `state` (only from one of `only_from`, when given); whether it moved.
    The runner moves a replay only from running: a cancel meanwhile stands."""
    query = sa.update(rt).where(rt.c.id == replay_id)
    if only_from:
        query = query.where(rt.c.state.in_(only_from))
    finished = state in ("done", "cancelled")
    moved = conn.execute(
        query.values(
            state=state,
            updated_at=sa.func.now(),
            finished_at=sa.func.now() if finished else None,
        )
    )
    return bool(moved.rowcount)


def get(conn: sa.Connection, replay_id: int, *, lock: bool = False) -> Any | None:
    query = sa.select(rt).where(rt.c.id == replay_id)
    return conn.execute(query.with_for_update() if lock else query).first()


# Cancel: each chain is cut to its highest released step, and its steps below that which
# were not released yet go too (a chain's rows need not lie in id order); a chain already
# through lets go of its cursor and releases the live message that parked behind it. The
# held cursors are locked first, in a statement of their own, so this one's snapshot sees
# every message parked behind them before.
_LOCK_HELD = sa.text(
    """
    SELECT 1 FROM consumer_cursors WHERE replay_id = :r
    ORDER BY destination, aggregate_type, aggregate_id FOR UPDATE
    """
)
_CUT_CHAINS = sa.text(
    """
    WITH top AS (
        SELECT destination, aggregate_type, aggregate_id,
               coalesce(max(replay_step) FILTER (WHERE id <= :checkpoint), 0) AS steps
        FROM outbox_deliveries WHERE replay_id = :r
        GROUP BY destination, aggregate_type, aggregate_id
    ), gaps AS (
        UPDATE outbox_deliveries d
        SET published_at = NULL, updated_at = now(), generation = d.generation + 1,
            status = 'pending'
        FROM top
        WHERE d.replay_id = :r AND d.id > :checkpoint AND d.replay_step <= top.steps
          AND d.destination = top.destination AND d.aggregate_type = top.aggregate_type
          AND d.aggregate_id = top.aggregate_id
        RETURNING 1
    ), cut AS (
        UPDATE consumer_cursors c
        SET replay_steps = top.steps, updated_at = now(),
            replay_id = CASE WHEN c.replay_step >= top.steps THEN NULL ELSE c.replay_id END
        FROM top
        WHERE c.replay_id = :r AND c.destination = top.destination
          AND c.aggregate_type = top.aggregate_type AND c.aggregate_id = top.aggregate_id
        RETURNING c.destination, c.aggregate_type, c.aggregate_id, c.last_sequence,
                  c.replay_id, c.blocked_by
    ), freed AS (
        UPDATE outbox_deliveries d
        SET status = 'pending', published_at = NULL, blocked_by = NULL, updated_at = now()
        FROM cut
        WHERE cut.replay_id IS NULL AND cut.blocked_by IS NULL
          AND d.destination = cut.destination
          AND d.aggregate_type = cut.aggregate_type AND d.aggregate_id = cut.aggregate_id
          AND d.sequence = cut.last_sequence + 1 AND d.status = 'parked'
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM cut) AS chains, (SELECT count(*) FROM gaps) AS gaps,
           (SELECT count(*) FROM freed) AS freed, pg_notify(:channel, '') IS NULL AS woke
    """
)


def cancel(conn: sa.Connection, replay_id: int) -> dict[str, int]:
    """Stop a replay for good: nothing more is released; what was released is delivered
    (in order), and each aggregate's hold ends with its released part."""
    replay = get(conn, replay_id, lock=True)
    if replay is None:
        raise ReplayError(f"no replay {replay_id}")
    if replay.state not in ACTIVE_STATES:
        raise ReplayError(f"replay {replay_id} is {replay.state}; only an active one is cancelled")
    conn.execute(_LOCK_HELD, {"r": replay_id})
    row = conn.execute(
        _CUT_CHAINS, {"r": replay_id, "checkpoint": replay.checkpoint, "channel": NOTIFY_CHANNEL}
    ).one()
    set_state(conn, replay_id, "cancelled")
    return {"released": int(replay.released) + int(row.gaps), "chains cut": int(row.chains)}


# A chain's step given up on (its dead letter purged): the chain goes on as if it were
# applied — the hold moves to the next step, or ends and lets the live messages go.
_PASS_STEP = sa.text(
    """
    WITH step AS (
        SELECT replay_id, replay_step FROM outbox_deliveries
        WHERE event_id = :event_id AND destination = :destination
    ), passed AS (
        UPDATE consumer_cursors c
        SET replay_step = c.replay_step + 1, updated_at = now(),
            replay_id = CASE WHEN c.replay_step + 1 >= c.replay_steps THEN NULL
                             ELSE c.replay_id END
        FROM step
        WHERE c.destination = :destination AND c.aggregate_type = :aggregate_type
          AND c.aggregate_id = :aggregate_id AND c.replay_id = step.replay_id
          AND c.replay_step + 1 = step.replay_step
        RETURNING c.replay_id AS still, c.last_sequence, step.replay_id AS r,
                  step.replay_step AS s
    ), freed AS (
        UPDATE outbox_deliveries d
        SET status = 'pending', published_at = NULL, blocked_by = NULL, updated_at = now()
        FROM passed
        WHERE d.destination = :destination AND d.aggregate_type = :aggregate_type
          AND d.aggregate_id = :aggregate_id AND d.status = 'parked'
          AND (CASE WHEN passed.still IS NULL THEN d.sequence = passed.last_sequence + 1
                    ELSE d.replay_id = passed.r AND d.replay_step = passed.s + 1 END)
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM passed) AS passed, (SELECT count(*) FROM freed) AS freed
    """
)


def pass_chain_step(
    conn: sa.Connection, destination: str, aggregate_type: str, aggregate_id: str, event_id: Any
) -> tuple[bool, int]:
    """Skip a reprocess chain's step that will never be applied (purged): whether the
    cursor's chain held it, and how many parked messages that released (the next step, or
    the live one behind the hold)."""
    row = conn.execute(
        _PASS_STEP,
        {
            "destination": destination,
            "aggregate_type": aggregate_type,
            "aggregate_id": aggregate_id,
            "event_id": event_id,
        },
    ).one()
    return bool(row.passed), int(row.freed)


_DELIVERED = sa.text(
    """
    SELECT count(*) FILTER (
        WHERE d.published_at IS NOT NULL
          AND (r.mode = 'redeliver' OR d.status IN ('applied', 'superseded'))
    ) AS delivered
    FROM replays r JOIN outbox_deliveries d ON d.replay_id = r.id AND d.id <= r.checkpoint
    WHERE r.id = :r
    """
)


def list_replays(conn: sa.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """The newest replays with their state and counts (see describe)."""
    rows = conn.execute(sa.select(rt).order_by(rt.c.id.desc()).limit(limit)).all()
    return [_described(conn, r) for r in rows]


def describe(conn: sa.Connection, replay_id: int) -> dict[str, Any] | None:
    row = get(conn, replay_id)
    return None if row is None else {**_described(conn, row), "counts": row.counts}


def _described(conn: sa.Connection, r: Any) -> dict[str, Any]:
    """A replay's state and counts; `delivered`: released rows the relay sent again
    (redeliver) or the destination applied again (reprocess) — while their rows are still
    marked with the replay (a later replay takes the marks over)."""
    return {
        "id": r.id,
        "mode": r.mode,
        "state": r.state,
        "total": r.total,
        "released": r.released,
        "delivered": conn.execute(_DELIVERED, {"r": r.id}).scalar_one(),
        "rate": r.rate,
        "created_by": r.created_by,
        "created_at": r.created_at,
        "finished_at": r.finished_at,
        "filter": {k: v for k, v in r.filter.items() if v not in (None, [])},
    }
