"""Per-channel rate limits on the canonical API and the read routes: a token bucket per
channel, in each API process.

Every route a channel's key calls passes `require` (adapters/http/auth.py), which takes a
token from the channel's bucket; an empty bucket is a 429 problem with Retry-After (whole
seconds, at least 1: when the next token is back). The bucket holds `BURST_S` seconds'
worth of requests and refills at the channel's rate: channels.rate_limit_per_minute, or
ORDERSYNC_CHANNEL_RATE_LIMIT where that is NULL; 0 is unlimited.

Per process, not per deployment: with N API processes behind a balancer a channel may
make up to N times its rate. That is the price of no shared state on the hot path (no
database or broker round trip per request); set the rate for the processes you run.
A changed rate reaches a process with the channel's next key lookup (the key cache,
HttpConfig.key_cache_ttl_s).

The webhook doors (/v1/webhooks/…) are never limited, whoever calls them: a channel
retries a refused webhook for hours and then disables the endpoint, so a door
acknowledges and queues — its inbox absorbs a burst.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from adapters.http.problems import ProblemError, problem

BURST_S = 5.0  # a full bucket: this many seconds' worth of requests at the channel's rate
UNLIMITED_PREFIXES = ("/v1/webhooks/",)


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float  # when `tokens` was last worked out (the limiter's clock)


class RateLimiter:
    """The buckets of one API process, by channel name. Used on the event loop only (from
    `require`), so it takes no lock."""

    def __init__(
        self,
        default_per_minute: int,
        *,
        burst_s: float = BURST_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default_per_minute = default_per_minute
        self.burst_s = burst_s
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, channel: str, per_minute: int | None = None) -> int | None:
        """Take one request from the channel's bucket: None if it may go ahead, else the
        whole seconds (≥ 1) until it may. `per_minute`: the channel's own rate (None: the
        default; 0: unlimited)."""
        rate = self.default_per_minute if per_minute is None else per_minute
        if rate <= 0:
            return None
        per_s = rate / 60
        capacity = max(1.0, per_s * self.burst_s)
        now = self._clock()
        bucket = self._buckets.get(channel)
        if bucket is None:
            bucket = self._buckets[channel] = _Bucket(capacity, now)
        else:
            bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * per_s)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return None
        return max(1, math.ceil((1 - bucket.tokens) / per_s))

    def size(self) -> int:
        """How many buckets are kept."""
        return len(self._buckets)

    def forget(self) -> None:
        """Every bucket dropped: each starts full again."""
        self._buckets.clear()


class TooManyRequests(ProblemError):
    """Over the channel's rate limit: come back after Retry-After seconds."""

    def __init__(self, retry_after: int, per_minute: int) -> None:
        super().__init__(
            429,
            "Too Many Requests",
            f"over this channel's limit of {per_minute} requests a minute; "
            f"retry after {retry_after} s",
        )
        self.retry_after = retry_after

    def response(self) -> web.Response:
        response = problem(self.status, self.title, self.detail, code="rate-limited")
        response.headers["Retry-After"] = str(self.retry_after)
        return response


def limited(request: web.Request) -> bool:
    """Whether the request's route counts against a channel's limit (the doors' do not):
    judged by the route it matched (its template, /v1/webhooks/{kind}), not the raw path."""
    resource = request.match_info.route.resource
    template = resource.canonical if resource is not None else request.path
    return not template.startswith(UNLIMITED_PREFIXES)


def check_rate(limiter: RateLimiter, request: web.Request, channel: str, own: int | None) -> None:
    """Take the channel's token for this request; TooManyRequests if there is none."""
    if not limited(request):
        return
    wait = limiter.take(channel, own)
    if wait is not None:
        raise TooManyRequests(wait, limiter.default_per_minute if own is None else own)
