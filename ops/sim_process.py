"""`ordersync sim`: the fake ERP, WMS, CRM and channel back-ends on one port."""

from __future__ import annotations

import logging

from ops import listening
from simulators.app import init_sim_app

log = logging.getLogger("ordersync.sim")


def run_sim(
    host: str,
    port: int,
    *,
    ordersync_url: str | None = None,
    wms_key: str | None = None,
    ship_after_s: float | None = None,
) -> None:
    """Serve the simulators until interrupted; the WMS ships back when all three are given
    (or once told where to, POST /_sim/shipper). Port 0: a port the kernel picks, logged."""
    sockets = listening.bind(host, port)
    app = init_sim_app(ordersync_url=ordersync_url, wms_key=wms_key, ship_after_s=ship_after_s)
    shipping = (
        f", shipping back to {ordersync_url} after {ship_after_s:g}s"
        if ship_after_s is not None
        else ""
    )
    log.info("simulators: erp, wms, crm, channels%s", shipping)
    try:
        listening.serve(app, sockets, log=log, what="simulators", access_log=None)
    finally:
        for sock in sockets:
            sock.close()
