"""The `ordersync` command line."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy import exc

from actors.systems import SYSTEMS
from adapters.channels import CHANNELS
from adapters.db import registry
from adapters.secretbox import SecretKeyMissing
from ops import bootstrap
from ops.settings import Settings, SettingsError, load_settings
from ops.wiring import QUEUES
from outbox.relay import DEFAULT_BATCH_SIZE

F = TypeVar("F", bound=Callable[..., Any])
console = Console()


def settings() -> Settings:
    """The settings of a command on the configured database (all but `demo` and `sim`)."""
    try:
        loaded = load_settings()
        loaded.require_database_url()
        return loaded
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def connection() -> Iterator[sa.Connection]:
    """A committed-on-success connection to the configured database, with readable errors."""
    engine = bootstrap.engine_for(settings())
    try:
        with engine.begin() as conn:
            yield conn
    except registry.RegistryError as error:
        raise click.ClickException(str(error)) from None
    except (exc.ProgrammingError, exc.OperationalError) as error:
        # A missing table is UndefinedTable, a ProgrammingError.
        if isinstance(error, exc.ProgrammingError):
            raise click.ClickException(
                f"the database schema is missing or old ({error.orig}); "
                "run `ordersync db upgrade` first"
            ) from None
        raise click.ClickException(f"cannot reach the database: {error.orig}") from None
    finally:
        engine.dispose()


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)


def print_rows(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ["(none)"]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def main(verbose: bool) -> None:
    """ordersync: omnichannel orders, inventory and a transactional outbox."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # Every connection event of pika, every request of httpx: noise at INFO.
    for noisy in ("pika", "httpx"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to ORDERSYNC_DATABASE_URL."""
    s = settings()
    try:
        from adapters.db.migrate import upgrade

        upgrade(s.require_database_url(), revision)
    except exc.OperationalError as error:
        raise click.ClickException(f"cannot reach the database: {error.orig}") from None
    click.echo(f"database at {revision}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=8080,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0: a free port the kernel picks (logged: `listening on URL`); one process only.",
)
@click.option(
    "--processes",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the port (one per core is a good start).",
)
def api(host: str, port: int, processes: int) -> None:
    """Serve the HTTP API."""
    from ops.api_process import ONE_PROCESS_ON_PORT_0, run_api

    if port == 0 and processes > 1:
        raise click.UsageError(ONE_PROCESS_ON_PORT_0)
    settings()  # a bad setting fails here, with its message, before any process starts
    run_api(host, port, processes)


@main.command()
@click.option("--name", help="The relay's name in `outbox stats` (default: host and pid).")
@click.option(
    "--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=click.IntRange(1, 20000)
)
def relay(name: str | None, batch_size: int) -> None:
    """Publish committed outbox rows to RabbitMQ (run one or more)."""
    from ops.relay_process import run_relay

    run_relay(settings(), name=name, batch_size=batch_size)


@main.command()
@click.option(
    "--queues", default="", help=f"Comma-separated queues (default: all: {','.join(QUEUES)})."
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
def worker(queues: str, threads: int) -> None:
    """Apply messages at their destinations (ERP, WMS, CRM, channels)."""
    from ops.worker_process import run_worker

    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in chosen if q not in QUEUES]
    if unknown:
        raise click.BadParameter(
            f"no queue {', '.join(unknown)}; choose from {', '.join(QUEUES)}", param_hint="--queues"
        )
    run_worker(settings(), queues=chosen, threads=threads)


def simulator_key_options(fn: F) -> F:
    """--<name>-key for each system whose simulator calls ordersync back (SYSTEMS says)."""
    for system in reversed(list(SYSTEMS.values())):
        if system.simulator_key_option:
            fn = click.option(
                f"--{system.name}-key",
                system.simulator_key_option,
                help=f"The simulated {system.name}'s system key, to call ordersync back.",
            )(fn)
    return fn


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=8090,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0: a free port the kernel picks (logged: `listening on URL`).",
)
@click.option("--ordersync-url", help="Where the simulators call back to (POST /v1/shipments).")
@simulator_key_options
@click.option("--ship-after", type=float, help="Seconds after a fulfillment order to ship it.")
def sim(
    host: str,
    port: int,
    ordersync_url: str | None,
    ship_after: float | None,
    **keys: str | None,
) -> None:
    """Serve the simulated ERP, WMS, CRM and channel back-ends."""
    from ops.sim_process import run_sim

    given = {option: key for option, key in keys.items() if key is not None}
    if (ordersync_url is None) != (not given) or (ship_after and not ordersync_url):
        flags = " and ".join(f"--{option.replace('_', '-')}" for option in keys)
        raise click.UsageError(
            f"--ordersync-url and {flags} go together (and --ship-after needs them)"
        )
    run_sim(host, port, ordersync_url=ordersync_url, keys=given, ship_after_s=ship_after)


@main.group()
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


@main.group()
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


@main.group()
def channel() -> None:
    """Sales channels."""


@channel.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(CHANNELS.names))
@click.option("--secret", help="The channel's webhook signing secret (stored encrypted).")
@click.option("--api-url", help="Where status updates go back to the channel.")
@click.option("--shop-domain", help="The shop's domain (Shopify, WooCommerce).")
@click.option("--notification-url", help="Where the channel wants notifications.")
def channel_add(name: str, kind: str, secret: str | None, **urls: str | None) -> None:
    """Create a channel and print its API key (shown once)."""
    ciphertext = None
    if secret:
        try:
            ciphertext = bootstrap.secret_box(settings()).seal(secret)
        except SecretKeyMissing as error:
            raise click.ClickException(str(error)) from None
    with connection() as conn:
        key = registry.add_channel(conn, name, kind, secret_ciphertext=ciphertext, **urls)
    click.echo(f"channel {name} ({kind}) created; its API key, shown only now:")
    click.echo(key)


@channel.command("list")
@json_option
def channel_list(as_json: bool) -> None:
    """List channels."""
    with connection() as conn:
        rows = registry.list_channels(conn)
    print_rows(rows, as_json, "channels")


@main.group()
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


@main.group()
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


@main.group()
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


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] → "0-2, 5"."""
    spans: list[list[int]] = []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in spans)


@main.command()
@click.option("--orders", default=300, show_default=True, help="How many orders to send.")
@click.option("--concurrency", default=8, show_default=True)
@click.option(
    "--folder",
    default="ordersync-demo",
    show_default=True,
    help="Where the embedded PostgreSQL server keeps its data (when ORDERSYNC_DATABASE_URL "
    "is unset); kept between runs, each run starts on a fresh database.",
)
def demo(orders: int, concurrency: int, folder: str) -> None:
    """Run the whole flow in one process and print a summary."""
    from adapters.db.embedded import EmbeddedPostgresError
    from ops.demo import run_demo

    try:
        run_demo(orders=orders, concurrency=concurrency, folder=folder, console=console)
    except (EmbeddedPostgresError, SettingsError) as error:
        raise click.ClickException(str(error)) from None
