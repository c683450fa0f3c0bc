"""A channel kind's own door: how its webhooks are told apart, verified and read.

The door (adapters/http/webhooks.py) owns the plumbing every kind shares: the raw bytes
with their limits, choosing the channel, the inbox row (adapters/db/inbound.py), the
2xx, the inbound dead letters. A kind brings only what is its own, as a `Webhook`:

1. `identify`: the value of the kind's identifying header (Shopify's
   X-Shopify-Shop-Domain, WooCommerce's X-WC-Webhook-Source), matched against each
   channel's --shop-domain as `domain_of` normalizes both; None where the kind has none,
   or the request lacks it (the door then tries the secret of every channel of the kind,
   as it does when the value matches no channel).
2. `verify`: over the exact raw bytes, in constant time, before anything is parsed: the
   name of the check that passed, or None. The door calls it with each of a channel's
   valid secrets, the current one first (`Credentials`).
3. `receipt`: only after `verify` passed: the delivery's identity (for dedup) and topic.
   `InvalidDelivery` if a verified request cannot even be read that far (it is parked).
4. `interpret`: later, off the request's path: the delivery's canonical commands
   (domain/channel_commands.py). It may read the channel's API (Amazon and Square send
   only ids), through the kind's client. A `ValidationError` or `InvalidDelivery`
   parks the delivery, with its error, for `ordersync inbound replay`.
5. `ping`: an unsigned request the door answers 200 and writes nothing for (WooCommerce's
   `webhook_id=N` when a webhook is created); never true for anything else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.channel_commands import ChannelCommand


class InvalidDelivery(ValueError):
    """A verified delivery that cannot be read or applied as it is (parked, replayable)."""


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """A request at a door, as received (or as stored in the inbox, for a replay)."""

    body: bytes  # the exact raw bytes
    headers: Mapping[str, str]  # case-insensitive lookups (CIMultiDict, or the stored copy)
    content_type: str = ""

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        if value is None:  # a stored copy is a plain dict: look it up without case
            lowered = name.lower()
            value = next((v for k, v in self.headers.items() if k.lower() == lowered), None)
        return value


@dataclass(frozen=True, slots=True)
class Credentials:
    """What one channel verifies with: its webhook secrets (current first, then the one a
    rotation replaced, within its grace period), the API key digests (current, previous)
    of a kind whose calls carry the channel's key as a bearer token, and the URL the
    channel signs (Square signs its notification URL with the body)."""

    channel: str
    secrets: Sequence[str] = ()
    key_digests: Sequence[str] = ()
    notification_url: str | None = None
    shop_domain: str | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    delivery_id: str  # the channel's own identity of this delivery: unique per channel
    topic: str  # the kind's own name of what happened ("orders/create", "ORDER_CHANGE")


# (the delivery, the stored request, the channel's client or None) → canonical commands
Interpret = Callable[[Receipt, InboundRequest, Any], Sequence[ChannelCommand]]


def _never(request: InboundRequest) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Webhook:
    identify: Callable[[InboundRequest], str | None]
    verify: Callable[[InboundRequest, Credentials], str | None]
    receipt: Callable[[InboundRequest], Receipt]
    interpret: Interpret
    ping: Callable[[InboundRequest], bool] = _never


def domain_of(value: str) -> str:
    """A shop's address as the door compares an identifying header with a channel's
    --shop-domain: without scheme, case or trailing slashes ("https://Shop.example.com/"
    and "shop.example.com" are one shop; a site in a folder keeps its folder)."""
    text = value.strip().lower()
    return text.split("://", 1)[-1].rstrip("/")


def hmac_sha256_base64(secret: str, *parts: bytes) -> str:
    """The base64 HMAC-SHA256 of the parts, concatenated, with the secret (Shopify,
    WooCommerce, Square)."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return base64.b64encode(mac.digest()).decode()


def signature_matches(given: str | None, expected: str) -> bool:
    """In constant time; a missing signature never matches."""
    return given is not None and hmac.compare_digest(given.strip().encode(), expected.encode())
