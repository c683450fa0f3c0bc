"""/ops/destinations: breakers and backlogs, pause and resume."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from adapters.http.keys import ENGINE
from adapters.http.middleware import json_body
from adapters.http.problems import ProblemError
from adapters.http.threads import run
from ops import destinations
from ops.ops_api.common import PRINTABLE, json_response, operator, run_audited


async def list_destinations(request: web.Request) -> web.Response:
    await operator(request)

    def read() -> list[dict[str, Any]]:
        with request.app[ENGINE].connect() as conn:
            return destinations.listed(conn)

    return json_response({"destinations": await run(request, read)})


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        default="paused by an operator", min_length=1, max_length=500, pattern=r"^[^\x00]+$"
    )


async def _destination(request: web.Request) -> str:
    name = request.match_info["name"]
    if not PRINTABLE.match(name):
        raise ProblemError(404, "Not Found", "no such destination")

    def known() -> bool:
        with request.app[ENGINE].connect() as conn:
            return destinations.is_known(conn, name)

    if not await run(request, known):
        raise ProblemError(404, "Not Found", destinations.unknown_message(name))
    return name


async def pause_destination(request: web.Request) -> web.Response:
    actor = await operator(request)
    name = await _destination(request)
    body = PauseRequest.model_validate(json_body(request))
    from actors.probe import pause

    def work(entry: Any) -> None:
        pause(request.app[ENGINE], name, body.reason)
        entry.detail = body.reason

    await run_audited(request, "destination.pause", work, actor=actor, filter={"destination": name})
    return json_response({"destination": name, "state": "paused", "reason": body.reason})


async def resume_destination(request: web.Request) -> web.Response:
    actor = await operator(request)
    name = await _destination(request)
    from actors.probe import resume

    def work(entry: Any) -> int:
        released = resume(request.app[ENGINE], name, reason="resumed by an operator")
        entry.counts = {"released": released}
        return released

    released = await run_audited(
        request, "destination.resume", work, actor=actor, filter={"destination": name}
    )
    return json_response({"destination": name, "state": "closed", "released": released})
