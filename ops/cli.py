"""The `ordersync` command line: the group, and the commands of ops.commands on it."""

from __future__ import annotations

import logging
import os

import click

from ops import logs
from ops.commands import (
    audit,
    dead_letters,
    hold_rules,
    inbound,
    operations,
    processes,
    reconcile,
    registration,
    retention,
    safety_stock,
    skus,
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """ordersync: omnichannel orders, inventory and a transactional outbox."""
    try:
        log_format = logs.format_for(ctx.invoked_subcommand, os.environ.get("ORDERSYNC_LOG_FORMAT"))
    except logs.LogSettingsError as error:
        raise click.UsageError(str(error)) from None
    # JSON lines for the api, relay and worker, text for the commands a person runs
    # (ops/logs.py); pika's and httpx's chatter stays at WARNING unless --verbose.
    logs.configure(logging.DEBUG if verbose else logging.INFO, log_format)


for command in (
    processes.db,
    processes.api,
    processes.relay,
    processes.worker,
    processes.sim,
    processes.demo,
    dead_letters.dlq,
    operations.destination,
    operations.outbox,
    audit.audit,
    retention.maintenance,
    reconcile.reconcile,
    registration.channel,
    registration.system,
    registration.location,
    safety_stock.safety_stock,
    hold_rules.hold_rule,
    inbound.inbound_group,
    skus.sku,
):
    main.add_command(command)
