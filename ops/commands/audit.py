"""`ordersync audit list`: the operator actions, from the CLI and /ops."""

from __future__ import annotations

from datetime import datetime

import click

from ops.commands.support import connection, json_option, parse_time, print_rows


@click.group()
def audit() -> None:
    """The audit trail of operator actions."""


@audit.command("list")
@click.option("--action", help="Only this action (e.g. outbox.replay, dlq.requeue).")
@click.option("--actor", help="Only what this operator (OS user or token name) did.")
@click.option("--since", type=parse_time, help="Only entries at or after this ISO time.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@json_option
def audit_list(
    action: str | None, actor: str | None, since: datetime | None, limit: int, as_json: bool
) -> None:
    """The newest entries first: who, what, the filter, dry run or not, counts, outcome."""
    from adapters.db.audit import list_audit

    with connection() as conn:
        rows = list_audit(conn, action=action, actor=actor, since=since, limit=limit)
    if not as_json:
        rows = [
            {**r, "filter": _compact(r["filter"]), "counts": _compact(r["counts"])} for r in rows
        ]
    print_rows(rows, as_json, "audit")


def _compact(data: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in data.items() if v not in (None, [], {}))
