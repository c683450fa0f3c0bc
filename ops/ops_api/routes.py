"""The /ops route table, one line a route."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from adapters.db.dead_letters import ERROR_CLASSES
from adapters.http.routes import Route
from ops.ops_api.audit import list_audit
from ops.ops_api.dead_letters import (
    DeadLetterSelection,
    PurgeRequest,
    get_dead_letter,
    list_dead_letters,
    purge_dead_letters,
    requeue_dead_letters,
)
from ops.ops_api.destinations import (
    PauseRequest,
    list_destinations,
    pause_destination,
    resume_destination,
)
from ops.ops_api.inbound import LIST_QUERY, get_inbound, list_inbound, replay_inbound
from ops.ops_api.outbox import (
    ReplayRequest,
    cancel_replay,
    get_replay,
    list_replays,
    outbox_stats,
    resume_replay,
    start_replay,
)
from ops.ops_api.reconcile import ReconcileRequest, reconcile

_LIST = {"type": "object", "additionalProperties": True}
_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}
_ACTION = {"name": "action", "in": "query", "schema": {"type": "string"}}
_DEAD_LETTER_QUERY = tuple(
    {"name": name, "in": "query", "schema": schema}
    for name, schema in (
        ("destination", {"type": "string"}),
        ("error_class", {"type": "string", "enum": list(ERROR_CLASSES)}),
        ("order", {"type": "string"}),
        ("include_resolved", {"type": "string", "enum": ["true", "false"]}),
    )
)


def _admin(
    method: str,
    path: str,
    handler: Callable[[web.Request], Any],
    summary: str,
    body: type[BaseModel] | None = None,
    ok: int = 200,
    query: tuple[dict[str, Any], ...] = (),
    problems: tuple[tuple[str, str], ...] = (),
) -> Route:
    """An /ops route: admin only, a JSON object back (its component named after the
    handler: list_replays → ListReplays)."""
    component = "".join(part.title() for part in handler.__name__.split("_"))
    return Route(
        method, path, handler, summary, "admin", body, ok, (component, _LIST), query, problems
    )


ROUTES: tuple[Route, ...] = (
    _admin("GET", "/ops/outbox/stats", outbox_stats, "Outbox backlog and relays"),
    _admin("POST", "/ops/replays", start_replay, "Start or dry-run a replay", ReplayRequest, 202),
    _admin("GET", "/ops/replays", list_replays, "Replays, newest first"),
    _admin("GET", "/ops/replays/{replay_id}", get_replay, "One replay"),
    _admin("POST", "/ops/replays/{replay_id}/cancel", cancel_replay, "Cancel a replay"),
    _admin("POST", "/ops/replays/{replay_id}/resume", resume_replay, "Resume one", ok=202),
    _admin("GET", "/ops/destinations", list_destinations, "Destinations and their breakers"),
    _admin("POST", "/ops/destinations/{name}/pause", pause_destination, "Pause", PauseRequest),
    _admin("POST", "/ops/destinations/{name}/resume", resume_destination, "Resume"),
    _admin("GET", "/ops/dead-letters", list_dead_letters, "Dead letters", query=_DEAD_LETTER_QUERY),
    _admin("GET", "/ops/dead-letters/{dead_letter_id}", get_dead_letter, "One dead letter"),
    _admin(
        "POST",
        "/ops/dead-letters/requeue",
        requeue_dead_letters,
        "Requeue dead letters (ids, a filter, or all)",
        DeadLetterSelection,
    ),
    _admin(
        "POST", "/ops/dead-letters/purge", purge_dead_letters, "Purge, with a reason", PurgeRequest
    ),
    _admin(
        "POST",
        "/ops/reconcile",
        reconcile,
        "Reconcile with a system or a channel",
        ReconcileRequest,
        problems=(("502", "The system or the channel could not be read; nothing changed"),),
    ),
    _admin(
        "GET", "/ops/audit", list_audit, "The audit trail, newest first", query=(_LIMIT, _ACTION)
    ),
    _admin(
        "GET", "/ops/inbound", list_inbound, "Channels' deliveries, newest first", query=LIST_QUERY
    ),
    _admin("GET", "/ops/inbound/{delivery_id}", get_inbound, "One delivery, raw body included"),
    _admin(
        "POST",
        "/ops/inbound/{delivery_id}/replay",
        replay_inbound,
        "Replay a parked delivery through the doors' apply path",
        problems=(("409", "The delivery is not parked (applied, stale or ignored)"),),
    ),
)
