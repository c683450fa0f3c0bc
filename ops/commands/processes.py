"""The commands that run the product's processes: schema, API, relay, worker, simulators,
the demo."""

from __future__ import annotations

import click
from sqlalchemy import exc

from actors.systems import SYSTEMS
from ops.commands.support import F, console, settings, tracing_checked
from ops.settings import SettingsError
from ops.wiring import QUEUES
from outbox.relay import DEFAULT_BATCH_SIZE


@click.group()
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


@click.command()
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
    from ops.metrics import multiprocess

    if port == 0 and processes > 1:  # refused before anything, the metrics' mode included
        from ops.api_process import ONE_PROCESS_ON_PORT_0

        raise click.UsageError(ONE_PROCESS_ON_PORT_0)
    # Several processes answer on one port: their metrics are summed through files shared
    # on disk, a mode chosen before the API's code (and its metrics) is imported.
    with multiprocess.enabled(processes > 1):
        from ops.api_process import run_api

        settings()  # a bad setting fails here, with its message, before any process starts
        tracing_checked()
        run_api(host, port, processes)


@click.command()
@click.option("--name", help="The relay's name in `outbox stats` (default: host and pid).")
@click.option(
    "--batch-size", default=DEFAULT_BATCH_SIZE, show_default=True, type=click.IntRange(1, 20000)
)
def relay(name: str | None, batch_size: int) -> None:
    """Publish committed outbox rows to RabbitMQ (run one or more).

    Its /metrics: on ORDERSYNC_METRICS_PORT (0, the default: none)."""
    from ops.relay_process import run_relay

    tracing_checked()
    run_relay(settings(), name=name, batch_size=batch_size)


@click.command()
@click.option(
    "--queues", default="", help=f"Comma-separated queues (default: all: {','.join(QUEUES)})."
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256))
def worker(queues: str, threads: int) -> None:
    """Apply messages at their destinations (ERP, WMS, CRM, channels).

    Its /metrics: on ORDERSYNC_METRICS_PORT (0, the default: none)."""
    from ops.worker_process import run_worker

    chosen = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = [q for q in chosen if q not in QUEUES]
    if unknown:
        raise click.BadParameter(
            f"no queue {', '.join(unknown)}; choose from {', '.join(QUEUES)}", param_hint="--queues"
        )
    tracing_checked()
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


@click.command()
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


@click.command()
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
