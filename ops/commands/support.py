"""What every command shares: the settings, a database connection with readable errors,
the --json option and table printing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy import exc

from adapters.db import registry
from ops import ages, bootstrap
from ops.settings import Settings, SettingsError, load_settings

F = TypeVar("F", bound=Callable[..., Any])
console = Console()


def settings() -> Settings:
    """The settings of a command on the configured database (all but `demo` and `sim`)."""
    try:
        loaded = load_settings()
        loaded.require_database_url()
        return loaded
    except SettingsError as error:
        raise click.ClickException(str(error)) from None


def tracing_checked() -> None:
    """A process that traces (api, relay, worker): a bad OTEL_* value stops it here, with
    its message."""
    from ops.telemetry import TelemetryError, check

    try:
        check()
    except TelemetryError as error:
        raise click.ClickException(str(error)) from None


@contextmanager
def connection() -> Iterator[sa.Connection]:
    """A committed-on-success connection to the configured database, with readable errors."""
    engine = bootstrap.engine_for(settings())
    try:
        with database_errors(), engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


@contextmanager
def database_errors() -> Iterator[None]:
    """The database's failures as readable errors (no traceback)."""
    try:
        yield
    except registry.RegistryError as error:
        raise click.ClickException(str(error)) from None
    except (exc.ProgrammingError, exc.OperationalError) as error:
        # A missing table is UndefinedTable, a ProgrammingError.
        if isinstance(error, exc.ProgrammingError):
            raise click.ClickException(
                f"the database schema is missing or old ({error.orig}); "
                "run `ordersync db upgrade` first"
            ) from None
        raise click.ClickException(f"cannot reach the database: {error.orig}") from None


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(fn)


def print_rows(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(rows, default=str, indent=2))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ["(none)"]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row.values()))
    console.print(table)


class _Age(click.ParamType):
    """ "7d", "12h", "30m", "90s", "2w" → a timedelta."""

    name = "AGE"

    def convert(self, value: Any, param: Any, ctx: Any) -> timedelta:
        if isinstance(value, timedelta):
            return value
        try:
            return ages.parse_age(str(value))
        except ValueError as error:
            self.fail(str(error), param, ctx)


class _Time(click.ParamType):
    """An ISO 8601 time (a date alone is its midnight); without an offset, UTC."""

    name = "TIME"

    def convert(self, value: Any, param: Any, ctx: Any) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


parse_age, parse_time = _Age(), _Time()


def engine() -> sa.Engine:
    """An engine on the configured database (the caller disposes of it)."""
    return bootstrap.engine_for(settings())


@contextmanager
def database() -> Iterator[sa.Engine]:
    """An engine on the configured database for an action of several transactions (an
    audited one), with readable errors; disposed of at the end."""
    opened = engine()
    try:
        with database_errors():
            yield opened
    finally:
        opened.dispose()
