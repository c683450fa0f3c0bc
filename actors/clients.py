"""The downstream-system clients the actors call, and their health for the probe."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa

from adapters.db.tables import channels
from adapters.systems.channel import ChannelClient
from adapters.systems.crm import CrmClient
from adapters.systems.erp import ErpClient
from adapters.systems.wms import WmsClient
from outbox.queues import CHANNEL_PREFIX


@dataclass
class SystemClients:
    erp: ErpClient
    wms: WmsClient
    crm: CrmClient
    engine: sa.Engine
    read_timeout_s: float = 5.0
    refresh_s: float = 30.0  # how soon a changed channel --api-url is picked up
    _channels: dict[str, ChannelClient | None] = field(default_factory=dict)
    _read_at: float = -float("inf")
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def create(
        cls,
        engine: sa.Engine,
        erp_url: str,
        wms_url: str,
        crm_url: str,
        read_timeout_s: float = 5.0,
    ) -> SystemClients:
        options = {"read_timeout_s": read_timeout_s}
        return cls(
            ErpClient(erp_url, **options),
            WmsClient(wms_url, **options),
            CrmClient(crm_url, **options),
            engine,
            read_timeout_s,
        )

    def channel(self, name: str) -> ChannelClient | None:
        """The client of a channel that takes updates back (has an --api-url), else None."""
        with self._lock:
            if time.monotonic() - self._read_at > self.refresh_s or name not in self._channels:
                self._reload()
            return self._channels.get(name)

    def _reload(self) -> None:
        with self.engine.connect() as conn:
            urls = dict(conn.execute(sa.select(channels.c.name, channels.c.api_url)).all())
        for name, url in urls.items():
            current = self._channels.get(name)
            if url is None:
                self._channels[name] = None
            elif current is None or str(current._http.base_url).rstrip("/") != url.rstrip("/"):
                self._channels[name] = ChannelClient(
                    url, channel=name, read_timeout_s=self.read_timeout_s
                )
        self._read_at = time.monotonic()

    def healthy(self, destination: str) -> bool:
        """For the health probe: whether the destination answers again."""
        if destination.startswith(CHANNEL_PREFIX):
            client = self.channel(destination.removeprefix(CHANNEL_PREFIX))
            return client is None or client.probe()
        system = {"erp": self.erp, "wms": self.wms, "crm": self.crm}.get(destination)
        return system is not None and system.probe()

    def close(self) -> None:
        for client in (self.erp, self.wms, self.crm, *self._channels.values()):
            if client is not None:
                client.close()
