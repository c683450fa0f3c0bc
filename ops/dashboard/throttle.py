"""Login attempts, throttled per client address: the admin token cannot be guessed at the
speed of the event loop. A token bucket per address (adapters/http/ratelimit.py's), in each
API process; every attempt counts, a good one too (people log in rarely)."""

from __future__ import annotations

from aiohttp import web

from adapters.http.ratelimit import RateLimiter

ATTEMPTS_PER_MINUTE = 10
BURST_S = 30.0  # a few typos in a row go through; a script does not
# Addresses remembered at most: past that the buckets start again (a flood from many
# addresses must not grow the process without bound).
MAX_ADDRESSES = 10_000

LOGIN_ATTEMPTS = web.AppKey("dashboard_login_attempts", RateLimiter)


def install(app: web.Application) -> None:
    app[LOGIN_ATTEMPTS] = RateLimiter(ATTEMPTS_PER_MINUTE, burst_s=BURST_S)


def wait_before_login(request: web.Request) -> int | None:
    """None if this attempt may be checked, else the seconds until one may."""
    limiter = request.app[LOGIN_ATTEMPTS]
    if limiter.size() > MAX_ADDRESSES:
        limiter.forget()
    return limiter.take(f"login:{request.remote or 'unknown'}")
