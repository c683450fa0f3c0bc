"""Channels, downstream systems and locations: who may call, and where stock lives."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters import apikeys
from adapters.channels import CHANNELS

# The webhook doors' credentials, under the name the doors call:
# registry.channel_credentials(conn, secret_box) -> list[Credentials].
from adapters.db.channel_credentials import channel_credentials as channel_credentials
from adapters.db.tables import channels, locations, systems

CHANNEL_KINDS = CHANNELS.names  # adapters.channels: one module and one line per kind
SYSTEM_KINDS = ("erp", "wms", "crm", "payments")
LOCATION_TYPES = ("warehouse", "store")


class RegistryError(Exception):
    """The registration cannot be made."""


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: a channel, a downstream system, or the operator (admin)."""

    kind: str  # "channel", "system" or "admin"
    name: str
    subkind: str = ""  # the channel's or system's kind
    # A channel's previous key (after `channel rotate`) is good until then; None: no end.
    valid_until: datetime | None = None
    # A channel's own requests a minute (channels.rate_limit_per_minute; None: the default).
    rate_limit: int | None = None


def add_channel(
    conn: sa.Connection,
    name: str,
    kind: str,
    *,
    secret_ciphertext: str | None = None,
    api_url: str | None = None,
    shop_domain: str | None = None,
    notification_url: str | None = None,
    credentials_ciphertext: str | None = None,
    rate_limit_per_minute: int | None = None,
) -> str:
    """Create a channel; returns its API key (only its hash is stored). The secret and the
    outbound credentials come sealed (adapters/secretbox.py, channel_credentials.py)."""
    if kind not in CHANNEL_KINDS:
        raise RegistryError(f"unknown channel kind {kind!r}; one of {', '.join(CHANNEL_KINDS)}")
    _check_rate_limit(rate_limit_per_minute)
    key = apikeys.mint("ch")
    stmt = (
        insert(channels)
        .values(
            id=uuid.uuid4(),
            name=name,
            kind=kind,
            api_key_prefix=key.prefix,
            api_key_hash=key.digest,
            secret_ciphertext=secret_ciphertext,
            api_url=api_url,
            shop_domain=shop_domain,
            notification_url=notification_url,
            credentials_ciphertext=credentials_ciphertext,
            rate_limit_per_minute=rate_limit_per_minute,
        )
        .on_conflict_do_nothing()
        .returning(channels.c.id)
    )
    if conn.execute(stmt).first() is None:
        raise RegistryError(f"a channel named {name!r} already exists")
    return key.key


def add_system(conn: sa.Connection, name: str, kind: str) -> str:
    """Register a downstream system that calls back; returns its API key."""
    if kind not in SYSTEM_KINDS:
        raise RegistryError(f"unknown system kind {kind!r}; one of {', '.join(SYSTEM_KINDS)}")
    key = apikeys.mint("sys")
    stmt = (
        insert(systems)
        .values(
            id=uuid.uuid4(),
            name=name,
            kind=kind,
            api_key_prefix=key.prefix,
            api_key_hash=key.digest,
        )
        .on_conflict_do_nothing()
        .returning(systems.c.id)
    )
    if conn.execute(stmt).first() is None:
        raise RegistryError(f"a system named {name!r} already exists")
    return key.key


def add_location(conn: sa.Connection, code: str, type_: str, priority: int) -> None:
    """Create a location, or update its type and priority."""
    if type_ not in LOCATION_TYPES:
        raise RegistryError(f"unknown location type {type_!r}; one of {', '.join(LOCATION_TYPES)}")
    stmt = insert(locations).values(code=code, type=type_, priority=priority)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[locations.c.code], set_={"type": type_, "priority": priority}
        )
    )


MAX_RATE_LIMIT = 1_000_000  # requests a minute: far above what one API process serves


def _check_rate_limit(limit: int | None) -> None:
    if limit is not None and not 0 <= limit <= MAX_RATE_LIMIT:
        raise RegistryError(f"a rate limit is 0 (unlimited) to {MAX_RATE_LIMIT} a minute")


