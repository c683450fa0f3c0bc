"""`ordersync channel rotate|credentials|limit`: a channel's keys, secrets, outbound
credentials and rate limit, each change audited (never with a secret in it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click

from adapters.db import registry
from adapters.db.channel_credentials import (
    InvalidCredentials,
    parse_credentials,
    seal_credentials,
    set_credentials,
)
from adapters.db.rotation import rotate_channel
from adapters.http.keys import KEY_CACHE_TTL_S
from adapters.secretbox import SecretBox, SecretKeyMissing
from ops import audit, bootstrap
from ops.ages import age_text
from ops.commands.support import database, parse_age, settings

DEFAULT_GRACE = timedelta(hours=24)


def secret_box() -> SecretBox:
    return bootstrap.secret_box(settings())


def seal(box: SecretBox, plaintext: str) -> str:
    """`plaintext` encrypted with ORDERSYNC_SECRET_KEY (a readable error without it)."""
    try:
        return box.seal(plaintext)
    except SecretKeyMissing as error:
        raise click.ClickException(str(error)) from None


def sealed_credentials(box: SecretBox, text: str) -> str:
    """--credentials / --set JSON: checked (the error never repeats it) and encrypted."""
    try:
        parsed = parse_credentials(text)
    except InvalidCredentials as error:
        raise click.ClickException(str(error)) from None
    try:
        return seal_credentials(box, parsed)
    except SecretKeyMissing as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def audited_change(action: str, **filter: Any) -> Iterator[Any]:
    """One audited change of a channel: the engine, its registry refusals as the audit's."""
    with database() as engine:
        try:
            with audit.audited(engine, action, filter=filter):
                try:
                    yield engine
                except registry.RegistryError as error:
                    raise audit.Refused(str(error)) from None
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None


@click.command("rotate")
@click.argument("name")
@click.option(
    "--grace",
    type=parse_age,
    default="24h",
    show_default=True,
    help="How long the old key (and secret) stay valid: 24h, 30m, 0s (revoke at once).",
)
@click.option("--secret", help="The channel's new webhook signing secret (stored encrypted).")
@click.option("--keep-key", is_flag=True, help="Keep the API key: rotate only the secret.")
def channel_rotate(name: str, grace: timedelta, secret: str | None, keep_key: bool) -> None:
    """Mint a new API key (printed once); the old one works until the grace ends.

    A grace below the API's key cache (30 s) is raised to it: a running API process may
    trust the old key that long anyway, and previous_valid_until says when it truly ends."""
    floor = timedelta(seconds=KEY_CACHE_TTL_S)
    if not keep_key and grace < floor:
        click.echo(f"the grace is raised to {age_text(floor)}: API processes cache a key that long")
        grace = floor
    ciphertext = seal(secret_box(), secret) if secret else None
    flt = {"channel": name, "grace": age_text(grace), "secret": bool(secret), "key": not keep_key}
    with audited_change("channel.rotate", **flt) as engine, engine.begin() as conn:
        rotated = rotate_channel(
            conn, name, grace=grace, secret_ciphertext=ciphertext, keep_key=keep_key
        )
    what = [w for w, done in (("key", rotated.key), ("secret", rotated.secret_rotated)) if done]
    click.echo(
        f"channel {name}: {' and '.join(what)} rotated; the previous one(s) stay valid until "
        f"{rotated.previous_valid_until.isoformat()}"
    )
    if rotated.key is not None:
        click.echo("its new API key, shown only now:")
        click.echo(rotated.key)


@click.command("credentials")
@click.argument("name")
@click.option("--set", "new", metavar="JSON", help='A JSON object of strings: {"token": "…"}.')
@click.option("--clear", is_flag=True, help="Remove the channel's outbound credentials.")
def channel_credentials(name: str, new: str | None, clear: bool) -> None:
    """Set or clear what the channel's own API takes from us (stored encrypted, never shown).

    Running workers pick a change up within half a minute, like a changed --api-url."""
    if (new is None) == (not clear):
        raise click.UsageError("give one of --set JSON and --clear")
    ciphertext = None if clear else sealed_credentials(secret_box(), str(new))
    with audited_change("channel.credentials", channel=name, cleared=clear) as engine:
        with engine.begin() as conn:
            if not set_credentials(conn, name, ciphertext):
                raise registry.RegistryError(f"no channel named {name!r}")
    click.echo(f"channel {name}: outbound credentials {'removed' if clear else 'stored'}")


@click.command("limit")
@click.argument("name")
@click.option(
    "--rate-limit",
    type=click.IntRange(0, registry.MAX_RATE_LIMIT),
    help="Requests a minute on the canonical API and the read routes (0: unlimited).",
)
@click.option(
    "--default", "use_default", is_flag=True, help="Back to ORDERSYNC_CHANNEL_RATE_LIMIT."
)
def channel_limit(name: str, rate_limit: int | None, use_default: bool) -> None:
    """Set a channel's rate limit (per API process; webhook doors are never limited).

    API processes pick it up with the channel's next key lookup (within half a minute)."""
    if (rate_limit is None) == (not use_default):
        raise click.UsageError("give one of --rate-limit N and --default")
    with audited_change("channel.limit", channel=name, rate_limit=rate_limit) as engine:
        with engine.begin() as conn:
            registry.set_rate_limit(conn, name, rate_limit)
    shown = "the default" if rate_limit is None else f"{rate_limit} a minute"
    click.echo(f"channel {name}: rate limit {shown}")
