"""`ordersync safety-stock set|list|remove`: what each channel is never offered of a
location's stock. A change goes through the domain service (the channels are told their
new sellable figures in the same transaction) and is audited."""

from __future__ import annotations

from collections.abc import Callable

import click

from adapters.db.safety_stock_repository import SqlSafetyStockRepository
from adapters.db.uow import SqlUnitOfWork
from domain.commands import SetSafetyStock
from domain.errors import DomainError
from domain.safety_stock import SafetyChange, remove_safety_stock, set_safety_stock
from domain.sellable import ALL_SKUS
from domain.services import retrying
from ops import audit
from ops.commands.support import connection, database, json_option, print_rows
from ops.wiring import ROUTING

_SKU_HELP = "One SKU (its own figure overrides the location's '*'); default: every SKU."


@click.group("safety-stock")
def safety_stock() -> None:
    """Per-channel, per-location safety stock (what a channel is never offered)."""


def _run(
    action: str, target: dict[str, object], change: Callable[[SqlUnitOfWork], SafetyChange]
) -> SafetyChange:
    """The change through the domain service, audited (a domain error: refused)."""
    caller = f"admin:{audit.os_user()}"  # the change log's caller, like the API's admin
    with database() as engine:
        try:
            with audit.audited(engine, action, filter=target) as entry:
                try:
                    result = retrying(
                        lambda: change(SqlUnitOfWork(engine, routing=ROUTING, caller=caller))
                    )
                except DomainError as error:
                    raise audit.Refused(error.detail) from None
                entry.counts = {"skus": len(result.sellable)}
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None
    return result


def _report(change: SafetyChange, channel: str) -> None:
    for sku, quantity in sorted(change.sellable.items()):
        click.echo(f"  {sku}: {channel} may sell {quantity}")


@safety_stock.command("set")
@click.option("--channel", required=True, help="The channel held back from.")
@click.option("--location", required=True, help="The location whose ATP is held back.")
@click.option("--sku", default=ALL_SKUS, show_default=True, help=_SKU_HELP)
@click.argument("quantity", type=click.IntRange(0))
def safety_stock_set(channel: str, location: str, sku: str, quantity: int) -> None:
    """Never offer CHANNEL the last QUANTITY units of LOCATION's ATP."""
    try:
        cmd = SetSafetyStock(channel=channel, location=location, sku=sku, quantity=quantity)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    target = {
        "channel": cmd.channel,
        "location": cmd.location,
        "sku": cmd.sku,
        "quantity": quantity,
    }
    change = _run("safety_stock.set", target, lambda uow: set_safety_stock(uow, cmd))
    click.echo(f"safety stock of {cmd.channel} at {cmd.location} for {cmd.sku}: {quantity}")
    _report(change, cmd.channel)


@safety_stock.command("remove")
@click.option("--channel", required=True)
@click.option("--location", required=True)
@click.option("--sku", default=ALL_SKUS, show_default=True, help=_SKU_HELP)
def safety_stock_remove(channel: str, location: str, sku: str) -> None:
    """Remove a rule: CHANNEL is offered that stock again (or the '*' figure, for a SKU)."""
    target = {"channel": channel, "location": location, "sku": sku}
    change = _run(
        "safety_stock.remove", target, lambda uow: remove_safety_stock(uow, channel, location, sku)
    )
    click.echo(f"safety stock of {channel} at {location} for {sku} removed")
    _report(change, channel)


@safety_stock.command("list")
@click.option("--channel", help="Only this channel's rules.")
@json_option
def safety_stock_list(channel: str | None, as_json: bool) -> None:
    """Every rule: channel, location, SKU ('*': every SKU there) and quantity."""
    with connection() as conn:
        rules = SqlSafetyStockRepository(conn).rules(channel)
    rows = [
        {"channel": r.channel, "location": r.location, "sku": r.sku, "quantity": r.quantity}
        for r in rules
    ]
    print_rows(rows, as_json, "safety stock")
