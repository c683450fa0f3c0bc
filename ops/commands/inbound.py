"""`ordersync inbound list|show|replay`: what the channels' doors stored, and the inbound
dead letters — verified deliveries that could not be applied (an unknown SKU, a change
ordersync cannot make, a bug) — replayed through the same apply path once fixed."""

from __future__ import annotations

import json

import click

from adapters.db import inbound
from adapters.db.channel_tables import INBOUND_STATES
from ops import audit
from ops import inbound as actions
from ops.commands.support import connection, database, json_option, print_rows, settings

# Above this many deliveries a replay asks before it goes (unless --yes).
CONFIRM_ABOVE = 20


@click.group("inbound")
def inbound_group() -> None:
    """The channels' deliveries (inbound_deliveries) and their dead letters."""


@inbound_group.command("list")
@click.option(
    "--state", type=click.Choice(INBOUND_STATES), help="Only this state (parked: dead letters)."
)
@click.option("--channel", help="Only this channel's deliveries.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@json_option
def inbound_list(state: str | None, channel: str | None, limit: int, as_json: bool) -> None:
    """Deliveries, newest first (without their bodies: `inbound show ID`)."""
    with connection() as conn:
        rows = inbound.listing(conn, state=state, channel=channel, limit=limit)
    if not as_json:  # what an operator reads; the JSON has every column
        rows = [
            {
                "id": r["id"],
                "channel": r["channel"],
                "topic": r["topic"],
                "state": r["state"],
                "attempts": r["attempts"],
                "received_at": r["received_at"],
                "external_id": r["external_id"],
                "error": (r["error"] or "")[:120],
            }
            for r in rows
        ]
    print_rows(rows, as_json, "inbound deliveries")


@inbound_group.command("show")
@click.argument("delivery", metavar="ID", type=click.IntRange(min=1))
def inbound_show(delivery: int) -> None:
    """One delivery as stored: its headers, raw body (base64, and as text if it is),
    verification, state and error."""
    with connection() as conn:
        found = inbound.get(conn, delivery)
    if found is None:
        raise click.ClickException(f"no inbound delivery {delivery}")
    click.echo(json.dumps(actions.delivery_json(found), indent=2, default=str, ensure_ascii=False))


@inbound_group.command("replay")
@click.argument("ids", metavar="ID…", nargs=-1, type=click.IntRange(min=1))
@click.option("--all-parked", is_flag=True, help="Every parked delivery (of --channel).")
@click.option("--channel", help="With --all-parked: only this channel's.")
@click.option("--yes", is_flag=True, help=f"Do not ask above {CONFIRM_ABOVE} deliveries.")
@json_option
def inbound_replay(
    ids: tuple[int, ...], all_parked: bool, channel: str | None, yes: bool, as_json: bool
) -> None:
    """Apply parked (or still received) deliveries again, through the same path as the
    doors': after `ordersync sku map`, a fix, or the order they wait for arriving."""
    if bool(ids) == all_parked:
        raise click.UsageError("give delivery IDs or --all-parked, not both")
    if channel and not all_parked:
        raise click.UsageError("--channel goes with --all-parked")
    configured = settings()
    asked: dict[str, object] = (
        {"ids": list(ids)} if ids else {"all_parked": True, "channel": channel}
    )
    with database() as engine:
        if all_parked:
            with engine.connect() as conn:
                ids = tuple(inbound.ids_in_state(conn, "parked", channel))
        if len(ids) > CONFIRM_ABOVE and not yes:
            click.confirm(f"replay {len(ids)} deliveries?", abort=True)
        inbox = actions.inbox_for(
            engine,
            configured.secret_key,
            read_timeout_s=configured.client_timeout_s,
            notify=configured.outbox_notify,
        )
        try:
            outcomes = actions.replay(inbox, ids, asked=asked)
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None
    if as_json:
        click.echo(json.dumps({str(k): v for k, v in outcomes.items()}, indent=2))
        return
    for delivery, state in outcomes.items():
        click.echo(f"inbound delivery {delivery}: {state}")
    if not outcomes:
        click.echo("nothing to replay")
