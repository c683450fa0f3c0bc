"""`ordersync reconcile --system erp | --channel NAME`: compare with what a downstream system
holds (and repair), or ingest the orders a channel holds that never reached ordersync."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import click
from sqlalchemy import exc

from actors.systems import SYSTEMS
from adapters.db.errors import PersistenceError
from adapters.systems.errors import ExternalSystemError
from ops import bootstrap
from ops.audit import Refused
from ops.commands.reconcile_report import print_channel, print_system
from ops.commands.support import json_option, parse_time, settings
from ops.reconcile import DEFAULT_LOOKBACK
from ops.reconcile_channel import ChannelReport, reconcile_channel
from ops.reconcile_system import SystemReport, reconcile_system

EXIT_DISCREPANCIES = 1
EXIT_REFUSED = 2  # as click's own usage errors
EXIT_UNCHECKED = 3
# The systems with a read API to reconcile with (a `Reconciliation` in their module).
RECONCILABLE = [s.name for s in SYSTEMS.values() if s.reconciliation is not None]


class Unchecked(click.ClickException):
    """The comparison could not be made; nothing was changed."""

    exit_code = EXIT_UNCHECKED


class Declined(click.ClickException):
    """The product will not do what was asked (the message says why); nothing was changed."""

    exit_code = EXIT_REFUSED


@contextmanager
def _checked(what: str) -> Iterator[None]:
    """Failures to read either side as one clear message (exit 3), never a traceback."""
    try:
        yield
    except Refused as error:
        raise Declined(str(error)) from None
    except ExternalSystemError as error:
        raise Unchecked(f"cannot read {what}: {error}") from None
    except exc.ProgrammingError as error:
        raise Unchecked(
            f"the database schema is missing or old ({error.orig}); run `ordersync db upgrade`"
        ) from None
    except (exc.OperationalError, PersistenceError) as error:
        reason = error.orig if isinstance(error, exc.OperationalError) else error
        raise Unchecked(f"cannot reach the database: {reason}") from None


def _shown(url: str) -> str:
    """A URL as a message may show it: without the user and password it may carry."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


@click.command()
@click.option(
    "--system",
    type=click.Choice(RECONCILABLE),
    help="Compare the orders ordersync accepted with what this system holds, through its "
    "read API (ORDERSYNC_<SYSTEM>_URL).",
)
@click.option(
    "--channel",
    metavar="NAME",
    help="Read the orders this channel lists as changed since its watermark, and ingest "
    "the ones ordersync never received.",
)
@click.option(
    "--since",
    type=parse_time,
    help="Orders accepted (a channel's: changed) at or after this ISO time. Default: a "
    f"channel's watermark; otherwise {DEFAULT_LOOKBACK.days} days ago.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="With --system: replay (reprocess) the system's deliveries of every order found "
    "missing or wrong there; a duplicate document is reported, not repaired.",
)
@json_option
def reconcile(
    system: str | None, channel: str | None, since: datetime | None, repair: bool, as_json: bool
) -> None:
    """Reconcile ordersync with a downstream system or a sales channel (audited).

    Exit status: 0 clean; 1 discrepancies found (with --repair too: the replay is delivered
    by the relay and the workers, and a second run confirms it) or, for a channel, listed
    orders it could not apply (differs, rejected: parked, see `ordersync inbound list`);
    2 bad usage or a refusal (an unknown channel, a repair while another replay runs);
    3 a side could not be read (the system or channel unreachable or its reply malformed,
    the database away): nothing was changed.

    Deliveries to the system not yet applied are "in flight", listed apart and not
    compared. A channel's listed orders are applied as its webhooks are (stored as
    inbound deliveries `poll:<external id>:<version time>`, then by their business
    versions): repaired (created), updated, present, differs or rejected. Its watermark
    moves to the newest updated_at seen, less a few seconds: channels' clocks tie at one
    second.
    """
    if (system is None) == (channel is None):
        raise click.UsageError("give one of --system or --channel")
    if repair and channel is not None:
        raise click.UsageError(
            "--repair goes with --system: a channel's reconciliation always applies what it lists"
        )
    loaded = settings()
    engine = bootstrap.engine_for(loaded)
    report: SystemReport | ChannelReport
    try:
        if channel is not None:
            with _checked(f"channel {channel!r}"):
                report = reconcile_channel(
                    engine,
                    channel,
                    since=since,
                    notify=loaded.outbox_notify,
                    read_timeout_s=loaded.client_timeout_s,
                    secret_box=bootstrap.secret_box(loaded),
                )
        else:
            target = SYSTEMS[str(system)]
            url = loaded.system_urls[target.name]
            client = target.client(url, system=target.name, read_timeout_s=loaded.client_timeout_s)
            with _checked(f"{target.name} at {_shown(url)}"), client:
                report = reconcile_system(engine, target, client, since=since, repair=repair)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, default=str))
    elif isinstance(report, SystemReport):
        print_system(report)
    else:
        print_channel(report)
    if not report.clean:
        click.get_current_context().exit(EXIT_DISCREPANCIES)
