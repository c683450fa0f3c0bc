"""The channels' own doors: POST /v1/webhooks/{kind} and /v1/webhooks/{kind}/{channel}.

What every kind shares (a kind brings its `Webhook`: adapters/channels/webhook.py):

1. The raw bytes, whatever the Content-Type, with the body middleware's byte limit (413)
   and read deadline (408). A kind without a door of its own is a 404.
2. A ping (WooCommerce's `webhook_id=N`) is answered 200 and writes nothing.
3. The channel: the named door's, if it is an active channel of the kind; the bare door's
   by the kind's identifying header against each channel's --shop-domain (scheme, case
   and trailing slashes aside); where the header is missing or matches none, every active
   channel of the kind is a candidate. The first candidate whose credentials verify the
   signature — over the exact raw bytes, in constant time, before anything is parsed —
   is the channel. None: 401, nothing written. An unknown or disabled channel at the named
   door is the same 401 as a bad signature, so channel names cannot be probed.
4. Its receipt (delivery identity and topic); a verified request that cannot be read that
   far is stored all the same, parked, under a delivery id from its body's sha256 (a
   resend of the same bytes dedups).
5. The inbox row (adapters/db/inbound.py): 202 {"status": "received", "delivery": id};
   a redelivery or a parallel copy: 200 {"status": "duplicate", "delivery": <the stored
   row's id>}. Whatever happens next, that is the answer: the applying runs after it, on
   a small pool of its own (adapters/inbox.py) — never ahead of the next request's store
   in the request pool — with at most MAX_PENDING_APPLIES waiting; beyond that a row
   waits `received` for the sweeper, which also picks up what a crash left behind. A
   door is never answered 429: it acknowledges and queues.

The channels' verification material is read once per `key_cache_ttl_s` per kind and
process (secrets decrypted once, not per request); a request that verifies with none of
them reads it again first if it is older than REFRESH_AFTER_S, so a channel just added or
rotated works within seconds, while a stream of bad signatures costs one read per
REFRESH_AFTER_S at most.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from adapters.channels import CHANNELS
from adapters.channels.webhook import (
    Credentials,
    InboundRequest,
    InvalidDelivery,
    Receipt,
    Webhook,
    domain_of,
)
from adapters.db import inbound
from adapters.db.channel_credentials import channel_credentials
from adapters.http.context import trace_context
from adapters.http.keys import (
    BODY,
    CALLER,
    CONFIG,
    DOOR_OUTCOME,
    ENGINE,
    HOLD_RULES,
    ROUTING,
)
from adapters.http.keys import (
    CHANNELS as ACTIVE_CHANNELS,
)
from adapters.http.problems import ProblemError
from adapters.http.responses import json_response
from adapters.http.threads import run
from adapters.inbox import ChannelClients, Inbox
from adapters.secretbox import SecretBox

log = logging.getLogger("ordersync.webhooks")
REFRESH_AFTER_S = 2.0
UNREADABLE_TOPIC = "(unreadable)"

RECEIPT_SCHEMA = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"type": "string", "enum": ["received", "parked", "duplicate", "ping"]},
        "delivery": {"type": "integer", "description": "the inbox row (ordersync inbound list)"},
    },
}
DOOR_PROBLEMS = (
    ("401", "Missing or invalid signature (or no such channel of the kind): nothing written"),
    ("404", "No such channel kind, or the kind has no door of its own"),
    ("408", "The body arrived too slowly"),
    ("413", "Body too large"),
    ("503", "The database is unavailable; the channel retries"),
)
BODY_TYPES = ("application/json", "application/x-www-form-urlencoded")


@dataclass
class _Loaded:
    at: float
    credentials: list[Credentials]


@dataclass
class CredentialCache:
    """The active channels of each kind with what verifies them, decrypted, per process."""

    box: SecretBox
    ttl: float
    _kinds: dict[str, _Loaded] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cached(self, kind: str) -> _Loaded | None:
        with self._lock:
            hit = self._kinds.get(kind)
        return hit if hit is not None and time.monotonic() - hit.at <= self.ttl else None

    def stale_enough(self, kind: str) -> bool:
        """Whether a failed verification may read the channels again."""
        with self._lock:
            hit = self._kinds.get(kind)
        return hit is None or time.monotonic() - hit.at > REFRESH_AFTER_S

    def load(self, engine: sa.Engine, kind: str) -> list[Credentials]:
        with engine.connect() as conn:
            loaded = channel_credentials(conn, self.box, kind=kind)
        with self._lock:
            self._kinds[kind] = _Loaded(time.monotonic(), loaded)
        return loaded


CREDENTIALS = web.AppKey("webhook_credentials", CredentialCache)
INBOX = web.AppKey("inbox", Inbox)
CLIENTS = web.AppKey("inbound_clients", ChannelClients)
TASKS = web.AppKey("inbound_tasks", set)
APPLIER = web.AppKey("inbound_applier", ThreadPoolExecutor)
# Applying is CPU in this process (interpreting, placing the order): two threads keep a
# core busy while one waits on PostgreSQL. A burst beyond the bound is not held in memory.
APPLY_THREADS = 2
MAX_PENDING_APPLIES = 256


def install(app: web.Application) -> None:
    """The doors' state on the app, and the applier's lifecycle: pending applies awaited
    and the sweeper stopped at shutdown (before the thread pool is; so install after it)."""
    config = app[CONFIG]
    box = SecretBox(config.secret_key)
    app[CREDENTIALS] = CredentialCache(box, config.key_cache_ttl_s)
    app[CLIENTS] = ChannelClients(app[ENGINE], box)
    app[INBOX] = Inbox(
        app[ENGINE],
        app[ROUTING],
        app[CLIENTS],
        channels=app[ACTIVE_CHANNELS],
        hold_rules=app[HOLD_RULES],
        notify=config.outbox_notify,
    )
    app[TASKS] = set()
    app[BACKLOG] = Backlog()
    app[APPLIER] = ThreadPoolExecutor(APPLY_THREADS, thread_name_prefix="ordersync-inbox")

    async def applier(app: web.Application) -> AsyncIterator[None]:
        sweeper = None
        if config.inbound_sweep_s:
            sweeper = asyncio.create_task(_sweep(app, config.inbound_sweep_s))
        yield
        if sweeper is not None:
            sweeper.cancel()
            await asyncio.gather(sweeper, return_exceptions=True)
        if app[TASKS]:
            await asyncio.gather(*app[TASKS], return_exceptions=True)
        app[APPLIER].shutdown(wait=True)
        app[CLIENTS].close()

    app.cleanup_ctx.append(applier)


async def _sweep(app: web.Application, every_s: float) -> None:
    """Rows left `received` longer than inbound_sweep_after_s, applied (FOR UPDATE SKIP
    LOCKED in the apply: several API processes share them)."""
    loop, after = asyncio.get_running_loop(), app[CONFIG].inbound_sweep_after_s
    while True:
        await asyncio.sleep(every_s)
        try:
            await loop.run_in_executor(app[APPLIER], app[INBOX].sweep, after)
        except Exception:  # the database away, say: the next round tries again
            log.exception("inbound sweep failed")


@dataclass
class Backlog:
    """Whether the door left deliveries to wait (past MAX_PENDING_APPLIES) since the
    applier last caught up."""

    overflowed: bool = False


BACKLOG = web.AppKey("inbound_backlog", Backlog)


def schedule(app: web.Application, delivery: int) -> None:
    """Apply a stored delivery after the answer, on the applier's pool; past the bound,
    leave it `received`: once the pool has drained, it takes those rows itself (oldest
    first) rather than leave them to the sweeper's next round."""
    if len(app[TASKS]) >= MAX_PENDING_APPLIES:
        app[BACKLOG].overflowed = True
        return
    _submit(app, app[INBOX].apply, delivery)


