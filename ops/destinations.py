"""The destinations an operator can see and act on: every system of the SYSTEMS registry,
each channel (channel:NAME), and any destination with a breaker or a backlog."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from actors.systems import SYSTEMS
from adapters.db.breakers import breaker_exists
from adapters.db.destination_status import destination_status
from adapters.db.registry import active_channel_names, list_channels
from outbox.routing import channel_destination


def listed(conn: sa.Connection) -> list[dict[str, Any]]:
    """Each destination's breaker, backlog by status and oldest waiting age."""
    known = [*SYSTEMS, *(channel_destination(n) for n in active_channel_names(conn))]
    return destination_status(conn, known)


def is_known(conn: sa.Connection, name: str) -> bool:
    """A system, a channel, or a destination with a breaker row: pausing a typo would hold
    nothing and say it did."""
    channels = {channel_destination(str(c["name"])) for c in list_channels(conn)}
    return name in SYSTEMS or name in channels or breaker_exists(conn, name)


def unknown_message(name: str) -> str:
    return (
        f"{name!r} is not a destination: one of {', '.join(SYSTEMS)} or channel:NAME of a channel"
    )
