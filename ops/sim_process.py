"""`ordersync sim`: the fake ERP, WMS, CRM and channel back-ends on one port."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ops import listening
from simulators.app import init_sim_app
from simulators.keys import SYSTEMS as SIMULATED

log = logging.getLogger("ordersync.sim")


def run_sim(
    host: str,
    port: int,
    *,
    ordersync_url: str | None = None,
    keys: Mapping[str, str] | None = None,
    ship_after_s: float | None = None,
) -> None:
    """Serve the simulators until interrupted; they call back (the WMS ships) when the URL,
    the keys (by the simulators' option names, actors.systems) and ship_after_s are given,
    or once told where to (POST /_sim/shipper). Port 0: a port the kernel picks, logged."""
    sockets = listening.bind(host, port)
    options: dict[str, Any] = {**(keys or {}), "ship_after_s": ship_after_s}
    app = init_sim_app(ordersync_url=ordersync_url, **options)
    shipping = (
        f", shipping back to {ordersync_url} after {ship_after_s:g}s"
        if ship_after_s is not None
        else ""
    )
    log.info("simulators: %s%s", ", ".join(SIMULATED), shipping)
    try:
        listening.serve(app, sockets, log=log, what="simulators", access_log=None)
    finally:
        for sock in sockets:
            sock.close()
