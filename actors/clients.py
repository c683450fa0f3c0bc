"""The clients the actors call — one per downstream system, one per channel that takes
updates back — and their health for the probe. Generic over a `Systems` registry and
the channel kinds: no system is named here."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from actors.systems import SYSTEMS, Systems
from adapters.channels import CHANNELS
from adapters.channels.kind import ChannelKind
from adapters.db.channel_credentials import open_credentials
from adapters.db.sku_map import ChannelSkuMaps
from adapters.db.tables import channels
from adapters.secretbox import SecretBox, SecretKeyMissing
from adapters.systems.handlers import dispatch
from adapters.systems.http import SystemClient
from outbox.envelope import Envelope
from outbox.queues import CHANNEL_PREFIX

log = logging.getLogger("ordersync.actors")


@dataclass(frozen=True, slots=True)
class ChannelEnd:
    """A channel as the actors see it: its kind, and its client (None: no --api-url, so
    it takes nothing back). `unreadable`: why its stored outbound credentials could not
    be decrypted (ORDERSYNC_SECRET_KEY unset or changed); it then has no client, and its
    messages are refused (actors/channel.py), not sent without them."""

    kind: ChannelKind
    client: SystemClient | None
    url: str | None
    sealed: str | None = None  # the credentials as stored: a change makes a new client
    unreadable: str | None = None


@dataclass
class SystemClients:
    systems: Systems
    clients: dict[str, SystemClient]  # by system name
    engine: sa.Engine
    read_timeout_s: float = 5.0
    refresh_s: float = 30.0  # how soon a changed channel --api-url or credential is picked up
    # Opens the channels' outbound credentials (ORDERSYNC_SECRET_KEY).
    secret_box: SecretBox = field(default_factory=lambda: SecretBox(None))
    # Our SKUs → each channel's (`ordersync sku map`), re-read as often as the channels.
    skus: ChannelSkuMaps = field(init=False)
    _channels: dict[str, ChannelEnd] = field(default_factory=dict)
    _read_at: float = -float("inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.skus = ChannelSkuMaps(self.engine, self.refresh_s)

    @classmethod
    def create(
        cls,
        engine: sa.Engine,
        urls: Mapping[str, str],
        read_timeout_s: float = 5.0,
        *,
        systems: Systems = SYSTEMS,
        secret_box: SecretBox | None = None,
    ) -> SystemClients:
        """One client per system of `systems`, at its URL in `urls` (by name; all needed);
        `secret_box` opens the channels' outbound credentials."""
        missing = [name for name in systems if name not in urls]
        if missing:
            raise ValueError(f"no URL for {', '.join(missing)}")
        clients = {
            s.name: s.client(urls[s.name], system=s.name, read_timeout_s=read_timeout_s)
            for s in systems.values()
        }
        box = secret_box or SecretBox(None)
        return cls(systems, clients, engine, read_timeout_s, secret_box=box)

    def system(self, name: str) -> SystemClient:
        return self.clients[name]

    def applier(self, name: str) -> Callable[[Envelope], object]:
        """How a system's messages are applied: its handler table, with its client."""
        table, client = self.systems[name].handlers, self.clients[name]
        return lambda envelope: dispatch(table, client, envelope)

    def channel(self, name: str) -> ChannelEnd | None:
        """The channel's kind and client (None: no such channel)."""
        with self._lock:
            if time.monotonic() - self._read_at > self.refresh_s or name not in self._channels:
                self._reload()
            return self._channels.get(name)

    def _reload(self) -> None:
        query = sa.select(
            channels.c.name, channels.c.kind, channels.c.api_url, channels.c.credentials_ciphertext
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        for name, kind_name, url, sealed in rows:
            current = self._channels.get(name)
            if current is not None and (current.url, current.kind.name, current.sealed) == (
                url,
                kind_name,
                sealed,
            ):
                continue
            # The old client is left to the collector, not closed: another thread may be
            # in the middle of a call with it.
            self._channels[name] = self._end(name, CHANNELS[kind_name], url, sealed)
        self._read_at = time.monotonic()

    def _end(self, name: str, kind: ChannelKind, url: str | None, sealed: str | None) -> ChannelEnd:
        if url is None:
            return ChannelEnd(kind, None, url, sealed)
        try:
            credentials = open_credentials(self.secret_box, sealed)
        except SecretKeyMissing as error:
            log.error("channel %s: its outbound credentials cannot be read: %s", name, error)
            return ChannelEnd(kind, None, url, sealed, unreadable=str(error))
        client = kind.client(
            url, channel=name, read_timeout_s=self.read_timeout_s, credentials=credentials
        )
        return ChannelEnd(kind, client, url, sealed)

    def healthy(self, destination: str) -> bool:
        """For the health probe: whether the destination answers again."""
        if destination.startswith(CHANNEL_PREFIX):
            end = self.channel(destination.removeprefix(CHANNEL_PREFIX))
            return end is None or end.client is None or end.client.probe()
        client = self.clients.get(destination)
        return client is not None and client.probe()

    def close(self) -> None:
        ends = [end.client for end in self._channels.values()]
        for client in (*self.clients.values(), *ends):
            if client is not None:
                client.close()
