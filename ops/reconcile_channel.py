"""`ordersync reconcile --channel NAME`: channels lose webhooks, so read the orders the
channel lists as changed since its watermark and ingest each one ordersync lacks through
the path of a live order — the kind's normalizer, then place_order in a unit of work with
the product's routing — so idempotency, stock and the outbox behave exactly as for a
webhook. An order ordersync has is left as it is (place_order returns the stored one:
present); one it has with other content differs, and one the normalizer or the domain
refuses is rejected, both reported and left to the operator."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from adapters.channels import CHANNELS
from adapters.channels.kind import ChannelKind, ListedOrder, ListOrders
from adapters.db import registry
from adapters.db.channel_credentials import outbound_credentials
from adapters.db.uow import SqlUnitOfWork
from adapters.db.watermarks import advance_watermark, read_watermark
from adapters.secretbox import SecretBox, SecretKeyMissing
from adapters.systems.paging import schema_errors
from domain.errors import DuplicateMismatch, ValidationFailed
from domain.services import place_order, retrying
from ops.audit import Refused, audited
from ops.reconcile import DEFAULT_LOOKBACK, next_watermark, window_start
from ops.wiring import ROUTING
from outbox.writer import TraceContext

OUTCOMES = ("repaired", "present", "differs", "rejected")
UNSETTLED = ("differs", "rejected")  # looked at again by the next run (next_watermark)


@dataclass(frozen=True, slots=True)
class Ingested:
    external_id: str
    updated_at: datetime
    outcome: str  # one of OUTCOMES
    order_id: str | None = None
    reason: str = ""


@dataclass
class ChannelReport:
    channel: str
    since: datetime  # where this run looked from
    watermark: datetime  # where the next one will
    repaired_in_all: int  # over every reconciliation of the channel
    results: list[Ingested]

    def counts(self) -> dict[str, int]:
        counts = {outcome: 0 for outcome in OUTCOMES}
        for result in self.results:
            counts[result.outcome] += 1
        return {"listed": len(self.results), **counts}

    @property
    def clean(self) -> bool:
        """Every listed order is in ordersync now, as the channel has it."""
        counts = self.counts()
        return counts["differs"] == counts["rejected"] == 0

    def as_json(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "since": self.since.isoformat(),
            "watermark": self.watermark.isoformat(),
            "clean": self.clean,
            "counts": self.counts(),
            "repaired_in_all": self.repaired_in_all,
            "orders": [{**asdict(r), "updated_at": r.updated_at.isoformat()} for r in self.results],
        }


def ingest(
    new_uow: Callable[[], SqlUnitOfWork], kind: ChannelKind, channel: str, listed: ListedOrder
) -> Ingested:
    """One listed order through the live path; what became of it."""
    document = listed.document
    external_id = str(document.get("external_id", "")) if isinstance(document, dict) else ""

    def result(outcome: str, order_id: str | None = None, reason: str = "") -> Ingested:
        return Ingested(external_id, listed.updated_at, outcome, order_id, reason)

    try:
        command = kind.normalize(document)
    except ValidationError as error:
        return result("rejected", reason=schema_errors(error))
    try:
        order, created = retrying(lambda: place_order(new_uow(), command, channel=channel))
    except DuplicateMismatch as error:
        return result("differs", str(error.extra.get("order_id") or "") or None, error.detail)
    except ValidationFailed as error:
        return result("rejected", reason=error.detail)
    return result("repaired" if created else "present", str(order.id))


def _listable(conn: sa.Connection, name: str) -> tuple[ChannelKind, ListOrders, str]:
    """The channel's kind, how it lists orders and where; Refused, saying why, if it cannot."""
    channel = next((c for c in registry.list_channels(conn) if c["name"] == name), None)
    if channel is None:
        raise Refused(f"no channel named {name!r} (see `ordersync channel list`)")
    if channel["disabled_at"] is not None:
        raise Refused(f"channel {name!r} is disabled")
    kind = CHANNELS[str(channel["kind"])]
    if not channel["api_url"]:
        raise Refused(f"channel {name!r} has no --api-url: there is no list of its orders to read")
    if kind.list_orders is None:
        raise Refused(f"channels of kind {kind.name!r} cannot list their orders")
    return kind, kind.list_orders, str(channel["api_url"])


def reconcile_channel(
    engine: sa.Engine,
    name: str,
    *,
    since: datetime | None = None,
    notify: bool = False,
    read_timeout_s: float = 5.0,
    actor: str | None = None,
    via: str = "cli",
    secret_box: SecretBox | None = None,
) -> ChannelReport:
    """Ingest what the channel lists and ordersync lacks; audited as reconcile.channel.
    Without `since`, from the channel's watermark (none yet: DEFAULT_LOOKBACK ago)."""
    flt = {"channel": name, "since": since}
    with audited(engine, "reconcile.channel", filter=flt, actor=actor, via=via) as entry:
        with engine.connect() as conn:
            kind, list_orders, url = _listable(conn, name)
            try:
                credentials = outbound_credentials(conn, name, secret_box or SecretBox(None))
            except SecretKeyMissing as error:
                raise Refused(f"channel {name!r}: its outbound credentials: {error}") from None
            stored = read_watermark(conn, name)
        start = window_start(since) if since else None
        start = start or (stored.watermark if stored else datetime.now(UTC) - DEFAULT_LOOKBACK)
        entry.counts["from"] = start.isoformat()
        client = kind.client(
            url, channel=name, read_timeout_s=read_timeout_s, credentials=credentials
        )
        looked_at = datetime.now(UTC)
        try:
            # All of it first: a list that breaks off midway ingests nothing.
            listed = sorted(list_orders(client, start), key=lambda o: o.updated_at)
        finally:
            client.close()
        context = TraceContext(correlation_id=str(uuid.uuid4()), causation_id="reconcile.channel")

        def new_uow() -> SqlUnitOfWork:
            return SqlUnitOfWork(engine, context, routing=ROUTING, notify=notify)

        results = [ingest(new_uow, kind, name, one) for one in listed]
        mark = next_watermark(
            stored.watermark if stored else None,
            start,
            (o.updated_at for o in listed),
            now=looked_at,
            unsettled=(r.updated_at for r in results if r.outcome in UNSETTLED),
        )
        repaired = sum(1 for r in results if r.outcome == "repaired")
        with engine.begin() as conn:
            saved = advance_watermark(conn, name, mark, repaired)
        report = ChannelReport(name, start, saved.watermark, saved.repaired, results)
        entry.counts |= {**report.counts(), "watermark": saved.watermark.isoformat()}
        return report
