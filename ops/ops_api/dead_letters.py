"""/ops/dead-letters: list, show, requeue and purge, as `ordersync dlq`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from adapters.db.dead_letter_aggregate import surroundings
from adapters.db.dead_letters import ERROR_CLASSES, DeadLetterFilter, dead_letter
from adapters.db.dead_letters import list_dead_letters as dead_letter_rows
from adapters.http.keys import ENGINE
from adapters.http.middleware import json_body
from adapters.http.problems import ProblemError
from adapters.http.threads import run
from ops import dead_letters
from ops.ops_api.common import (
    Destination,
    Id,
    Text,
    json_response,
    operator,
    path_id,
    query_flag,
    query_texts,
    run_audited,
)


class DeadLetterSelection(BaseModel):
    """Which dead letters: `ids`, or the filters of `ordersync dlq list`, or `all`."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Id] = Field(default_factory=list, max_length=10_000)
    all: bool = False
    destinations: list[Destination] = Field(default_factory=list, max_length=64)
    error_classes: list[Text] = Field(default_factory=list, max_length=8)
    orders: list[Text] = Field(default_factory=list, max_length=10_000)
    since: datetime | None = None
    until: datetime | None = None
    dry_run: bool = False

    def where(self) -> DeadLetterFilter | None:
        chosen = [bool(self.ids), self.all, bool(self.filtered())]
        if sum(chosen) != 1:
            raise ProblemError(
                422, "Unprocessable Content", "give exactly one of ids, a filter, or all: true"
            )
        unknown = set(self.error_classes) - set(ERROR_CLASSES)
        if unknown:
            known = ", ".join(ERROR_CLASSES)
            raise ProblemError(
                422, "Unprocessable Content", f"unknown error class(es) {sorted(unknown)}: {known}"
            )
        return None if self.ids else DeadLetterFilter(**self.filtered())

    def filtered(self) -> dict[str, Any]:
        given = {
            "destinations": tuple(self.destinations),
            "error_classes": tuple(self.error_classes),
            "aggregate_ids": tuple(self.orders),
            "since": self.since,
            "until": self.until,
        }
        return {k: v for k, v in given.items() if v}


class PurgeRequest(DeadLetterSelection):
    reason: str = Field(min_length=1, max_length=500, pattern=r"^[^\x00]+$")


def _dead_letter_filter(request: web.Request) -> DeadLetterFilter:
    q = request.query
    classes = tuple(q.getall("error_class", []))
    if set(classes) - set(ERROR_CLASSES):
        raise ProblemError(400, "Bad Request", f"error_class is one of {', '.join(ERROR_CLASSES)}")
    return DeadLetterFilter(
        destinations=query_texts(request, "destination"),
        error_classes=classes,
        aggregate_ids=query_texts(request, "order"),
        include_resolved=query_flag(request, "include_resolved"),
    )


async def list_dead_letters(request: web.Request) -> web.Response:
    await operator(request)
    where = _dead_letter_filter(request)

    def read() -> list[dict[str, Any]]:
        with request.app[ENGINE].connect() as conn:
            return dead_letter_rows(conn, where)

    return json_response({"dead_letters": await run(request, read)})


async def get_dead_letter(request: web.Request) -> web.Response:
    await operator(request)
    letter_id = path_id(request, "dead_letter_id", "dead letter")

    def read() -> dict[str, Any] | None:
        with request.app[ENGINE].connect() as conn:
            letter = dead_letter(conn, letter_id)
            return None if letter is None else {**letter, **surroundings(conn, letter)}

    found = await run(request, read)
    if found is None:
        raise ProblemError(404, "Not Found", f"no dead letter with id {letter_id}")
    return json_response(found)


async def act_on_dead_letters(
    request: web.Request, body: DeadLetterSelection, action: str, verb: str, *, actor: str
) -> dict[str, Any]:
    """Requeue or purge the selected dead letters (or count them, on a dry run), audited."""
    where, engine = body.where(), request.app[ENGINE]

    def work(entry: Any) -> dict[str, Any]:
        with engine.connect() as conn:
            letters = dead_letters.select(conn, body.ids, where)
        if body.dry_run:
            entry.counts = {"selected": len(letters)}
            return {"dry_run": True, "selected": [letter["id"] for letter in letters]}
        if isinstance(body, PurgeRequest):
            report = dead_letters.purge(engine, letters, body.reason)
            entry.detail = body.reason
        else:
            report = dead_letters.requeue(engine, letters)
        entry.counts = report.counts(verb)
        outcomes = [{"id": r.id, "outcome": r.outcome} for r in report.results]
        return {**entry.counts, "results": outcomes}

    audit_filter = {"ids": body.ids, "all": body.all, **body.filtered()}
    done: dict[str, Any] = await run_audited(
        request, action, work, actor=actor, filter=audit_filter, dry_run=body.dry_run
    )
    return done


async def requeue_dead_letters(request: web.Request) -> web.Response:
    actor = await operator(request)
    body = DeadLetterSelection.model_validate(json_body(request))
    return json_response(await requeue(request, body, actor=actor))


async def requeue(request: web.Request, body: DeadLetterSelection, *, actor: str) -> Any:
    """Requeue the selected dead letters, as `ordersync dlq requeue` (audited)."""
    return await act_on_dead_letters(
        request, body, "dlq.requeue", dead_letters.REQUEUED, actor=actor
    )


async def purge_dead_letters(request: web.Request) -> web.Response:
    actor = await operator(request)
    body = PurgeRequest.model_validate(json_body(request))
    done = await act_on_dead_letters(request, body, "dlq.purge", dead_letters.PURGED, actor=actor)
    return json_response(done)
