"""The operator's commands: dead letters, destinations and their breakers, the outbox."""

from __future__ import annotations

import json

import click

from actors.systems import SYSTEMS
from ops import bootstrap
from ops.commands import replay
from ops.commands.support import connection, json_option, print_rows, settings


@click.group()
def dlq() -> None:
    """Dead letters: poison messages, recorded with their reason."""


@dlq.command("list")
@click.option("--destination", help=f"Only this destination ({', '.join(SYSTEMS)}, channel:NAME).")
@json_option
def dlq_list(destination: str | None, as_json: bool) -> None:
    """List dead letters."""
    from adapters.db.dead_letters import list_dead_letters

    with connection() as conn:
        rows = list_dead_letters(conn, destination)
    print_rows(rows, as_json, "dead letters")


@click.group()
def destination() -> None:
    """Downstream destinations and their circuit breakers."""


@destination.command("list")
@json_option
def destination_list(as_json: bool) -> None:
    """Breaker state per destination (only destinations that ever failed or were paused)."""
    from adapters.db.breakers import list_destinations

    with connection() as conn:
        rows = list_destinations(conn)
    print_rows(rows, as_json, "destinations")


@destination.command("pause")
@click.argument("name")
@click.option("--reason", default="paused by an operator", show_default=True)
def destination_pause(name: str, reason: str) -> None:
    """Stop delivering to NAME; its messages wait in the database until `resume`."""
    from actors.probe import pause

    engine = bootstrap.engine_for(settings())
    try:
        pause(engine, name, reason)
    finally:
        engine.dispose()
    click.echo(f"{name} paused")


@destination.command("resume")
@click.argument("name")
def destination_resume(name: str) -> None:
    """Deliver to NAME again, starting with what waited for it (in sequence order)."""
    from actors.probe import resume

    engine = bootstrap.engine_for(settings())
    try:
        released = resume(engine, name, reason="resumed by an operator")
    finally:
        engine.dispose()
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


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] → "0-2, 5"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)
