"""`ordersync hold-rule add|list|remove`: the rules that screen orders at acceptance
(configuration in the database, per channel or for every channel), each change audited."""

from __future__ import annotations

from typing import Any

import click

from adapters.db import hold_rules
from adapters.db.registry import RegistryError
from domain.errors import ValidationFailed
from domain.holds import KINDS
from ops import audit
from ops.commands.support import connection, database, json_option, print_rows

_VALUES = (
    "payment_not_authorized and country_mismatch take no value; amount_over takes "
    '"AMOUNT CURRENCY" ("1000.00 EUR": a grand total above it, in that currency); '
    "blocked_customer an e-mail (compared trimmed and lower-case); blocked_address "
    '"LINE1|POSTAL_CODE|COUNTRY" (compared without case or spaces, shipping or billing).'
)


@click.group("hold-rule")
def hold_rule() -> None:
    """Rules that put an order on hold when it is accepted."""


@hold_rule.command("add", epilog=_VALUES)
@click.option("--kind", required=True, type=click.Choice(KINDS), help="What the rule checks.")
@click.option("--channel", help="Only this channel's orders (default: every channel).")
@click.option("--value", help="The threshold or what is blocked (see below).")
def hold_rule_add(kind: str, channel: str | None, value: str | None) -> None:
    """Add a rule; a rule that exists already is refused."""
    asked = {"kind": kind, "channel": channel, "value": value}
    with database() as engine:
        try:
            with audit.audited(engine, "hold-rule.add", filter=asked) as entry:
                try:
                    with engine.begin() as conn:
                        row = hold_rules.add_rule(
                            conn, kind, channel=channel, value=value, created_by=audit.os_user()
                        )
                except (ValidationFailed, RegistryError) as error:
                    raise audit.Refused(str(error)) from None
                entry.counts = {"rule": row["id"]}
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None
    click.echo(f"hold rule {row['id']} added: {_described(row)}")


@hold_rule.command("list")
@click.option("--channel", help="The rules that screen this channel's orders.")
@json_option
def hold_rule_list(channel: str | None, as_json: bool) -> None:
    """The rules, by id."""
    with connection() as conn:
        rows = hold_rules.list_rules(conn, channel)
    if not as_json:  # the table: what an operator reads (the JSON has every column)
        rows = [
            {
                "id": r["id"],
                "channel": r["channel"] or "(every channel)",
                "kind": r["kind"],
                "value": r["value"],
                "by": r["created_by"],
            }
            for r in rows
        ]
    print_rows(rows, as_json, "hold rules")


@hold_rule.command("remove")
@click.argument("rule_id", metavar="ID", type=click.IntRange(min=1))
def hold_rule_remove(rule_id: int) -> None:
    """Remove rule ID (orders held by it stay held until released)."""
    with database() as engine:
        try:
            with audit.audited(engine, "hold-rule.remove", filter={"id": rule_id}) as entry:
                with engine.begin() as conn:
                    row = hold_rules.remove_rule(conn, rule_id)
                if row is None:
                    raise audit.Refused(f"no hold rule {rule_id}")
                entry.detail = _described(row)
        except audit.Refused as refused:
            raise click.ClickException(str(refused)) from None
    click.echo(f"hold rule {rule_id} removed: {_described(row)}")


def _described(row: dict[str, Any]) -> str:
    value = f" {row['value']}" if row["value"] else ""
    return f"{row['kind']}{value} for {row['channel'] or 'every channel'}"
