"""/ops/outbox/stats and /ops/replays: the backlog, and replays started, followed, cancelled
and resumed over HTTP (a started one runs in a thread of this process)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from adapters.db import replays
from adapters.http.keys import ENGINE
from adapters.http.middleware import json_body
from adapters.http.problems import ProblemError
from adapters.http.threads import run
from ops import replay
from ops.ops_api.common import (
    RUNNERS,
    Destination,
    EventType,
    Id,
    Status,
    Text,
    json_response,
    operator,
    path_id,
    run_audited,
)


async def outbox_stats(request: web.Request) -> web.Response:
    await operator(request)
    from outbox.stats import backlog, relays

    def read() -> dict[str, Any]:
        with request.app[ENGINE].connect() as conn:
            return {"destinations": backlog(conn), "relays": relays(conn)}

    return json_response(await run(request, read))


class ReplayRequest(BaseModel):
    """A replay: the mode, the filters of `ordersync outbox replay` (they combine), and
    `dry_run` to see what would go."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["redeliver", "reprocess"]
    dry_run: bool = False
    rate: float | None = Field(default=None, gt=0, le=100_000)
    from_id: Id | None = None
    to_id: Id | None = None
    since: datetime | None = None
    until: datetime | None = None
    orders: list[Text] = Field(default_factory=list, max_length=10_000)
    channel: Text | None = None
    event_types: list[EventType] = Field(default_factory=list, max_length=64)
    destinations: list[Destination] = Field(default_factory=list, max_length=64)
    statuses: list[Status] = Field(default_factory=list, max_length=8)

    def replay_filter(self) -> replays.ReplayFilter:
        return replays.ReplayFilter(
            from_id=self.from_id,
            to_id=self.to_id,
            since=self.since,
            until=self.until,
            orders=tuple(self.orders),
            channel=self.channel,
            event_types=tuple(self.event_types),
            destinations=tuple(self.destinations),
            statuses=tuple(self.statuses),
        )


async def start_replay(request: web.Request) -> web.Response:
    actor = await operator(request)
    body = ReplayRequest.model_validate(json_body(request))
    if body.dry_run:
        counts = await dry_run_replay(request, body, actor=actor)
        return json_response({"mode": body.mode, "dry_run": True, **counts})
    replay_id, counts = await launch_replay(request, body, actor=actor)
    response = json_response({"replay_id": replay_id, "state": "running", **counts}, 202)
    response.headers["Location"] = f"/ops/replays/{replay_id}"
    return response


async def dry_run_replay(request: web.Request, body: ReplayRequest, *, actor: str) -> Any:
    """What the replay would take (audited as a dry run); changes nothing."""
    flt, engine = body.replay_filter(), request.app[ENGINE]

    def preview(entry: Any) -> dict[str, Any]:
        entry.counts = replay.preview(engine, body.mode, flt).counts()
        return entry.counts  # type: ignore[no-any-return]

    audit_filter = {"mode": body.mode, **flt.as_dict()}
    return await run_audited(
        request, "outbox.replay", preview, actor=actor, filter=audit_filter, dry_run=True
    )


async def launch_replay(
    request: web.Request, body: ReplayRequest, *, actor: str
) -> tuple[int, dict[str, Any]]:
    """Plan the replay (audited) and run it in a thread of this process: (its id, counts)."""
    flt, engine = body.replay_filter(), request.app[ENGINE]

    def plan(entry: Any) -> tuple[int, dict[str, Any]]:
        replay_id, selection = replay.start(
            engine, body.mode, flt, created_by=actor, rate=body.rate
        )
        entry.counts = {"replay_id": replay_id, **selection.counts()}
        return replay_id, selection.counts()

    audit_filter = {"mode": body.mode, **flt.as_dict()}
    replay_id, counts = await run_audited(
        request, "outbox.replay", plan, actor=actor, filter=audit_filter
    )
    await _run_in_background(request, replay_id)
    return replay_id, counts


async def _run_in_background(request: web.Request, replay_id: int) -> None:
    """The replay's runner in a thread of this process; a problem if it could not start."""
    engine = request.app[ENGINE]

    def start() -> None:
        request.app[RUNNERS].start(replay_id, lambda **kw: replay.run(engine, replay_id, **kw))

    try:
        await run(request, start)
    except replays.ReplayError as error:
        raise ProblemError(409, "Conflict", str(error)) from None


def _replay_id(request: web.Request) -> int:
    return path_id(request, "replay_id", "replay")


async def list_replays(request: web.Request) -> web.Response:
    await operator(request)

    def read() -> list[dict[str, Any]]:
        with request.app[ENGINE].connect() as conn:
            return replays.list_replays(conn)

    return json_response({"replays": await run(request, read)})


async def get_replay(request: web.Request) -> web.Response:
    await operator(request)
    replay_id = _replay_id(request)

    def read() -> dict[str, Any] | None:
        with request.app[ENGINE].connect() as conn:
            return replays.describe(conn, replay_id)

    found = await run(request, read)
    if found is None:
        raise ProblemError(404, "Not Found", f"no replay {replay_id}")
    return json_response(found)


async def cancel_replay(request: web.Request) -> web.Response:
    actor = await operator(request)
    replay_id = _replay_id(request)

    def cancel(entry: Any) -> dict[str, int]:
        entry.counts = replay.cancel(request.app[ENGINE], replay_id)
        return entry.counts  # type: ignore[no-any-return]

    counts = await run_audited(
        request, "outbox.replay.cancel", cancel, actor=actor, filter={"replay_id": replay_id}
    )
    return json_response({"replay_id": replay_id, "state": "cancelled", **counts})


async def resume_replay(request: web.Request) -> web.Response:
    actor = await operator(request)
    replay_id = _replay_id(request)

    def check(entry: Any) -> None:
        with request.app[ENGINE].connect() as conn:
            found = replays.get(conn, replay_id)
        if found is None or found.state not in replays.ACTIVE_STATES:
            state = "missing" if found is None else found.state
            raise replays.ReplayError(f"replay {replay_id} is {state}; there is nothing to resume")

    await run_audited(
        request, "outbox.replay.resume", check, actor=actor, filter={"replay_id": replay_id}
    )
    await _run_in_background(request, replay_id)
    return json_response({"replay_id": replay_id, "state": "running"}, 202)
