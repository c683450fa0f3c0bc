"""What every /ops route shares: who may call, validated names, the audited run of an
action, the replay runners and the /ops configuration."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, Field

from actors.systems import SYSTEMS
from adapters.db import replays
from adapters.http.auth import require
from adapters.http.jsonutil import dumps
from adapters.http.keys import CONFIG, ENGINE
from adapters.http.problems import ProblemError
from adapters.http.threads import run
from domain.events import EVENT_TYPES
from ops.audit import Refused, audited
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


def _delivery_status(value: str) -> str:
    if value not in DELIVERY_STATUSES:
        raise ValueError(f"a ledger status is one of {', '.join(DELIVERY_STATUSES)}")
    return value


EventType = Annotated[Text, AfterValidator(_known_event_type)]
Status = Annotated[str, AfterValidator(_delivery_status)]
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


def json_response(body: object, status: int = 200) -> web.Response:
    return web.Response(status=status, text=dumps(body), content_type="application/json")


async def run_audited(
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


def path_id(request: web.Request, name: str, what: str) -> int:
    """A path's id, or 404: nothing that is not a positive bigint is one of ours."""
    text = request.match_info[name]
    # isdigit() alone takes "³" and other digits int() refuses: ASCII only.
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= BIGINT:
        raise ProblemError(404, "Not Found", f"no such {what}")
    return int(text)


def query_flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "false")
    if value not in ("true", "false"):
        raise ProblemError(400, "Bad Request", f"{name} is true or false")
    return value == "true"


PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


def query_texts(request: web.Request, name: str) -> tuple[str, ...]:
    values = tuple(request.query.getall(name, []))
    if not all(PRINTABLE.match(v) for v in values):
        raise ProblemError(400, "Bad Request", f"{name} must be 1 to 128 printable characters")
    return values
