"""`ordersync outbox replay` and `outbox replays`: re-send outbox ranges, and see replays."""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import Any

import click
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from actors.systems import SYSTEMS
from domain.events import EVENT_TYPES
from ops import replay as replays
from ops.audit import audited, os_user
from ops.commands.support import connection, engine, json_option, parse_time, print_rows
from ops.interrupts import interrupt_event

CONFIRM_ABOVE = 1_000  # messages: a bigger replay asks first (unless --yes)
STATUSES = ("published", "applied", "superseded", "pending", "parked", "waiting", "dead")


def _destination(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    for value in values:
        if value not in SYSTEMS and not (value.startswith("channel:") and len(value) > 8):
            raise click.BadParameter(
                f"{value!r} is not a destination: one of {', '.join(SYSTEMS)} or channel:NAME"
            )
    return values


def _event_type(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> Any:
    unknown = [v for v in values if v not in EVENT_TYPES]
    if unknown:
        raise click.BadParameter(
            f"unknown event type(s) {', '.join(unknown)}; known: {', '.join(sorted(EVENT_TYPES))}"
        )
    return values


@click.command("replay")
@click.option("--from-id", type=click.IntRange(min=1), help="First outbox event id (inclusive).")
@click.option("--to-id", type=click.IntRange(min=1), help="Last outbox event id (inclusive).")
@click.option("--since", type=parse_time, help="Events committed at or after this ISO time.")
@click.option("--until", type=parse_time, help="Events committed before this ISO time.")
@click.option("--order", "orders", multiple=True, help="Only this order's events (repeatable).")
@click.option("--channel", help="Only events of orders from this channel.")
@click.option(
    "--event-type", "event_types", multiple=True, callback=_event_type, help="Repeatable."
)
@click.option(
    "--destination",
    "destinations",
    multiple=True,
    callback=_destination,
    help=f"Repeatable: {', '.join(SYSTEMS)}, channel:NAME.",
)
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Ledger status (repeatable; default: published and applied for --redeliver, "
    "applied for --reprocess).",
)
@click.option(
    "--redeliver",
    "mode",
    flag_value="redeliver",
    help="Same generation: a destination skips what it already applied ('did everything arrive?').",
)
@click.option(
    "--reprocess",
    "mode",
    flag_value="reprocess",
    help="A new generation and Idempotency-Key: the destination applies it again ('it lost "
    "a night of data').",
)
@click.option("--dry-run", is_flag=True, help="Print what would go; change nothing.")
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), help="At most N messages a second."
)
@click.option("--yes", is_flag=True, help=f"Do not ask before replaying over {CONFIRM_ABOVE:,}.")
@click.option("--resume", type=int, metavar="ID", help="Go on with an interrupted replay.")
@click.option("--cancel", type=int, metavar="ID", help="Stop a replay for good.")
@json_option
def outbox_replay(
    from_id: int | None,
    to_id: int | None,
    since: datetime | None,
    until: datetime | None,
    orders: tuple[str, ...],
    channel: str | None,
    event_types: tuple[str, ...],
    destinations: tuple[str, ...],
    statuses: tuple[str, ...],
    mode: str | None,
    dry_run: bool,
    rate: float | None,
    yes: bool,
    resume: int | None,
    cancel: int | None,
    as_json: bool,
) -> None:
    """Re-send a range of the outbox to its destinations, in order, at a bounded rate.

    The filters combine. A replay releases its rows to the relay in batches, each with a
    checkpoint in the database: after a Ctrl-C or a crash, `--resume ID` goes on without
    sending anything twice. While a --reprocess replay runs, each aggregate it touches
    gets its replayed events first, in order, and its new events after them."""
    flt = replays.ReplayFilter(
        from_id=from_id,
        to_id=to_id,
        since=since,
        until=until,
        orders=orders,
        channel=channel,
        event_types=event_types,
        destinations=destinations,
        statuses=statuses,
    )
    if resume is not None or cancel is not None:
        if mode or dry_run or flt != replays.ReplayFilter():
            raise click.UsageError("--resume and --cancel take a replay id and nothing else")
        if resume is not None and cancel is not None:
            raise click.UsageError("give --resume or --cancel, not both")
        if cancel is not None:
            _cancel(cancel, as_json)
        else:
            _run(resume, rate, as_json)  # type: ignore[arg-type]
        return
    if mode is None:
        raise click.UsageError("say --redeliver or --reprocess")
    if from_id and to_id and from_id > to_id:
        raise click.BadParameter("--from-id is after --to-id")
    db = engine()
    try:
        if dry_run:
            with audited(db, "outbox.replay", filter=_audit_filter(mode, flt), dry_run=True) as e:
                selection = _refusing(lambda: replays.preview(db, mode, flt))
                e.counts = selection.counts()
            _print_selection(mode, selection.counts(), as_json, dry_run=True)
            return
        if not yes:
            total = _refusing(lambda: replays.preview(db, mode, flt)).total
            if total > CONFIRM_ABOVE and not click.confirm(
                f"replay {total:,} messages ({mode})?", err=True
            ):
                raise click.Abort()
        with audited(db, "outbox.replay", filter=_audit_filter(mode, flt)) as entry:
            replay_id, selection = _refusing(
                lambda: replays.start(db, mode, flt, created_by=os_user(), rate=rate)
            )
            entry.counts = {"replay_id": replay_id, **selection.counts()}
            if not as_json:
                _print_selection(mode, selection.counts(), False, dry_run=False)
            summary = _release(db, replay_id, rate, as_json)
            entry.counts["released"] = summary.released
            entry.detail = summary.state
    finally:
        db.dispose()
    _report(summary, as_json)


