"""/_sim: inspect what each system received and every call it got, inject faults, hold and
release calls, reset, tell the WMS where to ship back, tamper with the ERP's records, put
orders into a channel (never faulted itself)."""

from __future__ import annotations

import json
import math
import urllib.parse
from typing import Any

from aiohttp import web

from simulators import channels
from simulators.endpoint import problem
from simulators.faults import FaultSettingError
from simulators.keys import SIM, SYSTEMS, Simulator
from simulators.paging import BadQuery
from simulators.store import SystemStore
from simulators.tamper import TamperError, tamper


def _store(request: web.Request) -> SystemStore:
    name = request.match_info["system"]
    if name not in SYSTEMS:
        raise web.HTTPNotFound(text=f"unknown system {name!r}; known: {', '.join(SYSTEMS)}")
    return request.app[SIM].systems[name]


async def health(request: web.Request) -> web.Response:
    """GET /_sim/health: the simulator answers, and each system's state in brief."""
    systems = {
        name: {"up": store.faults.down_remaining() == 0, "documents": len(store.documents)}
        for name, store in request.app[SIM].systems.items()
    }
    return web.json_response({"status": "ok", "systems": systems})


async def documents(request: web.Request) -> web.Response:
    """GET /_sim/{system}/documents[?type=…&channel=…]: what the system accepted."""
    store = _store(request)
    query = request.query
    return web.json_response(store.inspect(query.get("type"), query.get("channel")))


async def calls(request: web.Request) -> web.Response:
    """GET /_sim/{system}/calls[?since=N]: every call in the order received (after call N),
    each with its outcome, and the number of calls per Idempotency-Key."""
    store = _store(request)
    since = request.query.get("since", "0")
    if not since.isdigit():
        return problem(400, "Bad Request", "since must be a call number (0 or more)")
    return web.json_response(store.calls_view(int(since)))


async def held(request: web.Request) -> web.Response:
    """GET /_sim/{system}/held: the calls waiting to be released, each with its caller's
    address and whether that caller is still connected (`client_gone`)."""
    store = _store(request)
    waiting = [h.public() for h in store.held.values()]
    return web.json_response(
        {
            "system": store.name,
            "count": len(waiting),
            "faults": store.faults.public(),
            "held": waiting,
        }
    )


async def release(request: web.Request) -> web.Response:
    """POST /_sim/{system}/release: stop holding (hold_all and hold_matching off) and let every
    held call go on; a call whose client went away is `abandoned`, the rest are served."""
    store = _store(request)
    released = [h.public() for h in store.release()]
    return web.json_response({"system": store.name, "released": len(released), "calls": released})


async def state(request: web.Request) -> web.Response:
    """GET /_sim/{system}/state: the system's own records (sales orders, contacts…)."""
    store = _store(request)
    return web.json_response({name: list(c.values()) for name, c in store.records.items()})


def _faults_view(sim: Simulator, store: SystemStore) -> dict[str, Any]:
    view: dict[str, Any] = {"system": store.name, "faults": store.faults.public()}
    if store.name == "wms":
        view["ship_after_s"] = sim.shipper.ship_after_s
        view["ship_locations"] = sim.shipper.public()["ship_locations"]
    return view


async def get_faults(request: web.Request) -> web.Response:
    """GET /_sim/{system}/faults: the current settings."""
    return web.json_response(_faults_view(request.app[SIM], _store(request)))


async def set_faults(request: web.Request) -> web.Response:
    """POST /_sim/{system}/faults: change the given settings; the WMS also takes ship_after_s
    and ship_locations (a list of location codes that ship, null: all)."""
    sim, store = request.app[SIM], _store(request)
    try:
        changes = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as error:
        return problem(400, "Bad Request", f"malformed JSON: {error}")
    if not isinstance(changes, dict):
        return problem(400, "Bad Request", "send a JSON object of settings")
    ship_after = changes.pop("ship_after_s", ...)
    ship_locations = changes.pop("ship_locations", ...)
    try:
        if ship_locations is not ...:
            ship_locations = _locations(store, ship_locations)
        if ship_after is not ...:
            if store.name != "wms":
                raise FaultSettingError("ship_after_s is a setting of the wms only")
            ship_after = _delay(ship_after)
            if ship_after is not None and not sim.shipper.can_ship:
                raise FaultSettingError(
                    "shipping needs the simulator started with an ordersync URL and a WMS key"
                )
        store.faults.update(changes)  # validates every setting before changing any
    except FaultSettingError as error:
        return problem(400, "Bad Request", str(error))
    if ship_after is not ...:
        sim.shipper.configure(ship_after)
    if ship_locations is not ...:
        sim.shipper.only_at(ship_locations)
    return web.json_response(_faults_view(sim, store))


