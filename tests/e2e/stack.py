"""The whole stack as processes: simulators, API, relay and worker(s), on one database and
vhost; and what tests count with: the simulators' call logs, held calls, which process made
a call, Idempotency-Keys mapped back to (destination, aggregate, sequence).

No port is guessed: the simulators start first on --port 0 and log the port they bound; the
API starts on --port 0 with the simulators' URLs and logs its own; then the simulators are
told where the WMS ships back to (POST /_sim/shipper)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import sqlalchemy as sa

from adapters.db import registry
from adapters.systems.http import part_key
from tests.e2e.processes import CLI, listening_url, log_of, start, stop, wait_until

SYSTEMS = ("erp", "wms", "crm", "channels")
# The parts a client posts one event in, each under a key derived from the event's
# (adapters.systems.http.part_key): the CRM's contact and timeline entry; the WMS's
# fulfillment orders, one per location (added from the database's locations).
CRM_PARTS = ("contact", "timeline")

ADMIN = "e2e-admin-token-0123456789"
# What each kind of process logs once it consumes (relay: holds its lease and polls).
STARTED_LINES = {"relay": ") started", "worker": "worker started: "}


@dataclass
class Stack:
    engine: sa.Engine
    database_url: str
    broker_url: str
    sim_port: int = 0  # known once up() has started the simulators (they bind it)
    api_port: int = 0  # likewise the API
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    channel_key: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)  # over env()'s defaults
    command: tuple[str, ...] = (CLI,)  # what runs `ordersync ARGS…` (see processes.start)

    @property
    def sim(self) -> str:
        assert self.sim_port, "the simulators are not started (Stack.up)"
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def api(self) -> str:
        assert self.api_port, "the API is not started (Stack.up)"
        return f"http://127.0.0.1:{self.api_port}"

    def env(self) -> dict[str, str]:
        return {
            "ORDERSYNC_ADMIN_TOKEN": ADMIN,
            "ORDERSYNC_ERP_URL": f"{self.sim}/erp",
            "ORDERSYNC_WMS_URL": f"{self.sim}/wms",
            "ORDERSYNC_CRM_URL": f"{self.sim}/crm",
            "ORDERSYNC_PROBE_INTERVAL_S": "0.5",
            "ORDERSYNC_CLIENT_TIMEOUT_S": "2",
            **self.extra_env,
        }

    def up(self, *, ship_after: float | None = 0.3, workers: int = 1, threads: int = 4) -> Stack:
        """Start everything; workers are named worker, worker2, worker3…"""
        self.start("sim", "sim", "--port", "0", env={})
        self.sim_port = _port(listening_url(self.processes["sim"]))
        with self.engine.begin() as conn:
            # Unlimited: the stack's tests and benchmarks post as fast as they can.
            self.channel_key = registry.add_channel(
                conn,
                "web",
                "canonical",
                api_url=f"{self.sim}/channels/web",
                rate_limit_per_minute=0,
            )
            wms_key = registry.add_system(conn, "wms", "wms")
        self.start("api", "api", "--port", "0")
        self.api_port = _port(listening_url(self.processes["api"]))
        if ship_after is not None:
            shipping = {"ordersync_url": self.api, "wms_key": wms_key, "ship_after_s": ship_after}
            response = httpx.post(f"{self.sim}/_sim/shipper", json=shipping, timeout=5)
            assert response.status_code == 200, response.text
        self.start("relay", "relay")
        for number in range(1, workers + 1):
            name = "worker" if number == 1 else f"worker{number}"
            self.start(name, "worker", "--threads", str(threads))
        wait_until(lambda: self._answers(f"{self.api}/readyz"), 30, "the API")
        wait_until(lambda: self._answers(f"{self.sim}/_sim/health"), 30, "the simulators")
        # A test that injects a fault right after up() means it for running consumers: on a
        # loaded machine a worker can take longer to start than a short outage lasts.
        for name, process in self.processes.items():
            started = STARTED_LINES.get(name.rstrip("0123456789"))
            if started is not None:
                wait_until(lambda p=process, s=started: s in log_of(p), 60, f"the {name}")
        return self

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        """Start `ordersync ARGS…` as `name`, with env() (or `env`) over the environment."""
        self.processes[name] = start(
            *args,
            database_url=self.database_url,
            broker_url=self.broker_url,
            command=self.command,
            **(self.env() if env is None else env),
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

    def kill(self, name: str) -> subprocess.Popen[bytes]:
        """kill -9 one process and wait for it; returns it (its log stays readable)."""
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        return process

    def owner_of(self, peer: str) -> str | None:
        """The name of our live process that has the client end of a connection to the
        simulators from `peer` ("127.0.0.1:54321"), found through /proc (Linux)."""
        inodes = client_sockets(peer, self.sim_port)
        if not inodes:
            return None
        for name, process in self.processes.items():
            if process.poll() is None and inodes & socket_inodes(process.pid):
                return name
        return None

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

    def calls(self, system: str) -> dict[str, Any]:
        """Every call the system got, in the order received, each with its outcome."""
        return dict(httpx.get(f"{self.sim}/_sim/{system}/calls", timeout=10).json())

    def held(self, system: str) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.sim}/_sim/{system}/held", timeout=5).json()["held"])

    def release(self, system: str) -> dict[str, Any]:
        """Stop holding the system's calls and let the held ones go on."""
        response = httpx.post(f"{self.sim}/_sim/{system}/release", timeout=5)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def queues(self) -> dict[str, tuple[int, int]]:
        """Every queue of our vhost: (messages ready, messages unacknowledged)."""
        vhost = urllib.parse.unquote(urllib.parse.urlsplit(self.broker_url).path[1:]) or "/"
        columns = ["name", "messages_ready", "messages_unacknowledged"]
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "-p", vhost, *columns, "--formatter", "json"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return {
            q["name"]: (int(q["messages_ready"]), int(q["messages_unacknowledged"]))
            for q in json.loads(listed.stdout)
        }

    def queues_idle(self) -> bool:
        """No message ready or unacknowledged on any queue (delay queues included)."""
        return all(counts == (0, 0) for counts in self.queues().values())

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


