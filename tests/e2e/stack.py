"""The whole stack as processes: simulators, API, relay and worker, on one database and vhost."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from adapters.db import registry
from tests.e2e.processes import start, stop, wait_until

ADMIN = "e2e-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    engine: sa.Engine
    database_url: str
    broker_url: str
    sim_port: int = field(default_factory=free_port)
    api_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    channel_key: str = ""

    @property
    def sim(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        return {
            "ORDERSYNC_ADMIN_TOKEN": ADMIN,
            "ORDERSYNC_ERP_URL": f"{self.sim}/erp",
            "ORDERSYNC_WMS_URL": f"{self.sim}/wms",
            "ORDERSYNC_CRM_URL": f"{self.sim}/crm",
            "ORDERSYNC_PROBE_INTERVAL_S": "0.5",
            "ORDERSYNC_CLIENT_TIMEOUT_S": "2",
        }

    def up(self, *, ship_after: float | None = 0.3) -> Stack:
        with self.engine.begin() as conn:
            self.channel_key = registry.add_channel(
                conn, "web", "canonical", api_url=f"{self.sim}/channels/web"
            )
            wms_key = registry.add_system(conn, "wms", "wms")
        sim_args = ["sim", "--port", str(self.sim_port)]
        if ship_after is not None:
            sim_args += ["--ordersync-url", self.api, "--wms-key", wms_key]
            sim_args += ["--ship-after", str(ship_after)]
        self.start("sim", *sim_args)
        self.start("api", "api", "--port", str(self.api_port))
        self.start("relay", "relay")
        self.start("worker", "worker", "--threads", "4")
        wait_until(lambda: self._answers(f"{self.api}/readyz"), 30, "the API")
        wait_until(lambda: self._answers(f"{self.sim}/_sim/health"), 30, "the simulators")
        return self

    def start(self, name: str, *args: str) -> None:
        self.processes[name] = start(
            *args, database_url=self.database_url, broker_url=self.broker_url, **self.env()
        )

    def down(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()

    def stop(self, name: str) -> int:
        return stop(self.processes[name])

    @staticmethod
    def _answers(url: str) -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    # -- driving it ---------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        return httpx.request(method, f"{self.api}{path}", headers=headers, timeout=10, **kwargs)

    def order(self, doc: dict[str, Any]) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.channel_key}"}
        response = httpx.post(f"{self.api}/v1/orders", json=doc, headers=headers, timeout=10)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def documents(self, system: str) -> dict[str, Any]:
        return dict(httpx.get(f"{self.sim}/_sim/{system}/documents", timeout=5).json())

    def faults(self, system: str, **faults: Any) -> None:
        response = httpx.post(f"{self.sim}/_sim/{system}/faults", json=faults, timeout=5)
        assert response.status_code == 200, response.text

    def statuses(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT status, count(*) FROM outbox_deliveries GROUP BY status")
            )
            return {r[0]: r[1] for r in rows}

    def settled(self) -> bool:
        """Every delivery is applied (or superseded by a newer stock figure)."""
        statuses = self.statuses()
        return bool(statuses) and set(statuses) <= {"applied", "superseded"}
