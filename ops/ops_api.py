"""/ops: the operator's actions over HTTP, for the dashboard and for scripts.

Served by `ordersync api` beside the product's routes (ops.bootstrap hands them to the
HTTP app: they use tooling that lives here, in the composition root). Only the admin
token opens it (Authorization: Bearer <ORDERSYNC_ADMIN_TOKEN>); with no token
configured, /ops is closed. Every action is audited like its command (via "http"; the
actor is the admin token, and the name an `X-Operator` header gives, if any).

A replay started here runs in a thread of the API process: the answer is 202 with its id,
and GET /ops/replays/{id} follows it. If the process stops, the replay is interrupted at
its checkpoint and is resumed (here or with `ordersync outbox replay --resume ID`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from actors.systems import SYSTEMS
from adapters.db import audit, replays
from adapters.db.dead_letter_aggregate import surroundings
from adapters.db.dead_letters import ERROR_CLASSES, DeadLetterFilter, dead_letter
from adapters.db.dead_letters import list_dead_letters as dead_letter_rows
from adapters.http.auth import require
from adapters.http.jsonutil import dumps
from adapters.http.keys import CONFIG, ENGINE
from adapters.http.middleware import json_body
from adapters.http.problems import ProblemError
from adapters.http.routes import Route
from adapters.http.threads import run
from adapters.systems.errors import ExternalSystemError
from domain.events import EVENT_TYPES
from ops import dead_letters, destinations, replay
from ops.audit import Refused, audited
from ops.reconcile_channel import reconcile_channel
from ops.reconcile_system import reconcile_system
from outbox.tables import DELIVERY_STATUSES

log = logging.getLogger("ordersync.ops")
_OPERATOR = re.compile(r"^[\w .@-]{1,64}$")
BIGINT = 2**63 - 1

# What a filter may name: printable text (PostgreSQL text holds no NUL; nothing of ours
# holds a control character), a known event type, a destination's form.
Text = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
Id = Annotated[int, Field(ge=1, le=BIGINT)]


def _known_event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"unknown event type; known: {', '.join(sorted(EVENT_TYPES))}")
    return value


def _destination_form(value: str) -> str:
    if value not in SYSTEMS and not (value.startswith("channel:") and len(value) > 8):
        raise ValueError(f"a destination is one of {', '.join(SYSTEMS)} or channel:NAME")
    return value


EventType = Annotated[Text, AfterValidator(_known_event_type)]
Destination = Annotated[Text, AfterValidator(_destination_form)]


class Runners:
    """The replays this process runs in threads, stopped (interrupted) at shutdown."""

    STARTUP_S = 5.0  # how long a start waits to know the runner holds its replay

    def __init__(self) -> None:
        self.threads: dict[int, tuple[threading.Thread, threading.Event]] = {}

    def start(self, replay_id: int, run: Callable[..., object]) -> None:
        """Run `run(stop=…, running=…)` in a thread; returns once it holds the replay, or
        raises what stopped it (another process runs it, it was cancelled meanwhile)."""
        previous = self.threads.get(replay_id)
        if previous is not None and previous[0].is_alive():
            raise replays.ReplayError(f"replay {replay_id} is already running here")
        stop, running, failed = threading.Event(), threading.Event(), list[BaseException]()

        def target() -> None:
            try:
                run(stop=stop, running=running)
            except BaseException as error:  # reported to the starter, or logged
                failed.append(error)
                if running.is_set():
                    log.exception("replay %s stopped", replay_id)

        thread = threading.Thread(target=target, name=f"ordersync-replay-{replay_id}", daemon=True)
        self.threads[replay_id] = (thread, stop)
        thread.start()
        deadline = time.monotonic() + self.STARTUP_S
        while not running.is_set() and thread.is_alive() and time.monotonic() < deadline:
            running.wait(0.01)
        if failed and not running.is_set():
            raise failed[0]

    def stop_all(self, timeout: float = 10) -> None:
        for _, stop in self.threads.values():
            stop.set()
        for thread, _ in self.threads.values():
            thread.join(timeout)


RUNNERS = web.AppKey("replay_runners", Runners)


@dataclass(frozen=True)
class OpsConfig:
    """What /ops needs beyond the HTTP app's own configuration: where the downstream
    systems are (reconcile reads them) and how the product talks to them."""

    system_urls: Mapping[str, str] = field(default_factory=dict)
    client_timeout_s: float = 5.0
    outbox_notify: bool = False


OPS_CONFIG = web.AppKey("ops_config", OpsConfig)


def install(app: web.Application, config: OpsConfig) -> None:
    """What the /ops routes need on the app: their configuration, and the replay runners
    (stopped at shutdown)."""
    app[OPS_CONFIG] = config
    app[RUNNERS] = Runners()

    async def runners(app: web.Application) -> AsyncIterator[None]:
        yield
        app[RUNNERS].stop_all()

    app.cleanup_ctx.append(runners)


async def operator(request: web.Request) -> str:
    """The admin, or a problem: 403 while /ops is closed, 401 without the token."""
    if not request.app[CONFIG].admin_token:
        raise ProblemError(
            403, "Forbidden", "the /ops API is closed: set ORDERSYNC_ADMIN_TOKEN to open it"
        )
    await require(request, "admin")
    named = request.headers.get("X-Operator", "").strip()
    if named and not _OPERATOR.match(named):
        raise ProblemError(400, "Bad Request", "X-Operator must be 1 to 64 word characters")
    return f"admin token ({named})" if named else "admin token"


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(body), content_type="application/json")


async def _audited(
    request: web.Request,
    action: str,
    work: Callable[[Any], object],
    *,
    actor: str,
    filter: dict[str, Any] | None = None,
    dry_run: bool = False,
) -> Any:
    """`work(entry)` on the request thread pool, audited; a refusal is a 409 problem."""
    engine = request.app[ENGINE]

    def call() -> object:
        with audited(
            engine, action, filter=filter, dry_run=dry_run, actor=actor, via="http"
        ) as entry:
            try:
                return work(entry)
            except replays.ReplayError as error:
                raise Refused(str(error)) from None

    try:
        return await run(request, call)
    except Refused as error:
        raise ProblemError(409, "Conflict", str(error)) from None


# -- outbox ------------------------------------------------------------------------------


async def outbox_stats(request: web.Request) -> web.Response:
    await operator(request)
    from outbox.stats import backlog, relays

    def read() -> dict[str, Any]:
        with request.app[ENGINE].connect() as conn:
            return {"destinations": backlog(conn), "relays": relays(conn)}

    return _json(await run(request, read))


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
    statuses: list[Literal[DELIVERY_STATUSES]] = Field(default_factory=list, max_length=8)

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
    flt, engine = body.replay_filter(), request.app[ENGINE]
    audit_filter = {"mode": body.mode, **flt.as_dict()}
    if body.dry_run:

        def preview(entry: Any) -> dict[str, Any]:
            entry.counts = replay.preview(engine, body.mode, flt).counts()
            return entry.counts  # type: ignore[no-any-return]

        counts = await _audited(
            request, "outbox.replay", preview, actor=actor, filter=audit_filter, dry_run=True
        )
        return _json({"mode": body.mode, "dry_run": True, **counts})

    def plan(entry: Any) -> tuple[int, dict[str, Any]]:
        replay_id, selection = replay.start(
            engine, body.mode, flt, created_by=actor, rate=body.rate
        )
        entry.counts = {"replay_id": replay_id, **selection.counts()}
        return replay_id, selection.counts()

    replay_id, counts = await _audited(
        request, "outbox.replay", plan, actor=actor, filter=audit_filter
    )
    await _run_in_background(request, replay_id)
    response = _json({"replay_id": replay_id, "state": "running", **counts}, 202)
    response.headers["Location"] = f"/ops/replays/{replay_id}"
    return response


async def _run_in_background(request: web.Request, replay_id: int) -> None:
    """The replay's runner in a thread of this process; a problem if it could not start."""
    engine = request.app[ENGINE]

    def start() -> None:
        request.app[RUNNERS].start(replay_id, lambda **kw: replay.run(engine, replay_id, **kw))

    try:
        await run(request, start)
    except replays.ReplayError as error:
        raise ProblemError(409, "Conflict", str(error)) from None