def _submit(app: web.Application, work: Callable[..., Any], *args: Any) -> None:
    future = asyncio.get_running_loop().run_in_executor(app[APPLIER], work, *args)
    app[TASKS].add(future)
    future.add_done_callback(lambda done: _done(app, done))


def _done(app: web.Application, future: asyncio.Future[Any]) -> None:
    app[TASKS].discard(future)
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("applying inbound deliveries failed: %s", error)  # the sweeper retries
    backlog = app[BACKLOG]
    if backlog.overflowed and not app[TASKS] and not future.cancelled():
        backlog.overflowed = False
        _submit(app, _catch_up, app)


def _catch_up(app: web.Application) -> None:
    """The rows left `received`, a bounded batch at a time (on the applier's pool)."""
    tried = app[INBOX].sweep(0.0, MAX_PENDING_APPLIES)
    if tried == MAX_PENDING_APPLIES:  # more may wait: the next drain takes them
        app[BACKLOG].overflowed = True


async def post_webhook(request: web.Request) -> web.Response:
    """POST /v1/webhooks/{kind}: the channel found by its header or its signature."""
    return await _door(request, None)


async def post_channel_webhook(request: web.Request) -> web.Response:
    """POST /v1/webhooks/{kind}/{channel}: the channel named."""
    return await _door(request, request.match_info["channel"])


