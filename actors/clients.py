"""The clients the actors call — one per downstream system, one per channel that takes
updates back — and their health for the probe. Generic over a `Systems` registry and
the channel kinds: no system is named here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from actors.systems import SYSTEMS, Systems
from adapters.channels import CHANNELS
from adapters.channels.kind import ChannelKind
from adapters.db.tables import channels
from adapters.systems.handlers import dispatch
from adapters.systems.http import SystemClient
from outbox.envelope import Envelope
from outbox.queues import CHANNEL_PREFIX


@dataclass(frozen=True, slots=True)
class ChannelEnd:
    """A channel as the actors see it: its kind, and its client (None: no --api-url, so
    it takes nothing back)."""

    kind: ChannelKind
    client: SystemClient | None
    url: str | None


@dataclass
class SystemClients:
    systems: Systems
    clients: dict[str, SystemClient]  # by system name
    engine: sa.Engine
    read_timeout_s: float = 5.0
    refresh_s: float = 30.0  # how soon a changed channel --api-url is picked up
    _channels: dict[str, ChannelEnd] = field(default_factory=dict)
    _read_at: float = -float("inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        engine: sa.Engine,
        urls: Mapping[str, str],
        read_timeout_s: float = 5.0,
        *,
        systems: Systems = SYSTEMS,
    ) -> SystemClients:
        """One client per system of `systems`, at its URL in `urls` (by name; all needed)."""
        missing = [name for name in systems if name not in urls]
        if missing:
            raise ValueError(f"no URL for {', '.join(missing)}")
        clients = {
            s.name: s.client(urls[s.name], system=s.name, read_timeout_s=read_timeout_s)
            for s in systems.values()
        }
        return cls(systems, clients, engine, read_timeout_s)

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
        query = sa.select(channels.c.name, channels.c.kind, channels.c.api_url)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        for name, kind_name, url in rows:
            current = self._channels.get(name)
            if current is not None and current.url == url and current.kind.name == kind_name:
                continue
            kind = CHANNELS[kind_name]
            client = (
                None
                if url is None
                else kind.client(url, channel=name, read_timeout_s=self.read_timeout_s)
            )
            # The old client is left to the collector, not closed: another thread may be
            # in the middle of a call with it.
            self._channels[name] = ChannelEnd(kind, client, url)
        self._read_at = time.monotonic()

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
