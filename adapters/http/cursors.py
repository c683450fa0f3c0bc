"""Change-feed cursors: opaque, signed, so that only cursors this API issued parse.

A cursor is a feed position (change_seq, order id). Unsigned, a client could send any
JSON in its place (a boolean, a list, a number past BIGINT) and reach the query with
it; signed with an HMAC, anything but an issued cursor is a 400 before it is parsed.
The key is derived from ORDERSYNC_SECRET_KEY (see cursor_key), so every API process
accepts the cursors of every other one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid

from adapters.http.problems import ProblemError

_MAC_BYTES = 16
_MAX_SEQ = 2**63 - 1  # change_seq is a BIGINT
MAX_LENGTH = 200  # an issued cursor is about 110 characters
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def cursor_key(secret_key: str | None, admin_token: str | None = None) -> bytes:
    """The signing key, the same in every API process of a deployment.

    From ORDERSYNC_SECRET_KEY; without one, from the admin token (a secret every process
    shares too); without either (a bare test app), a fixed key: cursors can then be
    forged, which the strict parse below still keeps harmless (a forged position only
    moves the caller within what it may read anyway). Never a random key: `ordersync
    api --processes N` runs N apps, and a cursor must work on any of them.
    """
    secret = secret_key or admin_token or "ordersync: no secret configured"
    return hmac.new(secret.encode(), b"ordersync change-feed cursor v1", "sha256").digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, payload.encode(), hashlib.sha256).digest()[:_MAC_BYTES]


def encode_cursor(key: bytes, position: tuple[int, uuid.UUID]) -> str:
    """The cursor for a feed position: payload.mac, both base64url."""
    payload = _b64(json.dumps([position[0], str(position[1])]).encode())
    return f"{payload}.{_b64(_mac(key, payload))}"


def decode_cursor(key: bytes, cursor: str) -> tuple[int, uuid.UUID]:
    """The feed position of a cursor this API issued; a 400 problem for anything else."""
    invalid = ProblemError(400, "Bad Request", "cursor is not one this API returned")
    if len(cursor) > MAX_LENGTH or not _SHAPE.fullmatch(cursor):
        raise invalid
    payload, mac = cursor.split(".")
    try:
        if not hmac.compare_digest(_unb64(mac), _mac(key, payload)):
            raise invalid
        seq, order_id = json.loads(_unb64(payload))
        # Signed by us, so well-formed; checked anyway (defence in depth: never a 500).
        if type(seq) is not int or not 0 <= seq <= _MAX_SEQ or not isinstance(order_id, str):
            raise invalid
        return seq, uuid.UUID(order_id)
    except (ValueError, TypeError):
        raise invalid from None
