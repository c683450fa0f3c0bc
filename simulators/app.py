"""One aiohttp application with the fake ERP, WMS, CRM and channel back-ends.

Back-ends: /erp, /wms, /crm and /channels/{name}; every POST needs an
Idempotency-Key; the read APIs (the ERP's sales orders, a channel's orders) are paged.
Inspection (documents, the call log, held calls), faults, holds and releases, where the
WMS ships back to, the ERP's tampering and a channel's orders: /_sim (see control.py).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

from aiohttp import web

from simulators import (
    channels,
    control,
    crm,
    erp,
    erp_books,
    erp_changes,
    erp_reads,
    shopify_api,
    square_api,
    wms,
    woocommerce_api,
)
from simulators.amazon_api import add_routes as add_amazon_routes
from simulators.endpoint import Handler, backend_get, backend_health, backend_post, problem
from simulators.keys import SIM, SYSTEMS, Simulator
from simulators.shipper import Shipper
from simulators.store import SystemStore

# (path, system, document type, apply): one line per back-end POST.
BACKEND_POSTS = (
    ("/erp/sales-orders", "erp", "sales_order", erp.sales_order),
    ("/erp/invoices", "erp", "invoice", erp.invoice),
    ("/erp/payments", "erp", "payment", erp_books.payment),
    ("/erp/credit-memos", "erp", "credit_memo", erp_books.credit_memo),
    ("/erp/sales-orders/amendments", "erp", "sales_order_amendment", erp_changes.amendment),
    (
        "/erp/sales-orders/cancellations",
        "erp",
        "sales_order_cancellation",
        erp_changes.cancellation,
    ),
    ("/wms/fulfillment-orders", "wms", "fulfillment_order", wms.fulfillment_order),
    ("/wms/fulfillment-orders/cancellations", "wms", "cancellation", wms.cancellation),
    ("/wms/backorders", "wms", "backorder", wms.backorder),
    ("/wms/returns", "wms", "expected_return", wms.expected_return),
    ("/crm/contacts", "crm", "contact", crm.contact),
    ("/crm/timeline", "crm", "timeline_entry", crm.timeline),
    ("/channels/{name}/order-status", "channels", "order_status", channels.order_status),
    ("/channels/{name}/inventory", "channels", "inventory", channels.stock),
    ("/channels/{name}/refunds", "channels", "refund", channels.refund),
    ("/channels/{name}/returns", "channels", "return", channels.return_update),
)
# (path, system, read): one line per back-end read API.
BACKEND_GETS = (
    ("/erp/sales-orders", "erp", erp_reads.sales_orders),
    ("/channels/{name}/orders", "channels", channels.orders),
)
HEALTH = (
    ("/erp/health", "erp"),
    ("/wms/health", "wms"),
    ("/crm/health", "crm"),
    ("/channels/{name}/health", "channels"),
)


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own errors (404, 405, 413…) as problem+json too."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        detail = (
            error.text if error.text and error.text != f"{error.status}: {error.reason}" else ""
        )
        return problem(error.status, error.reason, detail or error.reason)


def init_sim_app(
    *,
    ordersync_url: str | None = None,
    wms_key: str | None = None,
    ship_after_s: float | None = None,
    seed: int | None = None,
    carrier: str = "SIM-EXPRESS",
    ship_retry_base_s: float = 0.2,
) -> web.Application:
    """The simulators; with ordersync_url, wms_key and ship_after_s the WMS ships back."""
    if (ordersync_url is None) != (wms_key is None):
        raise ValueError("give both ordersync_url and wms_key (the WMS calls ordersync back)")
    if ship_after_s is not None and (ship_after_s < 0 or ordersync_url is None):
        raise ValueError("ship_after_s needs ordersync_url and wms_key, and must be >= 0")
    rng = random.Random(seed)
    systems = {name: SystemStore(name) for name in SYSTEMS}
    shipper = Shipper(
        systems["wms"],
        ordersync_url=ordersync_url,
        key=wms_key,
        ship_after_s=ship_after_s,
        rng=rng,
        carrier=carrier,
        retry_base_s=ship_retry_base_s,
    )
    app = web.Application(middlewares=[problems])
    app[SIM] = Simulator(systems, rng, shipper)
    for path, system, doc_type, apply in BACKEND_POSTS:
        app.router.add_post(path, backend_post(system, doc_type, apply))
    for method, path, doc_type, apply in woocommerce_api.ROUTES:
        app.router.add_route(method, path, backend_post("channels", doc_type, apply))
    app.router.add_get(woocommerce_api.PRODUCTS, woocommerce_api.products)
    app.router.add_post("/_sim/channels/{name}/wc-products", woocommerce_api.put_products)
    for path, system, read in BACKEND_GETS:
        app.router.add_get(path, backend_get(system, read))
    for path, system in HEALTH:
        app.router.add_get(path, backend_health(system))
    add_amazon_routes(app)
    for method, path, handler in square_api.ROUTES:
        app.router.add_route(method, path, handler)
    shopify_api.add_routes(app)
    app.router.add_post("/_sim/erp/tamper", control.tamper_erp)
    app.router.add_post("/_sim/channels/{name}/orders", control.put_channel_orders)
    app.router.add_get("/_sim/health", control.health)
    app.router.add_get("/_sim/shipper", control.get_shipper)
    app.router.add_post("/_sim/shipper", control.set_shipper)
    app.router.add_get("/_sim/{system}/documents", control.documents)
    app.router.add_get("/_sim/{system}/calls", control.calls)
    app.router.add_get("/_sim/{system}/held", control.held)
    app.router.add_post("/_sim/{system}/release", control.release)
    app.router.add_get("/_sim/{system}/state", control.state)
    app.router.add_get("/_sim/{system}/faults", control.get_faults)
    app.router.add_post("/_sim/{system}/faults", control.set_faults)
    app.router.add_post("/_sim/{system}/reset", control.reset)

    async def shipping(app: web.Application) -> AsyncIterator[None]:
        await shipper.start()
        yield
        await shipper.stop()

    async def release_held(app: web.Application) -> None:
        # A held call would keep the server from shutting down until its timeout.
        for store in app[SIM].systems.values():
            store.release()

    app.cleanup_ctx.append(shipping)
    app.on_shutdown.append(release_held)
    return app