def _run(replay_id: int, rate: float | None, as_json: bool) -> None:
    db = engine()
    try:
        with audited(db, "outbox.replay.resume", filter={"replay_id": replay_id}) as entry:
            summary = _release(db, replay_id, rate, as_json)
            entry.counts = {"replay_id": replay_id, "released": summary.released}
            entry.detail = summary.state
    finally:
        db.dispose()
    _report(summary, as_json)


def _cancel(replay_id: int, as_json: bool) -> None:
    db = engine()
    try:
        with audited(db, "outbox.replay.cancel", filter={"replay_id": replay_id}) as entry:
            entry.counts = _refusing(lambda: replays.cancel(db, replay_id))
    finally:
        db.dispose()
    if as_json:
        click.echo(json.dumps({"replay_id": replay_id, "state": "cancelled", **entry.counts}))
    else:
        click.echo(
            f"replay {replay_id} cancelled: {entry.counts['released']} released before "
            "(they are delivered, in order); nothing more goes"
        )


def _release(db: Any, replay_id: int, rate: float | None, quiet: bool) -> replays.ReplaySummary:
    stop = threading.Event()
    with interrupt_event(stop):
        if quiet:
            return _refusing(lambda: replays.run(db, replay_id, rate=rate, stop=stop))
        columns = (
            TextColumn(f"replay {replay_id}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task("release", total=None, rate="")

            def progress(done: int, total: int) -> None:
                speed = bar.tasks[0].speed
                label = f"{speed:,.0f} msg/s" if speed else ""
                bar.update(task, completed=done, total=total, rate=label)

            return _refusing(
                lambda: replays.run(db, replay_id, rate=rate, progress=progress, stop=stop)
            )


def _refusing(action: Any) -> Any:
    try:
        return action()
    except replays.ReplayError as error:
        raise click.ClickException(str(error)) from None


def _audit_filter(mode: str, flt: replays.ReplayFilter) -> dict[str, Any]:
    return {"mode": mode, **{k: v for k, v in flt.as_dict().items() if v not in (None, [])}}


def _print_selection(mode: str, counts: dict[str, Any], as_json: bool, *, dry_run: bool) -> None:
    if as_json:
        click.echo(json.dumps({"mode": mode, "dry_run": dry_run, **counts}, indent=2))
        return
    head = "would replay" if dry_run else "replaying"
    click.echo(
        f"{head} {counts['total']:,} messages ({mode}) to "
        f"{len(counts['by_destination'])} destination(s), {counts['orders']:,} orders, "
        f"outbox events {counts['first_event_id']}–{counts['last_event_id']}"
    )
    for title in ("by_destination", "by_event_type", "skipped"):
        if counts[title]:
            items = ", ".join(f"{k} {v:,}" for k, v in counts[title].items())
            click.echo(f"  {title.replace('_', ' ')}: {items}")


def _report(summary: replays.ReplaySummary, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {
                    "replay_id": summary.replay_id,
                    "mode": summary.mode,
                    "state": summary.state,
                    "total": summary.total,
                    "released": summary.released,
                    "seconds": round(summary.seconds, 3),
                }
            )
        )
        return
    if summary.state == "interrupted":
        click.echo(
            f"replay {summary.replay_id} interrupted after {summary.released:,} of "
            f"{summary.total:,}; go on with `ordersync outbox replay --resume "
            f"{summary.replay_id}`"
        )
        raise SystemExit(130)
    click.echo(
        f"replay {summary.replay_id}: {summary.released:,} messages released to the relay in "
        f"{summary.seconds:.1f} s; `ordersync outbox replays` shows them delivered"
    )


@click.command("replays")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@json_option
def outbox_replays(limit: int, as_json: bool) -> None:
    """Replays, newest first: state, total, released, delivered."""
    from adapters.db.replays import list_replays

    with connection() as conn:
        rows = list_replays(conn, limit)
    if not as_json:
        rows = [
            {**r, "filter": ", ".join(f"{k}={v}" for k, v in r["filter"].items())} for r in rows
        ]
    print_rows(rows, as_json, "replays")