def set_rate_limit(conn: sa.Connection, name: str, limit: int | None) -> None:
    """A channel's requests a minute on the canonical API and the read routes (0:
    unlimited; None: the default, ORDERSYNC_CHANNEL_RATE_LIMIT)."""
    _check_rate_limit(limit)
    result = conn.execute(
        sa.update(channels).where(channels.c.name == name).values(rate_limit_per_minute=limit)
    )
    if result.rowcount != 1:
        raise RegistryError(f"no channel named {name!r} (see `ordersync channel list`)")


def list_channels(conn: sa.Connection) -> list[dict[str, object]]:
    """Every channel, without its secrets: whether it has outbound credentials, and until
    when the key and secret a rotation replaced are still good."""
    query = sa.select(
        channels.c.name,
        channels.c.kind,
        channels.c.api_url,
        channels.c.shop_domain,
        channels.c.notification_url,
        channels.c.rate_limit_per_minute,
        channels.c.credentials_ciphertext.is_not(None).label("has_credentials"),
        channels.c.previous_valid_until,
        channels.c.created_at,
        channels.c.disabled_at,
    ).order_by(channels.c.name)
    return [_plain(row._asdict()) for row in conn.execute(query)]


def list_locations(conn: sa.Connection) -> list[dict[str, object]]:
    query = sa.select(locations.c.code, locations.c.type, locations.c.priority).order_by(
        locations.c.priority, locations.c.code
    )
    return [row._asdict() for row in conn.execute(query)]


_ACTIVE_CHANNELS = sa.select(channels.c.name).where(channels.c.disabled_at.is_(None))


def active_channel_names(conn: sa.Connection) -> list[str]:
    return sorted(conn.execute(_ACTIVE_CHANNELS).scalars())


class ActiveChannels:
    """The active channel names, read at most once per `ttl` seconds (per process).

    Every stock change fans out to every channel, so the list is needed on the hot
    path. A channel added in another process starts receiving stock figures within
    `ttl`; those are state-like (each carries the full ATP), and a new channel is
    brought up to date by its initial stock sync anyway.
    """

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._names: list[str] = []
        self._read_at = -float("inf")
        self._lock = threading.Lock()

    def __call__(self, conn: sa.Connection) -> list[str]:
        with self._lock:
            if time.monotonic() - self._read_at > self.ttl:
                self._names = active_channel_names(conn)
                self._read_at = time.monotonic()
            return self._names


# A channel by its key's prefix: the current key's, or the previous key's within its
# grace (the database's clock, as the rotation's; adapters/db/rotation.py).
_CHANNEL_BY_PREFIX = sa.select(
    channels.c.name,
    channels.c.kind,
    channels.c.rate_limit_per_minute,
    channels.c.api_key_prefix,
    channels.c.api_key_hash,
    channels.c.previous_key_hash,
    channels.c.previous_valid_until,
).where(
    sa.or_(
        channels.c.api_key_prefix == sa.bindparam("prefix"),
        sa.and_(
            channels.c.previous_key_prefix == sa.bindparam("prefix"),
            channels.c.previous_valid_until > sa.func.now(),
        ),
    ),
    channels.c.disabled_at.is_(None),
)
_SYSTEM_BY_PREFIX = sa.select(systems.c.name, systems.c.kind, systems.c.api_key_hash).where(
    systems.c.api_key_prefix == sa.bindparam("prefix"), systems.c.disabled_at.is_(None)
)


def authenticate(conn: sa.Connection, key: str) -> Caller | None:
    """The channel or system that owns this key, or None. A channel's previous key (after
    a rotation) is its channel's until `valid_until`."""
    prefix = apikeys.prefix_of(key)
    if prefix is None:
        return None
    found = conn.execute(_CHANNEL_BY_PREFIX, {"prefix": prefix}).all()
    for row in found:
        limit = row.rate_limit_per_minute
        if row.api_key_prefix == prefix and apikeys.matches(key, row.api_key_hash):
            return Caller("channel", row.name, row.kind, rate_limit=limit)
        previous = row.previous_key_hash
        if row.api_key_prefix != prefix and previous and apikeys.matches(key, previous):
            return Caller("channel", row.name, row.kind, row.previous_valid_until, limit)
    if found:
        return None
    system = conn.execute(_SYSTEM_BY_PREFIX, {"prefix": prefix}).first()
    if system is not None and apikeys.matches(key, system.api_key_hash):
        return Caller("system", system.name, system.kind)
    return None


def _plain(row: dict[str, object]) -> dict[str, object]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