def _path_id(request: web.Request, name: str, what: str) -> int:
    """A path's id, or 404: nothing that is not a positive bigint is one of ours."""
    text = request.match_info[name]
    if not text.isdigit() or not 1 <= int(text) <= BIGINT:
        raise ProblemError(404, "Not Found", f"no such {what}")
    return int(text)


def _replay_id(request: web.Request) -> int:
    return _path_id(request, "replay_id", "replay")


async def list_replays(request: web.Request) -> web.Response:
    await operator(request)

    def read() -> list[dict[str, Any]]:
        with request.app[ENGINE].connect() as conn:
            return replays.list_replays(conn)

    return _json({"replays": await run(request, read)})


async def get_replay(request: web.Request) -> web.Response:
    await operator(request)
    replay_id = _replay_id(request)

    def read() -> dict[str, Any] | None:
        with request.app[ENGINE].connect() as conn:
            return replays.describe(conn, replay_id)

    found = await run(request, read)
    if found is None:
        raise ProblemError(404, "Not Found", f"no replay {replay_id}")
    return _json(found)


async def cancel_replay(request: web.Request) -> web.Response:
    actor = await operator(request)
    replay_id = _replay_id(request)

    def cancel(entry: Any) -> dict[str, int]:
        entry.counts = replay.cancel(request.app[ENGINE], replay_id)
        return entry.counts  # type: ignore[no-any-return]

    counts = await _audited(
        request, "outbox.replay.cancel", cancel, actor=actor, filter={"replay_id": replay_id}
    )
    return _json({"replay_id": replay_id, "state": "cancelled", **counts})


