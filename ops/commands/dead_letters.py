"""`ordersync dlq list|show|requeue|purge`: poison messages, and what an operator does with
them (ops.dead_letters says what a requeue and a purge change)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import click

from actors.systems import SYSTEMS
from adapters.db.dead_letters import ERROR_CLASSES, DeadLetterFilter
from ops import audit
from ops import dead_letters as actions
from ops.commands.support import connection, database, json_option, parse_time, print_rows
from outbox.queues import CHANNEL_PREFIX

F = TypeVar("F", bound=Callable[..., Any])
# Above this many dead letters an action asks before it goes (unless --yes).
CONFIRM_ABOVE = 100
_CLASSES_HELP = "; ".join(f"{name}: {text}" for name, text in ERROR_CLASSES.items())


def _destinations(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    for value in values:
        channel = value.removeprefix(CHANNEL_PREFIX)
        if value not in SYSTEMS and not (value.startswith(CHANNEL_PREFIX) and channel):
            raise click.BadParameter(
                f"{value!r} is not a destination: one of {', '.join(SYSTEMS)} or channel:NAME"
            )
    return values


def filter_options(fn: F) -> F:
    """The filters that select dead letters; they combine (every one given must hold)."""
    options = [
        click.option(
            "--destination",
            "destinations",
            multiple=True,
            callback=_destinations,
            help=f"Only this destination ({', '.join(SYSTEMS)}, channel:NAME); repeatable.",
        ),
        click.option(
            "--error-class",
            "error_classes",
            multiple=True,
            type=click.Choice(list(ERROR_CLASSES)),
            help=f"Only this kind of error; repeatable. {_CLASSES_HELP}.",
        ),
        click.option("--since", type=parse_time, help="Only those that died at or after (ISO)."),
        click.option("--until", type=parse_time, help="Only those that died before (ISO)."),
        click.option(
            "--order",
            "orders",
            multiple=True,
            help="Only this aggregate (an order's id; a SKU or customer id); repeatable.",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _filter(
    destinations: tuple[str, ...],
    error_classes: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    orders: tuple[str, ...],
    include_resolved: bool = False,
) -> DeadLetterFilter:
    if since and until and since >= until:
        raise click.BadParameter("--since must be before --until", param_hint="--since")
    return DeadLetterFilter(destinations, error_classes, since, until, orders, include_resolved)


@click.group()
def dlq() -> None:
    """Dead letters: poison messages, recorded with their reason; requeue or purge them."""


@dlq.command("list")
@filter_options
@click.option("--include-resolved", is_flag=True, help="Also those already requeued or purged.")
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="At most this many (the oldest).",
)
@json_option
def dlq_list(include_resolved: bool, limit: int, as_json: bool, **filters: Any) -> None:
    """List dead letters, oldest first (unresolved ones only, unless --include-resolved)."""
    from adapters.db.dead_letters import list_dead_letters

    where = _filter(**filters, include_resolved=include_resolved)
    with connection() as conn:
        rows = list_dead_letters(conn, where, limit=limit)
    print_rows(rows if as_json else [_line(r) for r in rows], as_json, "dead letters")


@dlq.command("show")
@click.argument("dead_letter_id", metavar="ID", type=int)
@json_option
def dlq_show(dead_letter_id: int, as_json: bool) -> None:
    """The whole record of one dead letter: its envelope and error, its ledger row, its
    aggregate's cursor and how many later messages of the aggregate are parked behind it."""
    from adapters.db.dead_letter_aggregate import surroundings
    from adapters.db.dead_letters import dead_letter

    with connection() as conn:
        letter = dead_letter(conn, dead_letter_id)
        if letter is None:
            raise click.ClickException(f"no dead letter with id {dead_letter_id}")
        record = {**letter, **surroundings(conn, letter)}
    if as_json:
        click.echo(json.dumps(record, default=str, indent=2))
        return
    for key, value in record.items():
        if key == "envelope":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        click.echo(f"{key:>14}: {'' if value is None else value}")
    click.echo("      envelope:")
    click.echo(json.dumps(record["envelope"], default=str, indent=2))


def _selection(fn: F) -> F:
    """IDs as arguments, or the list filters, or --all; --dry-run, --yes, --json."""
    fn = json_option(fn)
    fn = click.option(
        "--yes", is_flag=True, help=f"Do not ask for confirmation above {CONFIRM_ABOVE}."
    )(fn)
    fn = click.option("--dry-run", is_flag=True, help="Print what would be done; change nothing.")(
        fn
    )
    fn = click.option("--all", "everything", is_flag=True, help="Every unresolved dead letter.")(fn)
    fn = filter_options(fn)
    return click.argument("ids", metavar="[ID]...", nargs=-1, type=int)(fn)