def _port(url: str) -> int:
    port = urllib.parse.urlsplit(url).port
    assert port, f"no port in {url!r}"
    return port


# -- what made a call: sockets through /proc ---------------------------------------------


def _address(hex_address: str) -> tuple[str, int]:
    host, port = hex_address.rsplit(":", 1)
    if len(host) == 8:  # IPv4, little-endian
        address = socket.inet_ntop(socket.AF_INET, bytes.fromhex(host)[::-1])
    else:  # IPv6: four little-endian 32-bit words
        raw = b"".join(bytes.fromhex(host[i : i + 8])[::-1] for i in range(0, 32, 8))
        address = socket.inet_ntop(socket.AF_INET6, raw)
        address = address.removeprefix("::ffff:")
    return address, int(port, 16)


def client_sockets(peer: str, server_port: int) -> set[str]:
    """The inodes of sockets whose local end is `peer` and remote port `server_port`."""
    host, port = peer.rsplit(":", 1)
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = _address(fields[1]), _address(fields[2]), fields[9]
            if local == (host, int(port)) and remote[1] == server_port:
                found.add(inode)
    return found


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    return inodes


# -- Idempotency-Keys back to deliveries -------------------------------------------------


class Sent(NamedTuple):
    """What a call's Idempotency-Key stands for: one delivery (and the part of it)."""

    destination: str
    aggregate_type: str
    aggregate_id: str
    sequence: int
    event_id: uuid.UUID
    part: str | None  # None: the event's own key; else contact, timeline, a location
    generation: int = 0  # 0, or the reprocess replay that sent it again


def delivery_keys(engine: sa.Engine) -> dict[str, Sent]:
    """Every delivery's Idempotency-Keys, uuid5(event_id, "destination/generation") as
    outbox.envelope makes it for each generation it has had (a reprocess replay raises
    it), and the part keys derived from them → what each stands for."""
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT event_id, destination, generation, aggregate_type, aggregate_id, sequence"
                " FROM outbox_deliveries"
            )
        ).all()
        locations = list(conn.execute(sa.text("SELECT code FROM locations")).scalars())
    keys: dict[str, Sent] = {}
    for r in rows:
        parts = CRM_PARTS if r.destination == "crm" else locations if r.destination == "wms" else ()
        for generation in range(r.generation + 1):
            key = str(uuid.uuid5(r.event_id, f"{r.destination}/{generation}"))
            sent = Sent(
                r.destination,
                r.aggregate_type,
                r.aggregate_id,
                r.sequence,
                r.event_id,
                None,
                generation,
            )
            keys[key] = sent
            for part in parts:
                keys[part_key(key, part)] = sent._replace(part=part)
    return keys


def arrival_orders(stack: Stack, keys: dict[str, Sent]) -> dict[tuple[str, str], list[int]]:
    """Per (destination, aggregate): the sequences of the documents the systems applied, in
    the order they applied them, one entry per event (the parts of one event, received one
    after the other, are one entry; an event's part received after another event's is a
    second entry, so the list is no longer strictly increasing)."""
    arrived: dict[tuple[str, str], list[int]] = {}
    for system in SYSTEMS:
        for doc in stack.documents(system)["documents"]:
            sent = keys[doc["idempotency_key"]]
            sequences = arrived.setdefault((sent.destination, sent.aggregate_id), [])
            if not sequences or sequences[-1] != sent.sequence:
                sequences.append(sent.sequence)
    return arrived


def stocked(stack: Stack, skus: str = "AB", units: int = 1000, location: str = "WH-EAST") -> None:
    """`units` of each SKU on hand at `location` (an inventory adjustment through the API)."""
    adjustments = [{"sku": s, "location": location, "set_on_hand": units} for s in skus]
    response = stack.admin("POST", "/v1/inventory/adjustments", json={"adjustments": adjustments})
    assert response.status_code == 200, response.text


def place(stack: Stack, prefix: str, count: int, lines: list[tuple[str, int]]) -> list[str]:
    """`count` orders PREFIX-0… of these lines through the API; their ids."""
    from tests.factories import order_doc

    return [stack.order(order_doc(f"{prefix}-{i}", lines))["id"] for i in range(count)]
