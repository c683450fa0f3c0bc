"""A channel's stored secrets, decrypted for the one who needs them, and only them.

Inbound — `channel_credentials(conn, secret_box)`: what the webhook doors verify with
(adapters/channels/webhook.Credentials), one per active channel: its webhook secrets
(the current one first, then the one a rotation replaced while its grace lasts), its API
key digests in the same order (a kind whose deliveries carry the channel's key as a
bearer token, Amazon's EventBridge API destination), its notification URL and shop
domain. The grace is judged by the database's clock, in the same query.

Outbound — what the channel's own API takes from us (an access token; a key and its
secret): a JSON object of strings, stored encrypted with ORDERSYNC_SECRET_KEY in
channels.credentials_ciphertext, never printed or logged; actors/clients.py hands it,
decrypted, to the kind's client factory as `credentials=`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Annotated

import sqlalchemy as sa
from pydantic import StringConstraints, TypeAdapter, ValidationError

from adapters.channels.webhook import Credentials
from adapters.db.tables import channels
from adapters.secretbox import SecretBox, SecretKeyMissing

log = logging.getLogger("ordersync.channels")

MAX_CREDENTIALS = 20
_Name = Annotated[str, StringConstraints(min_length=1, max_length=64)]
_Value = Annotated[str, StringConstraints(min_length=1, max_length=4096)]
_OUTBOUND: TypeAdapter[dict[str, str]] = TypeAdapter(dict[_Name, _Value])
CREDENTIALS_SHAPE = 'a JSON object of strings, such as {"access_token": "…"}'


class InvalidCredentials(ValueError):
    """The credentials are not a JSON object of strings (the message never holds them)."""


def parse_credentials(text: str) -> dict[str, str]:
    """The outbound credentials in `text`; InvalidCredentials, without echoing any of the
    text (it is a secret), if they are not a JSON object of 1 to 20 non-empty strings."""
    try:
        value = json.loads(text)
        parsed = _OUTBOUND.validate_python(value, strict=True)
    except (ValueError, ValidationError):
        raise InvalidCredentials(f"the credentials must be {CREDENTIALS_SHAPE}") from None
    if not 0 < len(parsed) <= MAX_CREDENTIALS:
        raise InvalidCredentials(f"the credentials hold 1 to {MAX_CREDENTIALS} entries")
    return parsed


def seal_credentials(box: SecretBox, credentials: Mapping[str, str]) -> str:
    """The stored form: the JSON object, encrypted (SecretKeyMissing without a key)."""
    return box.seal(json.dumps(dict(credentials), sort_keys=True))


def open_credentials(box: SecretBox, ciphertext: str | None) -> dict[str, str] | None:
    """The stored credentials, decrypted (None: the channel has none)."""
    if ciphertext is None:
        return None
    value = json.loads(box.open(ciphertext))
    return {str(k): str(v) for k, v in value.items()}


def outbound_credentials(conn: sa.Connection, name: str, box: SecretBox) -> dict[str, str] | None:
    """A channel's outbound credentials, decrypted (None: it has none, or no such channel)."""
    sealed = conn.execute(
        sa.select(channels.c.credentials_ciphertext).where(channels.c.name == name)
    ).scalar()
    return open_credentials(box, sealed)


def set_credentials(conn: sa.Connection, name: str, ciphertext: str | None) -> bool:
    """Store (None: remove) a channel's outbound credentials; False if no such channel."""
    result = conn.execute(
        sa.update(channels).where(channels.c.name == name).values(credentials_ciphertext=ciphertext)
    )
    return result.rowcount == 1


_IN_GRACE = sa.func.coalesce(channels.c.previous_valid_until > sa.func.now(), False)
_CREDENTIALS = sa.select(
    channels.c.name,
    channels.c.kind,
    channels.c.secret_ciphertext,
    channels.c.api_key_hash,
    channels.c.notification_url,
    channels.c.shop_domain,
    sa.case((_IN_GRACE, channels.c.previous_secret_ciphertext)).label("previous_secret"),
    sa.case((_IN_GRACE, channels.c.previous_key_hash)).label("previous_key_hash"),
).where(channels.c.disabled_at.is_(None))


def channel_credentials(
    conn: sa.Connection,
    secret_box: SecretBox,
    *,
    kind: str | None = None,
    name: str | None = None,
) -> list[Credentials]:
    """What each active channel (of `kind`, or the one named) verifies its webhooks with,
    by name: secrets decrypted, current first, then the previous one within its grace;
    API key digests the same. A stored secret that cannot be decrypted (ORDERSYNC_SECRET_KEY
    unset or changed) is logged and left out: that channel's signatures then fail (401),
    and no other channel's door is closed by it."""
    query = _CREDENTIALS
    if kind is not None:
        query = query.where(channels.c.kind == kind)
    if name is not None:
        query = query.where(channels.c.name == name)
    found = []
    for row in conn.execute(query.order_by(channels.c.name)):
        secrets = [
            s
            for c in (row.secret_ciphertext, row.previous_secret)
            if (s := _open(secret_box, row.name, c))
        ]
        digests = [d for d in (row.api_key_hash, row.previous_key_hash) if d]
        found.append(
            Credentials(
                channel=row.name,
                secrets=tuple(secrets),
                key_digests=tuple(digests),
                notification_url=row.notification_url,
                shop_domain=row.shop_domain,
            )
        )
    return found


def _open(secret_box: SecretBox, channel: str, ciphertext: str | None) -> str | None:
    if not ciphertext:
        return None
    try:
        return secret_box.open(ciphertext)
    except SecretKeyMissing as error:
        log.warning("channel %s: its webhook secret cannot be read: %s", channel, error)
        return None
