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


async def known_destination(request: web.Request, name: str) -> str:
    """`name`, if it is a destination one can pause (404 problem otherwise)."""
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
    name = await known_destination(request, request.match_info["name"])
    body = PauseRequest.model_validate(json_body(request))
    await pause(request, name, body.reason, actor=actor)
    return json_response({"destination": name, "state": "paused", "reason": body.reason})


async def pause(request: web.Request, name: str, reason: str, *, actor: str) -> None:
    """Open the destination's breaker by hand (audited): its messages wait until a resume."""
    from actors import probe

    def work(entry: Any) -> None:
        probe.pause(request.app[ENGINE], name, reason)
        entry.detail = reason

    await run_audited(request, "destination.pause", work, actor=actor, filter={"destination": name})


async def resume_destination(request: web.Request) -> web.Response:
    actor = await operator(request)
    name = await known_destination(request, request.match_info["name"])
    released = await resume(request, name, actor=actor)
    return json_response({"destination": name, "state": "closed", "released": released})


async def resume(request: web.Request, name: str, *, actor: str) -> int:
    """Close the destination's breaker (audited) and release what waited: how many."""
    from actors import probe

    def work(entry: Any) -> int:
        released = probe.resume(request.app[ENGINE], name, reason="resumed by an operator")
        entry.counts = {"released": released}
        return released

    released: int = await run_audited(
        request, "destination.resume", work, actor=actor, filter={"destination": name}
    )
    return released
