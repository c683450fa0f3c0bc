"""Reading a system's paged list: {"items": [...], "next_cursor": "…" or null}, followed to
its end, every page checked against the item's schema.

A reply that does not match is a broken contract, a PermanentError naming what is wrong
(by field and message, never quoting the data: it may be a customer's).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from adapters.systems.errors import PermanentError
from adapters.systems.http import MAX_REASON, SystemClient

Item = TypeVar("Item", bound=BaseModel)
MAX_PAGES = 100_000  # a system whose cursors never end is broken, not busy


class Page(BaseModel, Generic[Item]):
    items: list[Item]
    next_cursor: str | None = None


def schema_errors(error: ValidationError) -> str:
    """Where a reply breaks its schema and how, without the values."""
    reasons = [
        f"{'.'.join(str(p) for p in e['loc']) or '(reply)'}: {e['msg']}" for e in error.errors()
    ]
    return "; ".join(reasons)[:MAX_REASON]


def read_pages(
    client: SystemClient,
    path: str,
    params: Mapping[str, str | int],
    item: type[Item],
    *,
    what: str,
) -> Iterator[Item]:
    """Every item of the list at `path`, page after page (`what` names it in errors)."""
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        query = {**params, **({"cursor": cursor} if cursor is not None else {})}
        reply = client.get(path, query)
        try:
            page = Page[item].model_validate(reply)  # type: ignore[valid-type]
        except ValidationError as error:
            raise PermanentError(
                client.system, f"malformed {what} reply: {schema_errors(error)}"
            ) from None
        yield from page.items
        if page.next_cursor is None:
            return
        if page.next_cursor in seen:
            raise PermanentError(client.system, f"the {what} list repeats a cursor")
        seen.add(page.next_cursor)
        cursor = page.next_cursor
    raise PermanentError(client.system, f"the {what} list did not end after {MAX_PAGES} pages")
