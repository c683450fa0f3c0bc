"""A listed order as an inbound delivery: how `ordersync reconcile --channel` stores what a
channel's list of orders gave it, so that the inbox applies it through the door's path.

One row per order version the channel listed: its delivery id is
`poll:<external id>:<version time>` (the listed updated_at / LastUpdateDate, in UTC), so a
run that lists the same version again finds the row and writes nothing, and every poll
leaves the same audit trail as a webhook (`ordersync inbound list`, replayable when
parked). Its body is the listed order as JSON — {"external_id", "updated_at",
"document"} — and its topic POLL_TOPIC, which tells the inbox to take the commands from
the kind's `polled` rather than from its door's `interpret`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from adapters.channels.kind import ListedOrder

POLL_TOPIC = "poll"
POLLED = "read from the channel's API"  # inbound_deliveries.verification
MAX_DELIVERY_ID = 255  # inbound_deliveries.delivery_id


class NotAListedOrder(ValueError):
    """A poll row's body is not a listed order as `body_of` writes one."""


def _exact(value: object) -> str:
    # Clients that read JSON numbers as Decimal (Shopify's) keep them exact as strings:
    # every kind's model reads a decimal from either.
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"a listed document holds a {type(value).__name__}, which JSON cannot")


def body_of(listed: ListedOrder) -> bytes:
    """The row's body: the listed order as JSON."""
    stored = {
        "external_id": listed.external_id,
        "updated_at": listed.updated_at.astimezone(UTC).isoformat(),
        "document": listed.document,
    }
    return json.dumps(stored, default=_exact, separators=(",", ":")).encode()


def delivery_id(listed: ListedOrder) -> str:
    """`poll:<external id>:<version time>`; a listed order with no external id (or one too
    long for the column) is named by its body's digest instead, so two such orders are not
    taken for one."""
    stamp = listed.updated_at.astimezone(UTC).isoformat()
    named = f"poll:{listed.external_id}:{stamp}"
    if listed.external_id and len(named) <= MAX_DELIVERY_ID:
        return named
    return f"poll:sha256:{hashlib.sha256(body_of(listed)).hexdigest()}"


def listed_of(body: bytes) -> ListedOrder:
    """The listed order a poll row holds (NotAListedOrder if it holds something else)."""
    try:
        stored: Any = json.loads(body, parse_float=Decimal)
        return ListedOrder(
            datetime.fromisoformat(stored["updated_at"]),
            stored["document"],
            str(stored["external_id"]),
        )
    except (ValueError, TypeError, KeyError) as error:
        raise NotAListedOrder(f"the poll row's body is not a listed order: {error}") from None
