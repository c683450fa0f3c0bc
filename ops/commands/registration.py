"""Who may call and where stock lives: channels, downstream systems, locations."""

from __future__ import annotations

import click

from adapters.channels import CHANNELS
from adapters.db import registry
from ops.commands import channel_keys
from ops.commands.support import connection, json_option, print_rows


@click.group()
def channel() -> None:
    """Sales channels."""


@channel.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(CHANNELS.names))
@click.option("--secret", help="The channel's webhook signing secret (stored encrypted).")
@click.option("--api-url", help="Where status updates go back to the channel.")
@click.option("--shop-domain", help="The shop's domain (Shopify, WooCommerce).")
@click.option("--notification-url", help="Where the channel wants notifications.")
@click.option(
    "--credentials",
    metavar="JSON",
    help="What its own API takes from us, a JSON object of strings (stored encrypted).",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(0, registry.MAX_RATE_LIMIT),
    help="Its requests a minute (0: unlimited; default: ORDERSYNC_CHANNEL_RATE_LIMIT).",
)
def channel_add(
    name: str,
    kind: str,
    secret: str | None,
    credentials: str | None,
    rate_limit: int | None,
    **urls: str | None,
) -> None:
    """Create a channel and print its API key (shown once)."""
    box = channel_keys.secret_box()
    sealed = channel_keys.seal(box, secret) if secret else None
    outbound = channel_keys.sealed_credentials(box, credentials) if credentials else None
    with connection() as conn:
        key = registry.add_channel(
            conn,
            name,
            kind,
            secret_ciphertext=sealed,
            credentials_ciphertext=outbound,
            rate_limit_per_minute=rate_limit,
            **urls,
        )
    click.echo(f"channel {name} ({kind}) created; its API key, shown only now:")
    click.echo(key)


@channel.command("list")
@json_option
def channel_list(as_json: bool) -> None:
    """List channels."""
    with connection() as conn:
        rows = registry.list_channels(conn)
    print_rows(rows, as_json, "channels")


for command in (
    channel_keys.channel_rotate,
    channel_keys.channel_credentials,
    channel_keys.channel_limit,
):
    channel.add_command(command)


@click.group()
def system() -> None:
    """Downstream systems that call back (shipments, stock, refunds)."""


@system.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(registry.SYSTEM_KINDS))
def system_add(name: str, kind: str) -> None:
    """Register a system and print its API key (shown once)."""
    with connection() as conn:
        key = registry.add_system(conn, name, kind)
    click.echo(f"system {name} ({kind}) created; its API key, shown only now:")
    click.echo(key)


@click.group()
def location() -> None:
    """Warehouses and stores."""


@location.command("add")
@click.argument("code")
@click.option("--type", "type_", required=True, type=click.Choice(registry.LOCATION_TYPES))
@click.option("--priority", default=100, show_default=True, type=int, help="Lower ships first.")
def location_add(code: str, type_: str, priority: int) -> None:
    """Create a location (or change its type and priority)."""
    with connection() as conn:
        registry.add_location(conn, code, type_, priority)
    click.echo(f"location {code} ({type_}, priority {priority})")


@location.command("list")
@json_option
def location_list(as_json: bool) -> None:
    """List locations, in allocation order."""
    with connection() as conn:
        rows = registry.list_locations(conn)
    print_rows(rows, as_json, "locations")
