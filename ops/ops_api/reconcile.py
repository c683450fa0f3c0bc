"""/ops/reconcile: as `ordersync reconcile`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from actors.systems import SYSTEMS
from adapters.http.keys import CONFIG, ENGINE
from adapters.http.middleware import json_body
from adapters.http.problems import ProblemError
from adapters.http.threads import run
from adapters.secretbox import SecretBox
from adapters.systems.errors import ExternalSystemError
from ops.audit import Refused
from ops.ops_api.common import OPS_CONFIG, Text, json_response, operator
from ops.reconcile_channel import reconcile_channel
from ops.reconcile_system import reconcile_system


class ReconcileRequest(BaseModel):
    """As `ordersync reconcile`: one of `system` (with `repair`) or `channel`."""

    model_config = ConfigDict(extra="forbid")

    system: Text | None = None
    channel: Text | None = None
    since: datetime | None = None
    repair: bool = False


async def reconcile(request: web.Request) -> web.Response:
    """Compare with a system (and repair) or ingest a channel's missing orders; 200 with
    the report (`clean` false: discrepancies), 409 refused, 502 a side unreadable."""
    actor = await operator(request)
    body = ReconcileRequest.model_validate(json_body(request))
    unprocessable = "Unprocessable Content"
    if (body.system is None) == (body.channel is None):
        raise ProblemError(422, unprocessable, "give one of system or channel")
    if body.repair and body.channel is not None:
        raise ProblemError(422, unprocessable, "repair goes with system")
    reconcilable = [s.name for s in SYSTEMS.values() if s.reconciliation is not None]
    if body.system is not None and body.system not in reconcilable:
        raise ProblemError(422, unprocessable, f"system is one of {', '.join(reconcilable)}")
    engine, config = request.app[ENGINE], request.app[OPS_CONFIG]

    def work() -> dict[str, Any]:
        if body.channel is not None:
            return reconcile_channel(
                engine,
                body.channel,
                since=body.since,
                notify=config.outbox_notify,
                read_timeout_s=config.client_timeout_s,
                actor=actor,
                via="http",
                secret_box=SecretBox(request.app[CONFIG].secret_key),
            ).as_json()
        system = SYSTEMS[str(body.system)]
        url = config.system_urls.get(system.name)
        if url is None:
            raise Refused(f"no URL for {system.name}: set ORDERSYNC_{system.name.upper()}_URL")
        client = system.client(url, system=system.name, read_timeout_s=config.client_timeout_s)
        with client:
            report = reconcile_system(
                engine,
                system,
                client,
                since=body.since,
                repair=body.repair,
                actor=actor,
                via="http",
            )
        return report.as_json()

    try:
        return json_response(await run(request, work))
    except Refused as error:
        raise ProblemError(409, "Conflict", str(error)) from None
    except ExternalSystemError as error:
        raise ProblemError(502, "Bad Gateway", f"cannot read the other side: {error}") from None
