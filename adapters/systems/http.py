"""The HTTP base of every system client: sync httpx, explicit timeouts, errors converted once.

Clients are synchronous because Dramatiq runs actors on threads. One client
owns one connection pool (httpx.Client is safe to share between threads); make
one per system per worker process and close it at shutdown.

Status mapping: 2xx is the reply; 408, 409, 425, 429 and 5xx are transient (a
409 from an idempotent POST means the same key is still being processed);
every other status is permanent, with the system's reason. Timeouts and
connection failures are transient; a URL httpx cannot use is permanent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx
from opentelemetry import propagate

from adapters.systems.errors import PermanentError, TransientError

TRANSIENT_STATUSES = frozenset({408, 409, 425, 429})
MAX_REASON = 500


def part_key(idempotency_key: str, part: str) -> str:
    """The key of one of several requests made for one event (e.g. one per location)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{idempotency_key}/{part}"))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None if absent or bad."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _reason(response: httpx.Response) -> str:
    """The system's own explanation: problem+json detail, a reason/message field, or the text."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        for name in ("detail", "reason", "message", "error", "title"):
            if isinstance(body.get(name), str) and body[name]:
                return str(body[name])[:MAX_REASON]
    return response.text.strip()[:MAX_REASON] or response.reason_phrase or "no reason given"


def classify(system: str, response: httpx.Response) -> dict[str, Any]:
    """The reply of a successful call; raises TransientError or PermanentError otherwise."""
    status = response.status_code
    if 200 <= status < 300:
        if not response.content:
            return {}
        try:
            reply = response.json()
        except ValueError:
            raise PermanentError(system, "the reply is not JSON", status=status) from None
        if not isinstance(reply, dict):
            raise PermanentError(system, "the reply is not a JSON object", status=status)
        return reply
    if status >= 500 or status in TRANSIENT_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise TransientError(system, _reason(response), status=status, retry_after=retry_after)
    raise PermanentError(system, _reason(response), status=status)


def reply_field(system: str, reply: Mapping[str, Any], name: str) -> str:
    """A required string field of a reply (a reply without it is a broken contract)."""
    value = reply.get(name)
    if not isinstance(value, str) or not value:
        raise PermanentError(system, f"the reply has no {name}: {dict(reply)!r}"[:MAX_REASON])
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


class SystemClient:
    """A JSON-over-HTTP client of one downstream system, rooted at its base URL.

    `system` names the system in errors (the destination: erp, wms, crm, channel:<name>).
    """

    default_system: ClassVar[str]

    def __init__(
        self,
        base_url: str,
        *,
        system: str | None = None,
        read_timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
        max_connections: int = 10,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.system = system or self.default_system
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s, pool=connect_timeout_s)
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
            headers={"Accept": "application/json", **(headers or {})},
            transport=transport,
        )

    def post(
        self, path: str, document: Mapping[str, Any], *, idempotency_key: str
    ) -> dict[str, Any]:
        """POST a document under an Idempotency-Key; the system's reply."""
        if not idempotency_key:
            raise ValueError("every call to a downstream system needs an Idempotency-Key")
        headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key}
        propagate.inject(headers)  # the W3C traceparent of the current span, if any
        body = json.dumps(document, default=_json_default, separators=(",", ":"))
        return classify(self.system, self._send("POST", path, content=body, headers=headers))

    def get(self, path: str, params: Mapping[str, str | int] | None = None) -> dict[str, Any]:
        """GET a resource of the system (a read: no Idempotency-Key); the system's reply."""
        return classify(self.system, self._send("GET", path, params=params))

    def probe(self) -> bool:
        """Whether the system answers its health route (for a circuit breaker's probe)."""
        try:
            classify(self.system, self._send("GET", "health"))
        except (TransientError, PermanentError):
            return False
        return True

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path.lstrip("/"), **kwargs)
        except httpx.UnsupportedProtocol as error:
            raise PermanentError(self.system, f"unusable URL: {error}") from error
        except httpx.TimeoutException as error:
            raise TransientError(self.system, f"timed out ({type(error).__name__})") from error
        except httpx.TransportError as error:
            reason = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            raise TransientError(self.system, reason) from error

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
