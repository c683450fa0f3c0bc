"""Requeue and purge: what an operator does with dead letters, one transaction per
aggregate (destination, aggregate) under its cursor lock.

- **Requeue**: the operator fixed the cause; the message goes again. The dead delivery is
  made pending and unpublished (the relay sends it again), the cursor's block cleared if it
  names it, the dead letter marked requeued. The consumer applies it at its turn, and
  close_delivery then releases its parked successors one by one, in sequence order.
- **Purge**: the operator gives up on the message. The dead letter is marked purged with
  the reason; the ledger row stays `dead` (it was never applied, and that is the truth);
  the aggregate goes on without it: the cursor moves past its sequence, the block is
  cleared and the parked successor released, as close_delivery would have.

A dead letter found resolved under the lock (requeued or purged meanwhile, by another
operator say) is left alone and reported so: requeueing one twice sends it once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from adapters.db import cursors, ledger, replays
from adapters.db import dead_letter_aggregate as around
from adapters.db.dead_letters import DeadLetterFilter, dead_letters_by_id, list_dead_letters
from ops.audit import Refused

REQUEUED, PURGED = "requeued", "purged"


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one selected dead letter."""

    id: int
    destination: str
    aggregate_id: str
    sequence: int
    outcome: str  # requeued, purged, or why nothing was done


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    released: int = 0  # parked successors sent on at once (by a purge, mostly)

    def counts(self, done: str) -> dict[str, Any]:
        """The figures for the command's output and the audit entry."""
        by_destination: dict[str, int] = {}
        for r in self.results:
            if r.outcome == done:
                by_destination[r.destination] = by_destination.get(r.destination, 0) + 1
        return {
            "selected": len(self.results),
            done: sum(by_destination.values()),
            "skipped": sum(1 for r in self.results if r.outcome != done),
            "aggregates": len({(r.destination, r.aggregate_id) for r in self.results}),
            "successors_released": self.released,
            "by_destination": by_destination,
        }


def select(
    conn: sa.Connection, ids: list[int], where: DeadLetterFilter | None
) -> list[dict[str, Any]]:
    """The dead letters of these ids (all of them, or Refused naming those that do not
    exist), or the unresolved ones the filter matches."""
    if not ids:
        return list_dead_letters(conn, where)
    found = dead_letters_by_id(conn, ids)
    missing = sorted(set(ids) - {r["id"] for r in found})
    if missing:
        raise Refused(f"no dead letter with id {', '.join(map(str, missing))}; nothing changed")
    return found


def requeue(engine: sa.Engine, letters: list[dict[str, Any]]) -> Report:
    return _per_aggregate(engine, letters, _requeue_locked)


def purge(engine: sa.Engine, letters: list[dict[str, Any]], reason: str) -> Report:
    def purge_locked(conn: sa.Connection, locked: Locked, report: Report) -> None:
        _purge_locked(conn, locked, reason, report)

    return _per_aggregate(engine, letters, purge_locked)


@dataclass(frozen=True, slots=True)
class Locked:
    """An aggregate's cursor, locked, and its selected dead letters as read after that."""

    agg: around.Aggregate
    cursor: cursors.Cursor
    letters: list[Any]

    def result(self, letter: Any, outcome: str) -> Result:
        return Result(
            letter.id, self.agg.destination, self.agg.aggregate_id, letter.sequence, outcome
        )


def _per_aggregate(
    engine: sa.Engine,
    letters: list[dict[str, Any]],
    act: Callable[[sa.Connection, Locked, Report], None],
) -> Report:
    groups: dict[around.Aggregate, list[int]] = {}
    for letter in letters:
        agg = around.Aggregate(
            letter["destination"], letter["aggregate_type"], letter["aggregate_id"]
        )
        groups.setdefault(agg, []).append(letter["id"])
    report = Report()
    for agg, ids in groups.items():
        with engine.begin() as conn:
            cursor = cursors.lock_cursor(
                conn, agg.destination, agg.aggregate_type, agg.aggregate_id
            )
            act(conn, Locked(agg, cursor, around.lock_letters(conn, ids)), report)
    report.results.sort(key=lambda r: r.id)
    return report


def _resolved(letter: Any) -> str | None:
    if letter.purged_at is not None:
        return f"already purged at {letter.purged_at.isoformat()}; nothing done"
    if letter.requeued_at is not None:
        return f"already requeued at {letter.requeued_at.isoformat()}; nothing sent"
    return None


def _requeue_locked(conn: sa.Connection, locked: Locked, report: Report) -> None:
    agg, cursor = locked.agg, locked.cursor
    blocked, sent = cursor.blocked_by, set()
    for letter in locked.letters:
        resolved = _resolved(letter)
        if resolved:
            report.results.append(locked.result(letter, resolved))
            continue
        if not around.send_again(conn, letter.event_id, agg.destination):
            status = around.delivery_status(conn, letter.event_id, agg.destination)
            why = "its delivery is gone (pruned)" if status is None else f"its delivery is {status}"
            report.results.append(locked.result(letter, f"not requeued: {why}; purge it instead"))
            continue
        around.mark_requeued(conn, letter.id)
        if blocked == letter.event_id:
            blocked = None
        sent.add(letter.sequence)
        report.results.append(locked.result(letter, REQUEUED))
    if blocked != cursor.blocked_by:
        around.set_cursor(conn, agg, last_sequence=cursor.last_sequence, blocked_by=None)
        # The cursor's next message waits for the requeued one when that is the next one
        # (it releases it once applied); a replay's dead letter lies behind the cursor, so
        # what parked behind its block waited for nothing else and goes on now.
        following = cursor.last_sequence + 1
        if following not in sent and around.release_parked(conn, agg, following):
            report.released += 1
    if sent:
        ledger.wake_relays(conn)


def _purge_locked(conn: sa.Connection, locked: Locked, reason: str, report: Report) -> None:
    agg, cursor = locked.agg, locked.cursor
    blocked, last = cursor.blocked_by, cursor.last_sequence
    chain_passed = False
    for letter in locked.letters:
        resolved = _resolved(letter)
        if resolved:
            report.results.append(locked.result(letter, resolved))
            continue
        around.mark_purged(conn, letter.id, reason)
        if blocked == letter.event_id:
            blocked = None
        # The aggregate goes on without it: the cursor passes it as if it were applied.
        # (A replay's dead letter, of a later generation, lies behind the cursor already;
        # its replay chain, if it holds the aggregate, passes the step instead.)
        if letter.generation == 0 and letter.sequence == last + 1:
            last = letter.sequence
        elif letter.generation > 0:
            passed, freed = replays.pass_chain_step(
                conn, agg.destination, agg.aggregate_type, agg.aggregate_id, letter.event_id
            )
            report.released += freed
            chain_passed = chain_passed or passed
            if freed:
                ledger.wake_relays(conn)
        report.results.append(locked.result(letter, PURGED))
    if (last, blocked) != (cursor.last_sequence, cursor.blocked_by):
        around.set_cursor(conn, agg, last_sequence=last, blocked_by=blocked)
        # A chain's step passed released what follows it (its next step, or the live
        # message once the chain is through); else the cursor's next message goes.
        if blocked is None and not chain_passed and around.release_parked(conn, agg, last + 1):
            report.released += 1
            ledger.wake_relays(conn)
