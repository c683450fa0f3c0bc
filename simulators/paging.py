"""Paged reads of a simulated system's records: those changed since a time, page by page.

A record carries `seq` (its place in the list, from a counter of its system) and
`updated_at` (ISO 8601). A page lists records in `seq` order; its cursor is the last
`seq` served, so records added while a reader pages through the list are found at its
end, never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class BadQuery(ValueError):
    """A read's query string is not valid (400)."""


@dataclass(frozen=True, slots=True)
class PageQuery:
    since: datetime | None
    after: int  # the seq of the previous page's last record (0: from the start)
    limit: int


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def parse_time(text: str, name: str) -> datetime:
    """An ISO 8601 time (UTC when it names no offset), or BadQuery naming `name`."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{name} must be an ISO 8601 time (got {text!r})") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def page_query(query: Mapping[str, str], since: str) -> PageQuery:
    """The page asked for: `since` (the time parameter's name), `cursor`, `limit`."""
    cursor = query.get("cursor", "0")
    if not cursor.isdigit():
        raise BadQuery(f"cursor {cursor!r} was not issued by this system")
    limit = query.get("limit", str(DEFAULT_LIMIT))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
        raise BadQuery(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    moment = parse_time(query[since], since) if since in query else None
    return PageQuery(moment, int(cursor), int(limit))


def page(
    records: Iterable[dict[str, Any]],
    query: PageQuery,
    view: Callable[[dict[str, Any]], dict[str, Any]],
) -> dict[str, Any]:
    """{"items": [view(record)…], "next_cursor": "…" or null on the last page}."""
    eligible = sorted(
        (
            r
            for r in records
            if r["seq"] > query.after
            and (query.since is None or parse_time(r["updated_at"], "updated_at") >= query.since)
        ),
        key=lambda r: int(r["seq"]),
    )
    chunk = eligible[: query.limit]
    more = len(eligible) > query.limit
    return {
        "items": [view(r) for r in chunk],
        "next_cursor": str(chunk[-1]["seq"]) if more else None,
    }
