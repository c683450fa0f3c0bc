"""The request pipeline every simulated back-end POST goes through.

In order: the call is logged (see store.py), held while a hold matches it
(hold_all, hold_matching: it waits for POST /_sim/{system}/release), the outage
(503 + Retry-After), the latency (a client that gave up meanwhile gets nothing
recorded), error_rate (503), throttle_rate (429 + Retry-After), fail_matching
(500), the Idempotency-Key (400 without), the JSON body (400), the replay of a
known key (its first answer, a duplicate), fail_once_rate (503, once per key),
reject_rate and reject_matching (422), the system's own validation (422), and
only then the system applies the document and records it with its answer. Errors
are application/problem+json with the reason in `detail`.

A held call whose client went away before the release (a worker killed while it
waited) is `abandoned`: nothing is applied or recorded, as for a client that gave up
during the latency — the caller never saw an answer, so it did not record the effect
either, and its redelivery is the first application of the key, not a replay. A
held call released by a reset is refused (503): the system forgot everything.

A back-end read (GET, `backend_get`) is only refused while its system is down.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from simulators.faults import roll
from simulators.keys import SIM, Simulator
from simulators.paging import BadQuery
from simulators.store import CallRecord, IdempotencyMismatch, SystemStore, fingerprint

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_KEY_LENGTH = 255
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
M = TypeVar("M", bound=BaseModel)


class Rejected(Exception):
    """The system refuses the document (422): repeating it will not help."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Call:
    """One accepted request, handed to a system's apply function."""

    sim: Simulator
    store: SystemStore
    body: dict[str, Any]
    params: Mapping[str, str]


Apply = Callable[[Call], tuple[int, dict[str, Any]]]


def problem(
    status: int, title: str, detail: str, *, headers: Mapping[str, str] | None = None
) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type="application/problem+json",
        headers=headers,
    )


def validated(model: type[M], body: Mapping[str, Any]) -> M:
    """The body as `model`, or Rejected with every invalid field named."""
    try:
        return model.model_validate(body)
    except ValidationError as error:
        reasons = [
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in error.errors()
        ]
        raise Rejected("; ".join(reasons)) from None


async def admit(request: web.Request, sim: Simulator, store: SystemStore) -> web.Response | None:
    """The injected faults' answer to this request, or None to serve it."""
    faults = store.faults
    if faults.down_remaining() > 0:
        detail = f"the {store.name} is down for maintenance"
        return problem(
            503, "Service Unavailable", detail, headers={"Retry-After": faults.retry_after()}
        )
    if faults.latency_ms:
        await asyncio.sleep(faults.latency_ms / 1000)
        if request.transport is None or request.transport.is_closing():
            # The caller timed out: it will retry, so this must not count as received.
            return problem(503, "Service Unavailable", "the client went away")
    if roll(sim.rng, faults.error_rate):
        return problem(503, "Service Unavailable", f"the {store.name} failed (error_rate)")
    if roll(sim.rng, faults.throttle_rate):
        detail = f"too many requests to the {store.name} (throttle_rate)"
        return problem(429, "Too Many Requests", detail, headers={"Retry-After": "1"})
    return None


def backend_post(system: str, doc_type: str, apply: Apply) -> Handler:
    """A back-end POST route: the call log, holds, faults, idempotency and recording
    around `apply`."""

    async def handle(request: web.Request) -> web.StreamResponse:
        store = request.app[SIM].systems[system]
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return problem(413, "Payload Too Large", "the document is too large")
        key = request.headers.get(IDEMPOTENCY_KEY, "").strip()
        record = store.begin_call(key, request.path, doc_type, _peer(request))
        try:
            response, outcome = await _serve(request, store, record, raw, key, doc_type, apply)
        except asyncio.CancelledError:
            store.finish(record, 499, "abandoned")  # the server cancelled the handler
            raise
        store.finish(record, response.status, outcome)
        return response

    return handle


