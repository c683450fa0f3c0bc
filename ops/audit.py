"""Operator actions, audited: `with audited(engine, "dlq.purge", ...) as entry:` records
who did what, with which filter, dry run or not, the counts the action set on `entry`,
and how it ended (ok, refused, failed) — in a transaction of its own, so an action that
fails or is interrupted is in the trail too."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from adapters.db import audit


class Refused(Exception):
    """An action the operator asked for that the product will not do (the message says why);
    audited as refused."""


@dataclass
class AuditEntry:
    counts: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None


def os_user() -> str:
    """Who runs a CLI command: the OS user (ORDERSYNC_OPERATOR names someone else, for
    shared service accounts)."""
    named = os.environ.get("ORDERSYNC_OPERATOR", "").strip()
    if named:
        return named[:128]
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid:{os.getuid()}"


@contextmanager
def audited(
    engine: sa.Engine,
    action: str,
    *,
    filter: dict[str, Any] | None = None,
    dry_run: bool = False,
    actor: str | None = None,
    via: str = "cli",
) -> Iterator[AuditEntry]:
    entry = AuditEntry()
    outcome, detail = "ok", None
    try:
        yield entry
    except Refused as error:
        outcome, detail = "refused", str(error)
        raise
    except (KeyboardInterrupt, SystemExit):
        outcome, detail = "failed", "interrupted"
        raise
    except Exception as error:
        outcome, detail = "failed", f"{type(error).__name__}: {error}"
        raise
    finally:
        with engine.begin() as conn:
            audit.record(
                conn,
                actor=actor or os_user(),
                via=via,
                action=action,
                filter=_plain(filter or {}),
                dry_run=dry_run,
                counts=_plain(entry.counts),
                outcome=outcome,
                detail=entry.detail if detail is None else detail,
            )


def _plain(value: Any) -> Any:
    """JSON-ready: datetimes and other values as their text."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
