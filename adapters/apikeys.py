"""API keys: shown once, stored as a SHA-256 hash found through a short lookup prefix.

A fast hash is right here (not bcrypt): keys are 32 random bytes, so there is
nothing to brute-force, and the hash is checked on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str  # show once
    prefix: str
    digest: str


def mint(kind: str) -> NewKey:
    """A new key such as `osk_ch_3fa9c1e2b7d4_<43 random chars>`."""
    prefix = secrets.token_hex(6)
    key = f"osk_{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(key, prefix, digest(key))


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None."""
    parts = key.split("_", 3)
    if len(parts) != 4 or parts[0] != "osk" or len(parts[2]) != 12:
        return None
    return parts[2]


def matches(key: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(key), stored_digest)
