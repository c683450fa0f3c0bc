"""Inbound dead letters, for the operator: the inbox as the composition root builds it,
and replays through its one apply path (adapters/inbox.py), audited as `inbound.replay`
(`ordersync inbound replay`, POST /ops/inbound/{id}/replay)."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa

from adapters.db import inbound
from adapters.inbox import ChannelClients, Inbox
from adapters.secretbox import SecretBox
from ops.audit import audited
from ops.wiring import ROUTING


def inbox_for(
    engine: sa.Engine, secret_key: str | None, *, read_timeout_s: float = 5.0, notify: bool = False
) -> Inbox:
    """The inbox of a command or an /ops action: the product's routing, the kinds' clients."""
    clients = ChannelClients(engine, SecretBox(secret_key), read_timeout_s=read_timeout_s)
    return Inbox(engine, ROUTING, clients, notify=notify)


def replay(
    inbox: Inbox,
    ids: Sequence[int],
    *,
    actor: str | None = None,
    via: str = "cli",
    asked: dict[str, object] | None = None,
) -> dict[int, str]:
    """Apply each delivery again (parked or still received); id → its state afterwards
    ("skipped": not parked nor received, or another applier held it)."""
    outcomes: dict[int, str] = {}
    with audited(
        inbox.engine, "inbound.replay", filter=asked or {"ids": list(ids)}, actor=actor, via=via
    ) as entry:
        try:
            for delivery in ids:
                outcomes[delivery] = inbox.apply(delivery, replay=True) or "skipped"
        finally:
            entry.counts = dict(Counter(outcomes.values()))
    return outcomes


def delivery_json(found: inbound.StoredDelivery) -> dict[str, object]:
    """One delivery with its raw body (base64; `body_text` as well if it is UTF-8)."""
    shown: dict[str, object] = {
        name: getattr(found, name) for name in inbound.StoredDelivery.__slots__ if name != "body"
    }
    body = found.body
    shown["body_base64"] = None if body is None else base64.b64encode(body).decode()
    try:
        shown["body_text"] = None if body is None else body.decode()
    except UnicodeDecodeError:
        shown["body_text"] = None
    return shown
