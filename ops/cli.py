"""The `ordersync` command line: the group, and the commands of ops.commands on it."""

from __future__ import annotations

import logging
import sys

import click

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
