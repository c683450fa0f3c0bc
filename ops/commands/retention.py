"""Retention commands: `ordersync outbox prune` (by hand, with the ages given) and
`ordersync maintenance` (the same prunes with the configured ages, on a schedule)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import click
import sqlalchemy as sa
from sqlalchemy import exc

from ops import bootstrap
from ops.audit import Refused
from ops.commands.support import json_option, parse_age, settings
from ops.pruning import DEFAULT_BATCH, MAX_BATCH, Ages, Report, prune, report_lines
from ops.settings import Settings

batch_option = click.option(
    "--batch",
    type=click.IntRange(1, MAX_BATCH),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Rows a batch deletes at most: outbox events (with their ledger and inbox rows), "
    "dead letters or audit rows; each batch is one short transaction.",
)


@click.command("prune")
@click.option(
    "--older-than",
    type=parse_age,
    required=True,
    help="Outbox events older than this (e.g. 14d), with their ledger and inbox rows; "
    "at least ORDERSYNC_DEDUP_WINDOW (default 7d).",
)
@click.option(
    "--dead-letters-older-than",
    type=parse_age,
    help="Also dead letters resolved (requeued or purged) longer ago than this.",
)
@click.option("--audit-older-than", type=parse_age, help="Also audit rows older than this.")
@click.option(
    "--raw-payloads-older-than",
    type=parse_age,
    help="Also the raw bodies of inbound deliveries applied longer ago than this.",
)
@batch_option
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; delete nothing.")
@json_option
def outbox_prune(
    older_than: timedelta,
    dead_letters_older_than: timedelta | None,
    audit_older_than: timedelta | None,
    raw_payloads_older_than: timedelta | None,
    batch: int,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete outbox events older than --older-than whose every delivery is final.

    \b
    Final: applied or superseded, unchanged since the cutoff; dead only when its dead
    letter was purged before the cutoff and no cursor is blocked by it. Never pruned: an
    unpublished, pending, published, waiting or parked delivery, a row selected by a replay
    that is not done or cancelled, nor any event that still has such a delivery. The inbox
    rows of each pruned delivery go with it; consumer cursors and sequence counters stay.

    \b
    Safe while the API, relays and workers run: each batch is a short transaction that
    re-checks every row it deletes; Ctrl-C stops between batches. An age shorter than the
    dedup window (ORDERSYNC_DEDUP_WINDOW) is refused, and nothing is deleted.
    `ordersync maintenance` runs the same prunes with the configured ages.
    """
    ages = Ages(
        older_than,
        dead_letters_older_than,
        audit_older_than,
        raw_payloads=raw_payloads_older_than,
    )
    configured = settings()
    with _engine(configured) as engine:
        report = prune(
            engine, ages, dedup_window=configured.dedup_window, batch=batch, dry_run=dry_run
        )
    _print(report, ages, as_json)
    if report.interrupted:
        raise SystemExit(130)


@click.command()
@click.option("--once", is_flag=True, help="One round of prunes, then exit (for a timer).")
@click.option(
    "--interval",
    type=parse_age,
    default="1h",
    show_default=True,
    help="Time from the end of one round to the start of the next.",
)
@batch_option
@json_option
def maintenance(once: bool, interval: timedelta, batch: int, as_json: bool) -> None:
    """Prune on a schedule, with the configured ages.

    \b
    Each round prunes, as `ordersync outbox prune` does:
      outbox events, ledger and inbox rows  older than ORDERSYNC_RETENTION_OUTBOX (14d)
      resolved dead letters                 older than ORDERSYNC_RETENTION_DEAD_LETTERS (30d)
      audit rows                            older than ORDERSYNC_RETENTION_AUDIT (365d)
      inbound deliveries' raw bodies        applied ORDERSYNC_RAW_PAYLOAD_DAYS (90) ago
    and logs one line per prune with its counts. A retention shorter than
    ORDERSYNC_DEDUP_WINDOW (7d) is refused before anything is deleted. SIGTERM or Ctrl-C
    stops it between batches. --json prints each round's report as a line on stdout.
    """
    from ops.maintenance import run, stop_on_signals

    def print_round(report: Report) -> None:
        if as_json:
            click.echo(json.dumps(report.as_dict()))

    configured = settings()
    with _engine(configured) as engine, stop_on_signals() as stop:
        run(
            engine,
            configured,
            once=once,
            interval=interval,
            batch=batch,
            stop=stop,
            on_round=print_round,
        )


@contextmanager
def _engine(configured: Settings) -> Iterator[sa.Engine]:
    """An engine on the configured database; a refusal or a database error as a message."""
    engine = bootstrap.engine_for(configured)
    try:
        yield engine
    except Refused as refused:
        raise click.ClickException(f"refused: {refused}") from None
    except exc.ProgrammingError as error:
        raise click.ClickException(
            f"the database schema is missing or old ({error.orig}); "
            "run `ordersync db upgrade` first"
        ) from None
    except exc.OperationalError as error:
        raise click.ClickException(f"cannot reach the database: {error.orig}") from None
    finally:
        engine.dispose()


def _print(report: Report, ages: Ages, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    for line in report_lines(report, ages):
        click.echo(line)
