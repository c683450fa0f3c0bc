"""/v1/shipments: a downstream system reports what left a location."""

from __future__ import annotations

from aiohttp import web

from adapters.http.auth import require
from adapters.http.context import unit_of_work
from adapters.http.jsonutil import dumps
from adapters.http.middleware import json_body
from adapters.http.threads import run
from domain.commands import RecordShipment
from domain.services import retrying
from domain.shipping import record_shipment


async def post_shipment(request: web.Request) -> web.Response:
    await require(request, "system")
    cmd = RecordShipment.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    shipment, created = await run(
        request, lambda: retrying(lambda: record_shipment(new_uow(), cmd))
    )
    body = {
        "id": str(shipment.id),
        "order_id": str(shipment.order_id),
        "location": shipment.location,
        "carrier": shipment.carrier,
        "tracking_number": shipment.tracking_number,
        "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in shipment.lines],
        "created_at": shipment.created_at.isoformat(),
    }
    return web.Response(
        status=201 if created else 200, text=dumps(body), content_type="application/json"
    )