def _chosen(ids: tuple[int, ...], everything: bool, filters: dict[str, Any]) -> DeadLetterFilter:
    """The selection the operator gave: exactly one of IDs, filters or --all."""
    filtered = any(filters.values())
    choices = (("IDs", bool(ids)), ("filters", filtered), ("--all", everything))
    given = [name for name, chosen in choices if chosen]
    if len(given) != 1:
        raise click.UsageError(
            "give dead letter IDs, filters (--destination, --error-class, --since, --until, "
            "--order) or --all: "
            + ("none was given" if not given else f"not {' and '.join(given)} together")
        )
    return _filter(**filters)


def _run(
    verb: str,
    done: str,
    ids: tuple[int, ...],
    everything: bool,
    options: dict[str, Any],
    act: Callable[[Any, list[dict[str, Any]]], actions.Report],
    reason: str | None = None,
) -> None:
    """Select, confirm, act and report, audited as dlq.<verb>."""
    dry_run, yes, as_json = options.pop("dry_run"), options.pop("yes"), options.pop("as_json")
    where = _chosen(ids, everything, options)
    recorded = {"ids": list(ids), "all": everything, **options}
    if reason is not None:
        recorded["reason"] = reason
    with database() as engine:
        try:
            with audit.audited(engine, f"dlq.{verb}", filter=recorded, dry_run=dry_run) as entry:
                entry.detail = reason
                with engine.connect() as conn:
                    letters = actions.select(conn, list(ids), where)
                entry.counts = {"selected": len(letters)}
                if dry_run:
                    _print_dry_run(verb, letters, as_json)
                    return
                if len(letters) > CONFIRM_ABOVE and not yes:
                    if not click.confirm(f"{verb} {len(letters)} dead letters?"):
                        raise audit.Refused(f"{verb} of {len(letters)} not confirmed")
                report = act(engine, letters)
                entry.counts = report.counts(done)
                _print_report(verb, done, report, as_json)
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None


def _print_dry_run(verb: str, letters: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"dry_run": True, "selected": letters}, default=str, indent=2))
        return
    print_rows([_line(r) for r in letters], False, f"would {verb}")
    click.echo(f"dry run: {len(letters)} dead letters would be {verb}d; nothing changed")


def _print_report(verb: str, done: str, report: actions.Report, as_json: bool) -> None:
    counts = report.counts(done)
    results = [dataclasses.asdict(r) for r in report.results]
    if as_json:
        click.echo(json.dumps({**counts, "results": results}, default=str, indent=2))
        return
    if results:
        print_rows(results, False, f"dlq {verb}")
    by_destination = ", ".join(f"{d}: {n}" for d, n in counts["by_destination"].items())
    summary = f"{done} {counts[done]} of {counts['selected']} dead letters"
    if by_destination:
        summary += f" ({by_destination})"
    if counts["skipped"]:
        summary += f"; {counts['skipped']} left as they were"
    if counts["successors_released"]:
        summary += f"; {counts['successors_released']} parked successors released"
    click.echo(summary)


@dlq.command("requeue")
@_selection
def dlq_requeue(ids: tuple[int, ...], everything: bool, **options: Any) -> None:
    """Send dead letters again, once their cause is fixed: each goes back to the outbox,
    its aggregate's block is cleared, and the messages parked behind it follow it in order.
    One already requeued or purged is left alone (requeueing twice sends it once)."""
    _run("requeue", actions.REQUEUED, ids, everything, options, actions.requeue)


@dlq.command("purge")
@_selection
@click.option(
    "--reason", required=True, help="Why these are given up on (kept with them and audited)."
)
def dlq_purge(ids: tuple[int, ...], everything: bool, reason: str, **options: Any) -> None:
    """Give up on dead letters: each is marked purged with the reason, its delivery stays
    dead (it was never applied), and its aggregate goes on without it — the cursor moves
    past it and the message parked behind it is released."""
    if not reason.strip():
        raise click.BadParameter("give the reason in words", param_hint="--reason")
    reason = reason.strip()[:1000]
    _run(
        "purge",
        actions.PURGED,
        ids,
        everything,
        options,
        lambda engine, letters: actions.purge(engine, letters, reason),
        reason=reason,
    )


def _line(row: dict[str, Any]) -> dict[str, Any]:
    """A dead letter as a table row: what tells them apart, the error shortened."""
    error = row["error"] if len(row["error"]) <= 60 else row["error"][:59] + "…"
    return {
        "id": row["id"],
        "destination": row["destination"],
        "event": row["event_type"],
        "aggregate": row["aggregate_id"],
        "seq": row["sequence"],
        "class": row["error_class"],
        "state": row["state"],
        "died": f"{row['created_at']:%Y-%m-%d %H:%M:%S}",
        "error": error,
    }