async def resume_replay(request: web.Request) -> web.Response:
    actor = await operator(request)
    replay_id = _replay_id(request)

    def check(entry: Any) -> None:
        with request.app[ENGINE].connect() as conn:
            found = replays.get(conn, replay_id)
        if found is None or found.state not in replays.ACTIVE_STATES:
            state = "missing" if found is None else found.state
            raise replays.ReplayError(f"replay {replay_id} is {state}; there is nothing to resume")

    await _audited(
        request, "outbox.replay.resume", check, actor=actor, filter={"replay_id": replay_id}
    )
    await _run_in_background(request, replay_id)
    return _json({"replay_id": replay_id, "state": "running"}, 202)


# -- destinations --------------------------------------------------------------------------


async def list_destinations(request: web.Request) -> web.Response:
    await operator(request)

    def read() -> list[dict[str, Any]]:
        with request.app[ENGINE].connect() as conn:
            return destinations.listed(conn)

    return _json({"destinations": await run(request, read)})


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        default="paused by an operator", min_length=1, max_length=500, pattern=r"^[^\x00]+$"
    )


async def _destination(request: web.Request) -> str:
    name = request.match_info["name"]
    if not _PRINTABLE.match(name):
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

    await _audited(request, "destination.pause", work, actor=actor, filter={"destination": name})
    return _json({"destination": name, "state": "paused", "reason": body.reason})


async def resume_destination(request: web.Request) -> web.Response:
    actor = await operator(request)
    name = await _destination(request)
    from actors.probe import resume

    def work(entry: Any) -> int:
        released = resume(request.app[ENGINE], name, reason="resumed by an operator")
        entry.counts = {"released": released}
        return released

    released = await _audited(
        request, "destination.resume", work, actor=actor, filter={"destination": name}
    )
    return _json({"destination": name, "state": "closed", "released": released})


# -- dead letters ---------------------------------------------------------------------------


