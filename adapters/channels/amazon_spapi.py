"""The HTTP side of SP-API: its credentials, its replies ({"payload": …}, NextToken
pages) and its errors ({"errors": [{"code", "message", "details"}]}), over the shared
client machinery (adapters/systems/http.py: timeouts, transient and permanent errors).

Credentials (stored encrypted with the channel): `access_token` (an LWA access token,
sent as x-amz-access-token on every call), `marketplace_id` and `seller_id` (see
amazon_client.py for which calls need them). A call that needs one the channel lacks is
a permanent error naming it.

Throttling: SP-API answers 429 with no Retry-After, but with x-amzn-RateLimit-Limit
(the operation's rate, requests per second): that is a blip, a TransientError whose
retry_after is one request's worth of that rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
from opentelemetry import propagate

from adapters.http.jsonutil import dumps, loads
from adapters.systems.errors import PermanentError, TransientError
from adapters.systems.http import MAX_REASON, TRANSIENT_STATUSES, SystemClient, parse_retry_after
from adapters.systems.paging import MAX_PAGES

RATE_LIMIT = "x-amzn-RateLimit-Limit"


def throttle_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait after a 429: Retry-After if given, else one request at the rate
    x-amzn-RateLimit-Limit names; None if neither says."""
    after = parse_retry_after(headers.get("Retry-After"))
    if after is not None:
        return after
    try:
        rate = float(headers.get(RATE_LIMIT, ""))
    except ValueError:
        return None
    return 1.0 / rate if math.isfinite(rate) and rate > 0 else None


def _reason(response: httpx.Response) -> str:
    """SP-API's own explanation ({"errors": [{"code", "message"}]}), a problem's detail,
    or the text."""
    try:
        body = loads(response.content)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        errors = body.get("errors")
        first = errors[0] if isinstance(errors, list) and errors else None
        if isinstance(first, dict):
            return f"{first.get('code', 'error')}: {first.get('message', '')}"[:MAX_REASON]
        for name in ("detail", "message", "title"):
            if isinstance(body.get(name), str) and body[name]:
                return str(body[name])[:MAX_REASON]
    return response.text.strip()[:MAX_REASON] or response.reason_phrase or "no reason given"


class SpApiClient(SystemClient):
    """A client of one selling partner's SP-API, with its credentials."""

    default_system = "channel"

    def __init__(
        self,
        api_url: str,
        *,
        channel: str | None = None,
        credentials: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        given = dict(credentials or {})
        token = given.get("access_token")
        super().__init__(
            api_url,
            system=f"channel:{channel}" if channel else None,
            headers={"x-amz-access-token": token} if token else None,
            **options,
        )
        self.channel = channel
        self.marketplace_id = given.get("marketplace_id") or None
        self.seller_id = given.get("seller_id") or None

    def _needs(self, name: str) -> str:
        value = getattr(self, name)
        if not value:
            raise PermanentError(self.system, f"the channel has no {name} credential")
        return str(value)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        document: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        headers: dict[str, str] = {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        if document is not None:
            headers["Content-Type"] = "application/json"
        propagate.inject(headers)
        content = dumps(document) if document is not None else None
        response = self._send(method, path, params=params, content=content, headers=headers)
        status = response.status_code
        if status == 429:
            wait = throttle_wait(response.headers)
            raise TransientError(self.system, _reason(response), status=status, retry_after=wait)
        if status >= 500 or status in TRANSIENT_STATUSES:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise TransientError(self.system, _reason(response), status=status, retry_after=wait)
        if not 200 <= status < 300:
            raise PermanentError(self.system, _reason(response), status=status)
        if not response.content:
            return {}
        try:
            reply = loads(response.content)
        except (ValueError, RecursionError):
            raise PermanentError(self.system, "the reply is not JSON", status=status) from None
        if not isinstance(reply, dict):
            raise PermanentError(self.system, "the reply is not a JSON object", status=status)
        return reply

    def _payload(self, reply: dict[str, Any], what: str) -> dict[str, Any]:
        payload = reply.get("payload")
        if not isinstance(payload, dict):
            raise PermanentError(self.system, f"malformed {what} reply: no payload object")
        return payload

    def _pages(
        self,
        path: str,
        first: Mapping[str, str | int],
        then: Mapping[str, str],
        member: str,
        idempotency_key: str | None = None,
    ) -> Iterator[Any]:
        """Every element of payload[member], page after page: the first page with `first`,
        each next one with `then` and its NextToken."""
        query, seen = dict(first), set()
        for _ in range(MAX_PAGES):
            reply = self._call("GET", path, params=query, idempotency_key=idempotency_key)
            payload = self._payload(reply, member)
            page = payload.get(member)
            if not isinstance(page, list):
                raise PermanentError(self.system, f"malformed reply: payload.{member} is no list")
            yield from page
            token = payload.get("NextToken")
            if token is None or token == "":
                return
            if not isinstance(token, str) or token in seen:
                raise PermanentError(self.system, f"the {member} pages repeat a NextToken")
            seen.add(token)
            query = {**then, "NextToken": token}
        raise PermanentError(self.system, f"the {member} pages did not end")
