"""`ordersync sku map|list|unmap`: a channel's SKUs → ours, applied to every delivery of the
channel before anything is looked up (domain/channel_sync.py). A delivery parked for an
unknown SKU is applied by `ordersync inbound replay` once its SKU is mapped."""

from __future__ import annotations

import click
from pydantic import TypeAdapter, ValidationError

from adapters.db import sku_mappings
from adapters.db.registry import RegistryError
from domain.commands import Sku
from ops import audit
from ops.commands.support import connection, database, json_option, print_rows

_SKU: TypeAdapter[str] = TypeAdapter(Sku)


def _ours(value: str) -> str:
    try:
        return _SKU.validate_python(value)
    except ValidationError:
        raise click.BadParameter(
            "a SKU is 1 to 64 characters, no control characters", param_hint="SKU"
        ) from None


@click.group("sku")
def sku() -> None:
    """Channel SKU → internal SKU mappings."""


@sku.command("map")
@click.argument("channel")
@click.argument("channel_sku")
@click.argument("our_sku", metavar="SKU")
def sku_map(channel: str, channel_sku: str, our_sku: str) -> None:
    """Map CHANNEL's CHANNEL_SKU to our SKU (a mapping that exists is replaced)."""
    if not 0 < len(channel_sku) <= 255:
        raise click.BadParameter("1 to 255 characters", param_hint="CHANNEL_SKU")
    ours = _ours(our_sku)
    asked = {"channel": channel, "channel_sku": channel_sku, "sku": ours}
    with database() as engine:
        try:
            with audit.audited(engine, "sku.map", filter=asked) as entry:
                try:
                    with engine.begin() as conn:
                        sku_mappings.map_sku(
                            conn, channel, channel_sku, ours, created_by=audit.os_user()
                        )
                except RegistryError as error:
                    raise audit.Refused(str(error)) from None
                entry.detail = f"{channel}: {channel_sku} → {ours}"
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None
    click.echo(f"{channel}: {channel_sku} → {ours}")


@sku.command("list")
@click.option("--channel", help="Only this channel's mappings.")
@json_option
def sku_list(channel: str | None, as_json: bool) -> None:
    """The mappings, by channel and channel SKU."""
    with connection() as conn:
        rows = sku_mappings.list_mappings(conn, channel)
    print_rows(rows, as_json, "SKU mappings")


@sku.command("unmap")
@click.argument("channel")
@click.argument("channel_sku")
def sku_unmap(channel: str, channel_sku: str) -> None:
    """Remove CHANNEL's mapping of CHANNEL_SKU (its deliveries then name it as it is)."""
    asked = {"channel": channel, "channel_sku": channel_sku}
    with database() as engine:
        try:
            with audit.audited(engine, "sku.unmap", filter=asked) as entry:
                with engine.begin() as conn:
                    removed = sku_mappings.unmap_sku(conn, channel, channel_sku)
                if removed is None:
                    raise audit.Refused(f"{channel} has no mapping of {channel_sku!r}")
                entry.detail = f"{channel}: {channel_sku} → {removed['sku']} removed"
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None
    click.echo(f"{channel}: {channel_sku} unmapped (was {removed['sku']})")