class DeadLetterSelection(BaseModel):
    """Which dead letters: `ids`, or the filters of `ordersync dlq list`, or `all`."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Id] = Field(default_factory=list, max_length=10_000)
    all: bool = False
    destinations: list[Destination] = Field(default_factory=list, max_length=64)
    error_classes: list[Text] = Field(default_factory=list, max_length=8)
    orders: list[Text] = Field(default_factory=list, max_length=10_000)
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = False

    def where(self) -> DeadLetterFilter | None:
        chosen = [bool(self.ids), self.all, bool(self.filtered())]
        if sum(chosen) != 1:
            raise ProblemError(
                422, "Unprocessable Content", "give exactly one of ids, a filter, or all: true"
            )
        unknown = set(self.error_classes) - set(ERROR_CLASSES)
        if unknown:
            known = ", ".join(ERROR_CLASSES)
            raise ProblemError(
                422, "Unprocessable Content", f"unknown error class(es) {sorted(unknown)}: {known}"
            )
        return None if self.ids else DeadLetterFilter(**self.filtered())

    def filtered(self) -> dict[str, Any]:
        given = {
            "destinations": tuple(self.destinations),
            "error_classes": tuple(self.error_classes),
            "aggregate_ids": tuple(self.orders),
            "since": self.since,
            "until": self.until,
        }
        return {k: v for k, v in given.items() if v}


class PurgeRequest(DeadLetterSelection):
    reason: str = Field(min_length=1, max_length=500, pattern=r"^[^\x00]+$")


def _dead_letter_filter(request: web.Request) -> DeadLetterFilter:
    q = request.query
    classes = tuple(q.getall("error_class", []))
    if set(classes) - set(ERROR_CLASSES):
        raise ProblemError(400, "Bad Request", f"error_class is one of {', '.join(ERROR_CLASSES)}")
    return DeadLetterFilter(
        destinations=_texts(request, "destination"),
        error_classes=classes,
        aggregate_ids=_texts(request, "order"),
        include_resolved=_flag(request, "include_resolved"),
    )


def _flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false")
    if value not in ("true", "false"):
        raise ProblemError(400, "Bad Request", f"{name} is true or false")
    return value == "true"


_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


def _texts(request: web.Request, name: str) -> tuple[str, ...]:
    values = tuple(request.query.getall(name, []))
    if not all(_PRINTABLE.match(v) for v in values):
        raise ProblemError(400, "Bad Request", f"{name} must be 1 to 128 printable characters")
    return values


async def list_dead_letters(request: web.Request) -> web.Response:
    await operator(request)
    where = _dead_letter_filter(request)

    def read() -> list[dict[str, Any]]:
        with request.app[ENGINE].connect() as conn:
            return dead_letter_rows(conn, where)

    return _json({"dead_letters": await run(request, read)})


async def get_dead_letter(request: web.Request) -> web.Response:
    await operator(request)
    letter_id = _path_id(request, "dead_letter_id", "dead letter")

    def read() -> dict[str, Any] | None:
        with request.app[ENGINE].connect() as conn:
            letter = dead_letter(conn, letter_id)
            return None if letter is None else {**letter, **surroundings(conn, letter)}

    found = await run(request, read)
    if found is None:
        raise ProblemError(404, "Not Found", f"no dead letter with id {letter_id}")
    return _json(found)


async def _act_on_dead_letters(
    request: web.Request, body: DeadLetterSelection, action: str, verb: str
) -> web.Response:
    actor = await operator(request)
    where, engine = body.where(), request.app[ENGINE]

    def work(entry: Any) -> dict[str, Any]:
        with engine.connect() as conn:
            letters = dead_letters.select(conn, body.ids, where)
        if body.dry_run:
            entry.counts = {"selected": len(letters)}
            return {"dry_run": True, "selected": [letter["id"] for letter in letters]}
        if isinstance(body, PurgeRequest):
            report = dead_letters.purge(engine, letters, body.reason)
            entry.detail = body.reason
        else:
            report = dead_letters.requeue(engine, letters)
        entry.counts = report.counts(verb)
        outcomes = [{"id": r.id, "outcome": r.outcome} for r in report.results]
        return {**entry.counts, "results": outcomes}

    audit_filter = {"ids": body.ids, "all": body.all, **body.filtered()}
    done = await _audited(
        request, action, work, actor=actor, filter=audit_filter, dry_run=body.dry_run
    )
    return _json(done)


async def requeue_dead_letters(request: web.Request) -> web.Response:
    body = DeadLetterSelection.model_validate(json_body(request))
    return await _act_on_dead_letters(request, body, "dlq.requeue", dead_letters.REQUEUED)


async def purge_dead_letters(request: web.Request) -> web.Response:
    body = PurgeRequest.model_validate(json_body(request))
    return await _act_on_dead_letters(request, body, "dlq.purge", dead_letters.PURGED)


# -- reconcile ------------------------------------------------------------------------------


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
        return _json(await run(request, work))
    except Refused as error:
        raise ProblemError(409, "Conflict", str(error)) from None
    except ExternalSystemError as error:
        raise ProblemError(502, "Bad Gateway", f"cannot read the other side: {error}") from None


# -- audit ----------------------------------------------------------------------------------


async def list_audit(request: web.Request) -> web.Response:
    await operator(request)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 10_000:
        raise ProblemError(400, "Bad Request", "limit must be an integer from 1 to 10000")
    (action,) = _texts(request, "action") or (None,)

    def read() -> list[dict[str, Any]]:
        with request.app[ENGINE].connect() as conn:
            return audit.list_audit(conn, action=action, limit=limit)

    return _json({"entries": await run(request, read)})


_LIST = {"type": "object", "additionalProperties": True}
_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}
_ACTION = {"name": "action", "in": "query", "schema": {"type": "string"}}
_DEAD_LETTER_QUERY = tuple(
    {"name": name, "in": "query", "schema": schema}
    for name, schema in (
        ("destination", {"type": "string"}),
        ("error_class", {"type": "string", "enum": list(ERROR_CLASSES)}),
        ("order", {"type": "string"}),
        ("include_resolved", {"type": "string", "enum": ["true", "false"]}),
    )
)


def _admin(
    method: str,
    path: str,
    handler: Callable[[web.Request], Any],
    summary: str,
    body: type[BaseModel] | None = None,
    ok: int = 200,
    query: tuple[dict[str, Any], ...] = (),
    problems: tuple[tuple[str, str], ...] = (),
) -> Route:
    """An /ops route: admin only, a JSON object back (its component named after the
    handler: list_replays → ListReplays)."""
    component = "".join(part.title() for part in handler.__name__.split("_"))
    return Route(
        method, path, handler, summary, "admin", body, ok, (component, _LIST), query, problems
    )


ROUTES: tuple[Route, ...] = (
    _admin("GET", "/ops/outbox/stats", outbox_stats, "Outbox backlog and relays"),
    _admin("POST", "/ops/replays", start_replay, "Start or dry-run a replay", ReplayRequest, 202),
    _admin("GET", "/ops/replays", list_replays, "Replays, newest first"),
    _admin("GET", "/ops/replays/{replay_id}", get_replay, "One replay"),
    _admin("POST", "/ops/replays/{replay_id}/cancel", cancel_replay, "Cancel a replay"),
    _admin("POST", "/ops/replays/{replay_id}/resume", resume_replay, "Resume one", ok=202),
    _admin("GET", "/ops/destinations", list_destinations, "Destinations and their breakers"),
    _admin("POST", "/ops/destinations/{name}/pause", pause_destination, "Pause", PauseRequest),
    _admin("POST", "/ops/destinations/{name}/resume", resume_destination, "Resume"),
    _admin("GET", "/ops/dead-letters", list_dead_letters, "Dead letters", query=_DEAD_LETTER_QUERY),
    _admin("GET", "/ops/dead-letters/{dead_letter_id}", get_dead_letter, "One dead letter"),
    _admin(
        "POST",
        "/ops/dead-letters/requeue",
        requeue_dead_letters,
        "Requeue dead letters (ids, a filter, or all)",
        DeadLetterSelection,
    ),
    _admin(
        "POST", "/ops/dead-letters/purge", purge_dead_letters, "Purge, with a reason", PurgeRequest
    ),
    _admin(
        "POST",
        "/ops/reconcile",
        reconcile,
        "Reconcile with a system or a channel",
        ReconcileRequest,
        problems=(("502", "The system or the channel could not be read; nothing changed"),),
    ),
    _admin(
        "GET", "/ops/audit", list_audit, "The audit trail, newest first", query=(_LIMIT, _ACTION)
    ),
)
