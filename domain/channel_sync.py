"""Applying a channel's delivery: its canonical commands (domain/channel_commands.py), in
the caller's one transaction.

One path for every channel kind, whatever its format: the door stores the delivery, the
inbox (adapters/inbox.py) interprets it into commands and calls `apply_delivery` inside
the unit of work that also marks the inbox row, and commits. Here, in order:

1. SKU mapping: every channel SKU in a command becomes ours (`ordersync sku map CHANNEL
   CHANNEL_SKU SKU`), or stays as given; one that is still unknown refuses the delivery
   (UnknownSku: parked, applied by `ordersync inbound replay` once it is mapped).
2. Each command by its kind, through APPLIERS: a ChannelOrder by its business version
   (domain/channel_order_sync.py), a refund, a shipment, a cancel request
   (domain/channel_updates.py). A kind with no applier refuses the delivery, naming it.
   Adding one is one function and one APPLIERS entry (the POS sale's is `apply_sale`).

Nothing here commits: the services run through domain.joined.Joined, so the delivery
is all or nothing, and a failure rolls back everything it did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from domain.channel_commands import ChannelCommand, PosSale
from domain.channel_order_sync import Applied, CannotApply, apply_order
from domain.channel_updates import apply_cancel_request, apply_refund, apply_shipment
from domain.joined import Joined
from domain.ports import UnitOfWork
from domain.pos_sales import apply_pos_sale

# (the joined unit of work, the command with our SKUs, channel, inbox row id) → outcome
Applier = Callable[[UnitOfWork, Any, str, "int | None"], Applied]


def apply_sale(uow: UnitOfWork, sale: PosSale, channel: str, delivery: int | None) -> Applied:
    """A completed in-store sale a channel's door delivered (a Square counter sale), as
    POST /v1/pos/sales applies one: once per sale id."""
    # Looked up first: inside a joined unit of work a duplicate's rollback would undo the
    # whole delivery (the sale's order id is its channel's external id).
    existing = uow.channel_sync.order_id(channel, sale.sale_id)
    if existing is not None:
        return Applied("stale", sale.sale_id, existing, "this sale is recorded already")
    done = apply_pos_sale(uow, sale, channel)
    return Applied("applied", sale.sale_id, done.order.id)


APPLIERS: dict[str, Applier] = {
    "order": apply_order,
    "refund": apply_refund,
    "shipment": apply_shipment,
    "cancel": apply_cancel_request,
    "pos_sale": apply_sale,
}


def apply_delivery(
    uow: UnitOfWork,
    commands: Sequence[ChannelCommand],
    *,
    channel: str,
    delivery: int | None = None,
    appliers: dict[str, Applier] = APPLIERS,
) -> Applied:
    """Apply a delivery's commands in `uow`'s open transaction (not committed here): what
    became of it — applied if any command changed something, else stale if any was an
    old version, else ignored (no command: a topic ordersync takes nothing from)."""
    joined = Joined(uow)
    outcomes = []
    for command in commands:
        applier = appliers.get(command.kind)
        if applier is None:
            raise CannotApply(f"a {command.kind!r} delivery has no applier here")
        outcomes.append(applier(joined, with_our_skus(uow, command, channel), channel, delivery))
    return combined(outcomes)


def combined(outcomes: Sequence[Applied]) -> Applied:
    if not outcomes:
        return Applied("ignored", note="nothing in it for ordersync")
    for state in ("applied", "stale"):
        of_state = [o for o in outcomes if o.state == state]
        if of_state:
            return of_state[0]
    return outcomes[0]


def channel_skus(command: ChannelCommand) -> list[str]:
    """The channel's SKUs a command names (a refund and a cancel request name lines)."""
    if command.kind == "order":
        return [line.sku for line in command.order.lines]
    lines = getattr(command, "lines", ())
    return [line.sku for line in lines if hasattr(line, "sku")]


def with_our_skus(uow: UnitOfWork, command: ChannelCommand, channel: str) -> ChannelCommand:
    """The command with each mapped channel SKU replaced by ours (the rest as given)."""
    names = sorted(set(channel_skus(command)))
    mapping = uow.channel_sync.skus(channel, names) if names else {}
    if not mapping:
        return command

    def lines(items: Sequence[Any]) -> list[Any]:
        return [
            item.model_copy(update={"sku": mapping.get(item.sku, item.sku)})
            if hasattr(item, "sku")
            else item
            for item in items
        ]

    if command.kind == "order":
        order = command.order
        mapped = order.model_copy(update={"lines": lines(order.lines)})
        return command.model_copy(update={"order": mapped})
    return command.model_copy(update={"lines": lines(command.lines)})  # type: ignore[union-attr]
