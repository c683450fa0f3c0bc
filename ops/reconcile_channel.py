"""`ordersync reconcile --channel NAME`: channels lose webhooks, so read the orders the
channel lists as changed since its watermark and apply each through the path a door's
delivery takes: stored as an inbound delivery (adapters/channels/polled.py: one row per
listed order version, `poll:<external id>:<version time>`), then applied by the inbox —
the kind's commands (`ChannelKind.polled`), the business-version guard, SKU mapping and
the lifecycle's services in one transaction (domain/channel_sync.py). So a poll and a
webhook of the same order version write it once, whichever comes first; an Amazon FBA
order reserves nothing; a cancellation cancels.

What became of each listed order: *repaired* (ordersync lacked it: created), *updated*
(ordersync had an older version: changed to the channel's), *present* (it had this
version, or nothing in it is ordersync's to change), *differs* (ordersync has the order
but cannot take the channel's version of it: a higher quantity, a new line) or
*rejected* (the kind's model or the domain refuses it: an unknown SKU, say). The last
two are parked inbound deliveries: reported, replayable once fixed (`ordersync inbound
replay`, or the next run, which applies a parked row of the version it lists again)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from adapters.channels import CHANNELS
from adapters.channels.kind import ChannelKind, ListedOrder, ListOrders
from adapters.channels.polled import POLL_TOPIC, POLLED, body_of, delivery_id
from adapters.db import inbound, registry
from adapters.db.channel_credentials import outbound_credentials
from adapters.db.channel_sync_repository import SqlChannelSyncRepository
from adapters.db.watermarks import advance_watermark, read_watermark
from adapters.inbox import Inbox
from adapters.secretbox import SecretBox, SecretKeyMissing
from domain.channel_order_sync import CannotApply
from ops.audit import Refused, audited
from ops.reconcile import DEFAULT_LOOKBACK, next_watermark, window_start
from ops.wiring import ROUTING

OUTCOMES = ("repaired", "updated", "present", "differs", "rejected")
CHANGED = ("repaired", "updated")  # counted in channel_watermarks.repaired
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


def ingest(inbox: Inbox, kind: ChannelKind, channel: str, listed: ListedOrder) -> Ingested:
    """One listed order through the door's path (stored, then applied by the inbox); what
    became of it."""
    with inbox.engine.begin() as conn:
        row, _ = inbound.store(
            conn,
            channel=channel,
            kind=kind.name,
            delivery_id=delivery_id(listed),
            topic=POLL_TOPIC,
            headers={},
            body=body_of(listed),
            verification=POLLED,
        )
        # Whether ordersync had the order before: created (repaired) or changed (updated).
        known = bool(listed.external_id) and (
            SqlChannelSyncRepository(conn).order_id(channel, listed.external_id) is not None
        )
    # A parked row of this version (a run before) is tried again: its cause (an unmapped
    # SKU, say) may be fixed by now.
    applied = inbox.apply(row, replay=True)
    with inbox.engine.connect() as conn:
        stored = inbound.get(conn, row)
    assert stored is not None  # inbox rows are removed by nothing but their channel's
    order_id = str(stored.order_id) if stored.order_id else None
    external_id = stored.external_id or listed.external_id

    def result(outcome: str, reason: str = "") -> Ingested:
        return Ingested(external_id, listed.updated_at, outcome, order_id, reason)

    if stored.state == "parked":
        cannot = (stored.error or "").startswith(f"{CannotApply.code}:")
        return result("differs" if cannot else "rejected", stored.error or "")
    if stored.state == "received":  # the database or the inbox could not apply it now
        return result("rejected", f"not applied now: {stored.error or 'the database is away'}")
    if applied == "applied" and stored.error is None:
        return result("updated" if known else "repaired")
    return result("present", stored.error or "")  # stale, ignored, or applied before


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
    """Apply what the channel lists, through the door's path; audited as
    reconcile.channel. Without `since`, from the channel's watermark (none yet:
    DEFAULT_LOOKBACK ago)."""
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
        inbox = Inbox(engine, ROUTING, lambda _channel: None, notify=notify)
        results = [ingest(inbox, kind, name, one) for one in listed]
        mark = next_watermark(
            stored.watermark if stored else None,
            start,
            (o.updated_at for o in listed),
            now=looked_at,
            unsettled=(r.updated_at for r in results if r.outcome in UNSETTLED),
        )
        repaired = sum(1 for r in results if r.outcome in CHANGED)
        with engine.begin() as conn:
            saved = advance_watermark(conn, name, mark, repaired)
        report = ChannelReport(name, start, saved.watermark, saved.repaired, results)
        entry.counts |= {**report.counts(), "watermark": saved.watermark.isoformat()}
        return report