async def _door(request: web.Request, named: str | None) -> web.Response:
    kind = CHANNELS.get(request.match_info["kind"])
    if kind is None or kind.webhook is None:
        raise ProblemError(404, "Not Found", "no webhook door for this channel kind")
    webhook = kind.webhook
    raw = request.get(BODY) or b""
    arrived = InboundRequest(raw, request.headers, request.content_type)
    if webhook.ping(arrived):
        request[DOOR_OUTCOME] = "ping"
        return json_response({"status": "ping"})
    credentials, verification = await _verified(request, kind.name, webhook, arrived, named)
    request[CALLER] = f"channel:{credentials.channel}"
    try:
        receipt, state, error = webhook.receipt(arrived), "received", None
    except Exception as unreadable:  # InvalidDelivery, or a bug in the kind: parked, not a 500
        if not isinstance(unreadable, InvalidDelivery):
            log.exception("%s: reading a verified delivery's receipt failed", kind.name)
        digest = hashlib.sha256(raw).hexdigest()
        receipt = Receipt(f"sha256:{digest}", UNREADABLE_TOPIC)
        state, error = "parked", _described(unreadable)

    # Taken now, in the request's span: the apply runs after the answer, and its order and
    # events carry the door's correlation id and trace.
    context = trace_context(request)

    def store() -> tuple[int, bool]:
        with request.app[ENGINE].begin() as conn:
            return inbound.store(
                conn,
                channel=credentials.channel,
                kind=kind.name,
                delivery_id=receipt.delivery_id,
                topic=receipt.topic,
                headers=request.headers,
                body=raw,
                verification=verification,
                state=state,
                error=error,
                context=context,
            )

    row, new = await run(request, store)
    request[DOOR_OUTCOME] = state if new else "duplicate"
    if not new:
        return json_response({"status": "duplicate", "delivery": row})
    if state == "received":
        schedule(request.app, row)
    return json_response({"status": state, "delivery": row}, 202)


async def _verified(
    request: web.Request,
    kind: str,
    webhook: Webhook,
    arrived: InboundRequest,
    named: str | None,
) -> tuple[Credentials, str]:
    """The channel whose credentials verify the request, and how (401 otherwise)."""
    cache, engine = request.app[CREDENTIALS], request.app[ENGINE]
    loaded = cache.cached(kind)
    known = (
        loaded.credentials if loaded is not None else await run(request, cache.load, engine, kind)
    )
    for attempt in range(2):
        for credentials in _candidates(known, webhook, arrived, named):
            verification = webhook.verify(arrived, credentials)
            if verification:
                return credentials, verification
        if attempt or not cache.stale_enough(kind):
            break
        known = await run(request, cache.load, engine, kind)
    raise ProblemError(401, "Unauthorized", "the request's signature does not verify")


def _described(error: Exception) -> str:
    if isinstance(error, InvalidDelivery):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _candidates(
    known: Sequence[Credentials], webhook: Webhook, arrived: InboundRequest, named: str | None
) -> list[Credentials]:
    if named is not None:
        return [c for c in known if c.channel == named]
    identified = webhook.identify(arrived)
    if identified:
        domain = domain_of(identified)
        matching = [c for c in known if c.shop_domain and domain_of(c.shop_domain) == domain]
        if matching:
            return matching
    return list(known)
