"""The WMS ships what it receives: after `ship_after_s` it calls ordersync's POST /v1/shipments.

One task per fulfillment order, started when the order is released to the WMS.
A task sleeps, ships the order's current lines (unless it was cancelled or has
shipped), then delivers the shipment with retries (backoff with jitter, or the
server's Retry-After) under one Idempotency-Key, so a retry is not a second
shipment. Every task is cancelled on reset and on app cleanup.

Where to ship back (ordersync's URL and the WMS's key) is given at start, or later with
`connect` (POST /_sim/shipper): ordersync may be started after the simulators, on a port
only known once it has bound it. `ship_locations` (POST /_sim/wms/faults) lets only some
locations ship (the others' fulfillment orders stay released), as when one warehouse is
quicker than another: a test then holds an order shipped in part.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

import aiohttp

from simulators.store import SystemStore

log = logging.getLogger("ordersync.sim.wms")
RETRYABLE = {408, 409, 425, 429}


class Shipper:
    def __init__(
        self,
        store: SystemStore,
        *,
        ordersync_url: str | None,
        key: str | None,
        ship_after_s: float | None,
        rng: random.Random,
        carrier: str = "SIM-EXPRESS",
        # A WMS keeps trying to report a shipment: backoff capped at 10 s, for about two
        # minutes (an API whose database is away answers 503 all that time).
        max_attempts: int = 20,
        retry_base_s: float = 0.2,
    ) -> None:
        self.store, self.rng, self.carrier = store, rng, carrier
        self.url = f"{ordersync_url.rstrip('/')}/v1/shipments" if ordersync_url else None
        self.key = key
        self.default_after_s = self.ship_after_s = ship_after_s
        self.ship_locations: frozenset[str] | None = None  # None: every location ships
        self.max_attempts, self.retry_base_s = max_attempts, retry_base_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None

    @property
    def can_ship(self) -> bool:
        """Whether ordersync's URL and a key to call it with were given."""
        return bool(self.url and self.key)

    @property
    def ordersync_url(self) -> str | None:
        return self.url.removesuffix("/v1/shipments") if self.url else None

    def connect(self, ordersync_url: str, key: str, ship_after_s: float | None) -> None:
        """Ship back to `ordersync_url` with `key`, after `ship_after_s` (None: not yet), as if
        the simulator had been started with them (reset comes back to these)."""
        self.url = f"{ordersync_url.rstrip('/')}/v1/shipments"
        self.key = key
        self.default_after_s = self.ship_after_s = ship_after_s

    def public(self) -> dict[str, Any]:
        """Where and when shipments go (never the key)."""
        return {
            "ordersync_url": self.ordersync_url,
            "can_ship": self.can_ship,
            "ship_after_s": self.ship_after_s,
            "ship_locations": None if self.ship_locations is None else sorted(self.ship_locations),
            "pending": self.pending,
        }

    def configure(self, ship_after_s: float | None) -> None:
        """Ship after this many seconds from now on (None: stop shipping)."""
        if ship_after_s is not None and not self.can_ship:
            raise ValueError("shipping needs the simulator started with an ordersync URL and key")
        self.ship_after_s = ship_after_s

    def only_at(self, locations: frozenset[str] | None) -> None:
        """From now on ship only fulfillment orders at these locations (None: at all)."""
        self.ship_locations = locations

    @property
    def pending(self) -> int:
        """Shipments scheduled or in delivery."""
        return len(self._tasks)

    def schedule(self, fo_key: str) -> None:
        """Ship the fulfillment order `fo_key` later (once; a no-op while shipping is off)."""
        if self.ship_after_s is None or self._session is None or fo_key in self._tasks:
            return
        order = self.store.collection("fulfillment_orders").get(fo_key)
        if self.ship_locations is not None and (order or {}).get("location") not in (
            self.ship_locations
        ):
            return
        task = asyncio.get_running_loop().create_task(self._ship(fo_key, self.ship_after_s))
        self._tasks[fo_key] = task
        task.add_done_callback(lambda _: self._tasks.pop(fo_key, None))

    def reset(self) -> None:
        """Cancel every pending shipment; shipping goes back to the configured default."""
        for task in list(self._tasks.values()):
            task.cancel()
        self.ship_after_s = self.default_after_s
        self.ship_locations = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _ship(self, fo_key: str, after_s: float) -> None:
        await asyncio.sleep(after_s)
        order = self.store.collection("fulfillment_orders").get(fo_key)
        if order is None or order["status"] != "released":
            return  # reset, cancelled or already shipped meanwhile
        order["status"] = "shipped"  # the parcel has left; telling ordersync is separate
        quantities: dict[str, int] = {}
        for line in order["lines"]:
            quantities[line["sku"]] = quantities.get(line["sku"], 0) + line["quantity"]
        body = {
            "order_id": order["order_id"],
            "location": order["location"],
            "carrier": self.carrier,
            "tracking_number": self.store.next_number("SIMTRK"),
            "lines": [{"sku": sku, "quantity": qty} for sku, qty in quantities.items()],
        }
        record: dict[str, Any] = {
            "fulfillment_order_number": order["fulfillment_order_number"],
            "shipment": body,
            "delivery": "pending",
            "attempts": 0,
            "last_error": None,
        }
        self.store.collection("shipments")[order["fulfillment_order_number"]] = record
        await self._deliver(body, record)

    async def _deliver(self, body: dict[str, Any], record: dict[str, Any]) -> None:
        assert self._session is not None and self.url is not None
        key = str(uuid.uuid5(uuid.NAMESPACE_URL, f"ordersync-sim/wms/{body['tracking_number']}"))
        headers = {"Authorization": f"Bearer {self.key}", "Idempotency-Key": key}
        for attempt in range(1, self.max_attempts + 1):
            record["attempts"] = attempt
            delay: float | None = None
            try:
                async with self._session.post(self.url, json=body, headers=headers) as response:
                    text = await response.text()
                    if response.ok:
                        record.update(delivery="sent", status=response.status, last_error=None)
                        return
                    record["last_error"] = f"HTTP {response.status}: {text[:300]}"
                    if response.status < 500 and response.status not in RETRYABLE:
                        break
                    delay = _retry_after(response.headers.get("Retry-After"))
            except (aiohttp.ClientError, TimeoutError) as error:
                record["last_error"] = f"{type(error).__name__}: {error}"
            if attempt < self.max_attempts:
                # At least what the server asked for, and growing: a Retry-After of 1 s from
                # an API whose database is away must not use up the attempts in 20 s.
                await asyncio.sleep(max(delay or 0.0, self._backoff(attempt)))
        record["delivery"] = "failed"
        log.warning("shipment %s not delivered: %s", body["tracking_number"], record["last_error"])

    def _backoff(self, attempt: int) -> float:
        return min(10.0, self.retry_base_s * 2.0 ** (attempt - 1)) * (0.5 + self.rng.random() / 2)


def _retry_after(value: str | None) -> float | None:
    if value is None or not value.strip().isdigit():
        return None
    return min(30.0, float(value.strip()))
