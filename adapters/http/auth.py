"""Who is calling: a channel, a downstream system, or the operator (admin token).

Verified keys are cached for a short time (HttpConfig.key_cache_ttl_s) so the
hot path does not pay a database round trip per request; a disabled key stops
working within that time. A channel's previous key (after `ordersync channel rotate`)
is cached no longer than its grace lasts (Caller.valid_until), and a rotation gives the
key it replaces at least the cache's TTL of grace (adapters/db/rotation.py), so no process
lets a replaced key in past previous_valid_until.

A channel's request, on any route but the webhook doors, also takes a token from the
channel's rate limit (adapters/http/ratelimit.py): 429 when there is none.
"""

from __future__ import annotations

import hmac
import time
from datetime import UTC, datetime

from aiohttp import web

from adapters import apikeys
from adapters.db.registry import Caller, authenticate
from adapters.http.keys import CALLER, CONFIG, ENGINE, KEY_CACHE, RATE_LIMITER, HttpConfig
from adapters.http.problems import ProblemError
from adapters.http.ratelimit import check_rate
from adapters.http.threads import run

ADMIN = Caller("admin", "admin")


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(401, "Unauthorized", detail)


async def caller(request: web.Request) -> Caller:
    """The authenticated caller (401 problem otherwise)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("send Authorization: Bearer <API key>")
    token = token.strip()
    admin = request.app[CONFIG].admin_token
    if admin and hmac.compare_digest(token.encode(), admin.encode()):
        return ADMIN
    cache = request.app[KEY_CACHE]
    digest = apikeys.digest(token)
    hit = cache.get(digest)
    if hit and hit[1] > time.monotonic():
        found: Caller = hit[0]
        return found
    engine = request.app[ENGINE]

    def lookup() -> Caller | None:
        with engine.connect() as conn:
            return authenticate(conn, token)

    found_or_none = await run(request, lookup)
    if found_or_none is None:
        raise _unauthorized("the API key is not valid")
    cache[digest] = (found_or_none, _cached_until(found_or_none, request.app[CONFIG]))
    return found_or_none


def _cached_until(who: Caller, config: HttpConfig) -> float:
    """When a verified key's cache entry expires (the monotonic clock): after the TTL, or
    when the key stops being valid (a previous key's grace), whichever comes first."""
    ttl = config.key_cache_ttl_s
    if who.valid_until is not None:
        ttl = min(ttl, (who.valid_until - datetime.now(UTC)).total_seconds())
    return time.monotonic() + ttl


def channel_scope(who: Caller) -> str | None:
    """The channel a caller may read and change the orders of (None: every channel, for
    systems and the admin)."""
    return who.name if who.kind == "channel" else None


async def require(request: web.Request, *kinds: str) -> Caller:
    """The caller, if it is one of `kinds` (the admin is accepted wherever a system is)."""
    who = await caller(request)
    allowed = set(kinds) | ({"admin"} if "system" in kinds else set())
    if who.kind not in allowed:
        raise ProblemError(
            403, "Forbidden", f"this route is for {' or '.join(sorted(allowed))} keys"
        )
    if who.kind == "channel":
        check_rate(request.app[RATE_LIMITER], request, who.name, who.rate_limit)
    request[CALLER] = f"{who.kind}:{who.name}"
    return who
