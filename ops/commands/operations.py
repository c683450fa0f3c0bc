"""The operator's commands: destinations and their breakers, the outbox (dead letters:
ops.commands.dead_letters)."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

import click
import sqlalchemy as sa

from adapters.db.destination_status import BACKLOG_STATUSES
from ops import audit, destinations
from ops.commands import replay, retention
from ops.commands.support import connection, database, json_option, print_rows


@click.group()
def destination() -> None:
    """Downstream destinations and their circuit breakers."""


@destination.command("list")
@json_option
def destination_list(as_json: bool) -> None:
    """Every destination (the systems, each active channel, any with a breaker or a
    backlog): breaker state, failures, reason, retry_at, the backlog by status (pending,
    published, waiting, parked) and the age of the oldest waiting delivery."""
    with connection() as conn:
        rows = destinations.listed(conn)
    print_rows(rows if as_json else [_destination_line(r) for r in rows], as_json, "destinations")


def _destination_line(row: dict[str, Any]) -> dict[str, Any]:
    """A destination as a table row (the JSON has every figure in a field of its own)."""
    state = row["state"]
    if row["retry_at"] is not None:
        state += f" (not before {row['retry_at'].astimezone(UTC):%H:%M:%S} UTC)"
    waiting = row["oldest_waiting_s"]
    return {
        "destination": row["destination"],
        "breaker": state,
        "failures": row["failures"],
        "backlog": row["backlog"],
        "of which": " ".join(f"{s}={row[s]}" for s in BACKLOG_STATUSES if row[s]),
        "oldest waiting": "" if waiting is None else f"{waiting:.0f}s",
        "reason": row["reason"],
    }


def _known_destination(engine: sa.Engine, name: str) -> None:
    with engine.connect() as conn:
        if not destinations.is_known(conn, name):
            raise audit.Refused(destinations.unknown_message(name))


@destination.command("pause")
@click.argument("name")
@click.option(
    "--reason", default="paused by an operator", show_default=True, help="Why (shown in list)."
)
def destination_pause(name: str, reason: str) -> None:
    """Stop delivering to NAME; its messages wait in the database until `resume`."""
    from actors.probe import pause

    with database() as engine:
        try:
            with audit.audited(
                engine, "destination.pause", filter={"destination": name, "reason": reason}
            ):
                _known_destination(engine, name)
                pause(engine, name, reason)
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None
    click.echo(f"{name} paused")


@destination.command("resume")
@click.argument("name")
def destination_resume(name: str) -> None:
    """Deliver to NAME again, starting with what waited for it (in sequence order)."""
    from actors.probe import resume

    with database() as engine:
        try:
            with audit.audited(engine, "destination.resume", filter={"destination": name}) as entry:
                _known_destination(engine, name)
                released = resume(engine, name, reason="resumed by an operator")
                entry.counts = {"released": released}
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None
    click.echo(f"{name} resumed; {released} waiting deliveries released")


@click.group()
def outbox() -> None:
    """The transactional outbox and its delivery ledger."""


@outbox.command("stats")
@json_option
def outbox_stats(as_json: bool) -> None:
    """Backlog per destination (unpublished count, oldest age) and the relays' partitions."""
    from outbox.stats import backlog, relays

    with connection() as conn:
        rows, holders = backlog(conn), relays(conn)
    if as_json:
        click.echo(json.dumps({"destinations": rows, "relays": holders}, default=str, indent=2))
        return
    flat = [
        {**r, "by_status": ", ".join(f"{k}={v}" for k, v in r["by_status"].items())} for r in rows
    ]
    print_rows(flat, False, "outbox backlog")
    print_rows(
        [{**h, "partitions": _ranges(h["partitions"])} for h in holders], False, "relay leases"
    )


outbox.add_command(replay.outbox_replay)
outbox.add_command(replay.outbox_replays)
outbox.add_command(retention.outbox_prune)


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] → "0-2, 5"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)