def _locations(store: SystemStore, value: Any) -> frozenset[str] | None:
    if store.name != "wms":
        raise FaultSettingError("ship_locations is a setting of the wms only")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise FaultSettingError("ship_locations must be a list of location codes or null")
    return frozenset(value)


def _delay(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FaultSettingError(f"ship_after_s must be a number of seconds or null (got {value!r})")
    if not 0 <= value <= 3600:
        raise FaultSettingError("ship_after_s must be between 0 and 3600")
    return float(value)


async def reset(request: web.Request) -> web.Response:
    """POST /_sim/{system}/reset: forget documents, records and faults (and pending shipments)."""
    sim, store = request.app[SIM], _store(request)
    store.reset()
    if store.name == "wms":
        sim.shipper.reset()
    return web.json_response({"system": store.name, "reset": True})


async def get_shipper(request: web.Request) -> web.Response:
    """GET /_sim/shipper: where the WMS ships back to, and after how long."""
    return web.json_response(request.app[SIM].shipper.public())


async def set_shipper(request: web.Request) -> web.Response:
    """POST /_sim/shipper {"ordersync_url": "http://…", "wms_key": "…", "ship_after_s": 0.3}:
    ship back there with that key (ship_after_s: null or left out, not yet), as if the
    simulator had been started with --ordersync-url, --wms-key and --ship-after."""
    shipper = request.app[SIM].shipper
    try:
        settings = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as error:
        return problem(400, "Bad Request", f"malformed JSON: {error}")
    if not isinstance(settings, dict):
        return problem(400, "Bad Request", "send a JSON object of settings")
    unknown = set(settings) - {"ordersync_url", "wms_key", "ship_after_s"}
    url, key = settings.get("ordersync_url"), settings.get("wms_key")
    try:
        if unknown:
            raise FaultSettingError(f"unknown settings: {', '.join(sorted(unknown))}")
        if not isinstance(url, str) or not _is_http_url(url):
            raise FaultSettingError(f"ordersync_url must be an http(s) URL (got {url!r})")
        if not isinstance(key, str) or not key.strip():
            raise FaultSettingError("wms_key must be the WMS's system key")
        ship_after = _delay(settings.get("ship_after_s"))
    except FaultSettingError as error:
        return problem(400, "Bad Request", str(error))
    shipper.connect(url, key, ship_after)
    return web.json_response(shipper.public())


def _is_http_url(value: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # e.g. a port out of range
        return False


async def tamper_erp(request: web.Request) -> web.Response:
    """POST /_sim/erp/tamper: change one sales order behind ordersync's back (tamper.py)."""
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as error:
        return problem(400, "Bad Request", f"malformed JSON: {error}")
    try:
        changed = tamper(request.app[SIM].systems["erp"], body)
    except TamperError as error:
        title = "Not Found" if error.status == 404 else "Bad Request"
        return problem(error.status, title, str(error))
    return web.json_response(changed)


async def put_channel_orders(request: web.Request) -> web.Response:
    """POST /_sim/channels/{name}/orders: orders the channel holds (see channels.py), whether
    or not ordersync was ever told of them."""
    try:
        body = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError) as error:
        return problem(400, "Bad Request", f"malformed JSON: {error}")
    store = request.app[SIM].systems["channels"]
    try:
        stored = channels.put_orders(store, request.match_info["name"], body)
    except BadQuery as error:
        return problem(400, "Bad Request", str(error))
    return web.json_response(stored)
