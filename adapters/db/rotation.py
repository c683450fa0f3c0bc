"""`ordersync channel rotate`: a channel's new API key (and webhook secret), the old ones
still good for a grace period, so the channel can switch over without a gap.

A channel has one previous slot: the key and the secret a rotation replaced, both valid
until `previous_valid_until`. A rotation fills the slot with what it replaces and nothing
else — a key kept (`keep_key`) or a secret not given leaves its half of the slot empty —
so a second rotation within the grace of the first ends the first's grace at once (the
oldest key would otherwise live on through every later rotation).

Who checks the grace: adapters/db/registry.authenticate (the previous key, until
`previous_valid_until`, against the database's clock) and channel_credentials (the
previous secret, the same). An API process caches a verified key for a short time
(adapters/http/auth.py): a previous key no longer than its grace, a current one for
key_cache_ttl_s — so a key rotated out with less grace than that could live on in a
process's cache past its end. `ordersync channel rotate` therefore never gives a replaced
key less grace than the cache's TTL (the secret's grace is the same column).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from adapters import apikeys
from adapters.db.registry import RegistryError
from adapters.db.tables import channels


@dataclass(frozen=True, slots=True)
class Rotated:
    channel: str
    key: str | None  # the new API key, to show once (None: the key was kept)
    secret_rotated: bool
    previous_valid_until: datetime  # the replaced key and secret work until then


def rotate_channel(
    conn: sa.Connection,
    name: str,
    *,
    grace: timedelta,
    secret_ciphertext: str | None = None,
    keep_key: bool = False,
) -> Rotated:
    """Mint a new API key (unless `keep_key`) and, with `secret_ciphertext`, take the new
    webhook secret; what they replace stays valid for `grace`."""
    if grace < timedelta(0):
        raise RegistryError("the grace period cannot be negative")
    if keep_key and secret_ciphertext is None:
        raise RegistryError("nothing to rotate: --keep-key without --secret")
    row = conn.execute(
        sa.select(channels.c.api_key_prefix, channels.c.api_key_hash, channels.c.secret_ciphertext)
        .where(channels.c.name == name)
        .with_for_update()
    ).first()
    if row is None:
        raise RegistryError(f"no channel named {name!r} (see `ordersync channel list`)")
    values: dict[str, object] = {
        "previous_valid_until": sa.func.now() + grace,
        "previous_key_prefix": None,
        "previous_key_hash": None,
        "previous_secret_ciphertext": None,
    }
    key = None
    if not keep_key:
        new = apikeys.mint("ch")
        key = new.key
        values |= {
            "api_key_prefix": new.prefix,
            "api_key_hash": new.digest,
            "previous_key_prefix": row.api_key_prefix,
            "previous_key_hash": row.api_key_hash,
        }
    if secret_ciphertext is not None:
        values |= {
            "secret_ciphertext": secret_ciphertext,
            "previous_secret_ciphertext": row.secret_ciphertext,
        }
    until = conn.execute(
        sa.update(channels)
        .where(channels.c.name == name)
        .values(values)
        .returning(channels.c.previous_valid_until)
    ).scalar_one()
    return Rotated(name, key, secret_ciphertext is not None, until)