def _peer(request: web.Request) -> str:
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer or request.remote or "")


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def _serve(
    request: web.Request,
    store: SystemStore,
    record: CallRecord,
    raw: bytes,
    key: str,
    doc_type: str,
    apply: Apply,
) -> tuple[web.Response, str]:
    """The answer to one call, and its outcome for the call log."""
    sim = request.app[SIM]
    if store.faults.holds(raw):
        held = store.hold(record, lambda: _connected(request))
        await held.released.wait()
        if not _connected(request):
            return problem(503, "Service Unavailable", "the client went away"), "abandoned"
        if held.reset:
            detail = f"the {store.name} was reset while the call was held"
            return problem(503, "Service Unavailable", detail), "failed"
    refused = await admit(request, sim, store)
    if refused is not None:
        gone = refused.status == 503 and not _connected(request)
        return refused, ("abandoned" if gone else "failed")
    if store.faults.fails(raw):
        detail = f"the {store.name} failed on this {doc_type} (fail_matching)"
        return problem(500, "Internal Server Error", detail), "failed"
    if not key or len(key) > MAX_KEY_LENGTH:
        detail = f"an {IDEMPOTENCY_KEY} header (1 to {MAX_KEY_LENGTH} characters) is required"
        return problem(400, "Bad Request", detail), "invalid"
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        return problem(400, "Bad Request", f"malformed JSON: {error}"), "invalid"
    if not isinstance(body, dict):
        return problem(400, "Bad Request", "the document must be a JSON object"), "invalid"
    print_ = fingerprint(request.method, request.path, body)
    # From here to the end there is no await: lookup, apply and record are atomic.
    try:
        answer = store.replay(key, print_)
    except IdempotencyMismatch:
        detail = f"{IDEMPOTENCY_KEY} {key!r} was already used for a different request"
        return problem(422, "Unprocessable Content", detail), "invalid"
    if answer is not None:
        replayed = web.Response(
            status=answer.status,
            body=answer.body,
            content_type="application/json",
            headers={"Idempotent-Replayed": "true"},
        )
        return replayed, "replayed"
    if key not in store.failed_once and roll(sim.rng, store.faults.fail_once_rate):
        store.failed_once.add(key)
        detail = f"the {store.name} failed (fail_once_rate)"
        return problem(503, "Service Unavailable", detail), "failed"
    for rejected, why in (
        (roll(sim.rng, store.faults.reject_rate), "reject_rate"),
        (store.faults.rejects(raw), "reject_matching"),
    ):
        if rejected:
            detail = f"the {store.name} rejected the {doc_type} ({why})"
            return problem(422, "Unprocessable Content", detail), "rejected"
    try:
        status, reply = apply(Call(sim, store, body, request.match_info))
    except Rejected as error:
        return problem(422, "Unprocessable Content", error.reason), "rejected"
    channel = request.match_info.get("name") or body.get("channel")
    text = json.dumps(reply)
    store.record(
        key,
        print_,
        doc_type,
        channel if isinstance(channel, str) else None,
        body,
        (status, text.encode()),
    )
    return web.Response(status=status, text=text, content_type="application/json"), "applied"


Read = Callable[[SystemStore, Mapping[str, str], Mapping[str, str]], dict[str, Any]]


def _down(store: SystemStore) -> web.Response | None:
    """503 with Retry-After while the system is down (a fault), else None."""
    if store.faults.down_remaining() <= 0:
        return None
    detail = f"the {store.name} is down for maintenance"
    return problem(
        503, "Service Unavailable", detail, headers={"Retry-After": store.faults.retry_after()}
    )


def backend_get(system: str, read: Read) -> Handler:
    """A back-end read route (store, path parameters, query → the reply): 503 while the
    system is down, 400 for a bad query. Reads change nothing, so they are not in the
    call log and other faults leave them alone."""

    async def handle(request: web.Request) -> web.StreamResponse:
        store = request.app[SIM].systems[system]
        if (down := _down(store)) is not None:
            return down
        try:
            reply = read(store, request.match_info, request.query)
        except BadQuery as error:
            return problem(400, "Bad Request", str(error))
        return web.json_response(reply)

    return handle


def backend_health(system: str) -> Handler:
    """GET …/health: 200 while up, 503 with Retry-After while down (for circuit-breaker probes)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        store = request.app[SIM].systems[system]
        return _down(store) or web.json_response({"status": "ok", "system": system})

    return handle
