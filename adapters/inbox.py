"""Applying what the doors stored: one code path for the door's own applier (right after
its 2xx), the API process's sweeper (rows left `received`: a crash between the door's
commit and its apply, a channel API that did not answer) and `ordersync inbound replay`.

For one inbox row: read it; interpret it — the kind's `interpret` turns the stored
request into canonical commands, reading the channel's API where the kind must (Amazon,
Square), outside any transaction (a row `ordersync reconcile --channel` stored, topic
"poll", is an order the channel listed: the kind's `polled` makes its commands, the rest
is the same); then, in ONE transaction, claim the row (FOR UPDATE SKIP LOCKED: whoever
holds it applies it, the others skip it), apply the commands with their business
versions (domain/channel_sync.py) and mark the row applied, stale or ignored. A delivery
that cannot be applied as it is — a document the kind's model refuses, an unknown SKU, a
change the lifecycle cannot make, a bug — is rolled back and parked in a transaction of
its own with its error (an inbound dead letter: `ordersync inbound list`, replayable once
fixed); a channel API that fails for now leaves the row `received` for the
sweeper, until MAX_ATTEMPTS; a database that is away leaves it as it is.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError

from adapters.channels import CHANNELS
from adapters.channels.kind import ChannelKinds
from adapters.channels.polled import POLL_TOPIC, NotAListedOrder, listed_of
from adapters.channels.webhook import InboundRequest, InvalidDelivery, Receipt
from adapters.db import inbound, registry
from adapters.db.errors import DATABASE_ERRORS, DatabaseUnavailable, PersistenceError
from adapters.db.hold_rules import CachedHoldRules
from adapters.db.uow import SqlUnitOfWork
from adapters.secretbox import SecretBox, SecretKeyMissing
from adapters.systems.errors import PermanentError, TransientError
from domain.channel_commands import ChannelCommand
from domain.channel_sync import apply_delivery
from domain.errors import DomainError
from domain.services import retrying
from outbox.routing import Routing
from outbox.writer import TraceContext

log = logging.getLogger("ordersync.inbox")
MAX_ATTEMPTS = 10  # a channel API failing for now: tried this often, then parked
REPLAYABLE = ("received", "parked")


class Unappliable(Exception):
    """The delivery cannot be interpreted here as it is stored (parked with the reason)."""


def described(error: BaseException) -> str:
    """An error as the parked row shows it: what is wrong, field by field for a document."""
    if isinstance(error, ValidationError):
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in error.errors()
        ]
        shown = "; ".join(problems[:10]) + ("; …" if len(problems) > 10 else "")
        return f"{error.title}: {len(problems)} invalid field(s): {shown}"
    if isinstance(error, DomainError):
        return f"{error.code}: {error.detail}"
    if isinstance(error, InvalidDelivery | Unappliable | PermanentError | TransientError):
        return str(error)
    return f"{type(error).__name__}: {error}"


@dataclass
class ChannelClients:
    """The kind's client of each channel that has an --api-url (for `interpret`'s reads),
    made once per process and made again when the channel's URL or credentials change."""

    engine: sa.Engine
    box: SecretBox
    kinds: ChannelKinds = field(default_factory=lambda: CHANNELS)
    read_timeout_s: float = 5.0
    _made: dict[str, tuple[tuple[Any, ...], Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, channel: str) -> Any:
        with self.engine.connect() as conn:
            row = inbound.channel_row(conn, channel)
        if row is None or row.api_url is None:
            return None
        key = (row.kind, row.api_url, row.credentials_ciphertext)
        with self._lock:
            made = self._made.get(channel)
            if made is not None and made[0] == key:
                return made[1]
        options: dict[str, Any] = {"channel": channel, "read_timeout_s": self.read_timeout_s}
        if row.credentials_ciphertext:
            try:
                options["credentials"] = json.loads(self.box.open(row.credentials_ciphertext))
            except (SecretKeyMissing, ValueError) as error:
                raise Unappliable(f"the channel's credentials cannot be read: {error}") from None
        client = self.kinds[row.kind].client(row.api_url, **options)
        with self._lock:
            self._made[channel] = (key, client)
        return client

    def close(self) -> None:
        with self._lock:
            for _, client in self._made.values():
                client.close()
            self._made.clear()


@dataclass
class Inbox:
    engine: sa.Engine
    routing: Routing
    clients: Callable[[str], Any]  # channel → the kind's client of its API, or None
    kinds: ChannelKinds = field(default_factory=lambda: CHANNELS)
    channels: Callable[[sa.Connection], list[str]] = registry.active_channel_names
    hold_rules: CachedHoldRules | None = None
    notify: bool = False

    def apply(self, delivery: int, *, replay: bool = False) -> str | None:
        """Apply one stored delivery; its state afterwards. None: nothing was done — no
        such row, not in a state to apply (`replay`: parked ones too), or another applier
        holds it."""
        states = REPLAYABLE if replay else ("received",)
        try:
            with self.engine.connect() as conn:
                stored = inbound.get(conn, delivery)
            if stored is None or stored.state not in states:
                return None
            return self._apply(stored, states)
        except (PersistenceError, *DATABASE_ERRORS) as error:
            log.warning(
                "inbound delivery %s not applied now (%s): the sweeper retries", delivery, error
            )
            return "received"

    def _apply(self, stored: inbound.StoredDelivery, states: Sequence[str]) -> str | None:
        try:
            commands = self._interpret(stored)
        except TransientError as error:
            if stored.attempts + 1 < MAX_ATTEMPTS:
                inbound_write(self.engine, inbound.retry_later, stored.id, described(error), states)
                return "received"
            return self._park(stored, f"after {MAX_ATTEMPTS} attempts: {described(error)}", states)
        except (ValidationError, InvalidDelivery, Unappliable, DomainError, PermanentError) as e:
            return self._park(stored, described(e), states)
        except Exception as error:  # a bug in a kind's interpret: parked, never lost
            log.exception("inbound delivery %s: interpreting it failed", stored.id)
            return self._park(stored, described(error), states)
        try:
            return retrying(lambda: self._apply_once(stored, commands, states))
        except (ValidationError, InvalidDelivery, DomainError) as error:
            return self._park(stored, described(error), states)
        except DatabaseUnavailable:
            raise  # not the delivery's fault: it stays received for the sweeper
        except Exception as error:  # a bug (a constraint we broke, say): parked, rolled back
            log.exception("inbound delivery %s: applying it failed", stored.id)
            return self._park(stored, described(error), states)

    def _interpret(self, stored: inbound.StoredDelivery) -> Sequence[ChannelCommand]:
        kind = self.kinds.get(stored.kind)
        if stored.body is None:
            raise Unappliable("its raw body was removed by the retention (nothing to apply)")
        if stored.topic == POLL_TOPIC:  # an order the channel listed (adapters/channels/polled.py)
            if kind is None:
                raise Unappliable(f"channel kind {stored.kind!r} is not known here any more")
            try:
                return kind.polled(listed_of(stored.body))
            except NotAListedOrder as error:
                raise Unappliable(str(error)) from None
        if kind is None or kind.webhook is None:
            raise Unappliable(f"channel kind {stored.kind!r} has no door here any more")
        request = InboundRequest(
            stored.body, stored.headers, _header(stored.headers, "content-type") or ""
        )
        receipt = Receipt(stored.delivery_id, stored.topic)
        return kind.webhook.interpret(receipt, request, self.clients(stored.channel))

    def _apply_once(
        self,
        stored: inbound.StoredDelivery,
        commands: Sequence[ChannelCommand],
        states: Sequence[str],
    ) -> str | None:
        # The door's correlation id and trace (older rows have none: their own name).
        context = TraceContext(
            correlation_id=stored.correlation_id or f"inbound-{stored.id}",
            causation_id=f"inbound:{stored.delivery_id}"[:64],
            traceparent=stored.traceparent,
            tracestate=stored.tracestate,
        )
        uow = SqlUnitOfWork(
            self.engine,
            context,
            routing=self.routing,
            notify=self.notify,
            channels=self.channels,
            caller=f"channel:{stored.channel}",
            hold_rules=self.hold_rules,
        )
        with uow:
            if inbound.claim(uow.connection, stored.id, states) is None:
                return None  # another applier has it, or had it
            outcome = apply_delivery(uow, commands, channel=stored.channel, delivery=stored.id)
            inbound.finish(
                uow.connection,
                stored.id,
                outcome.state,
                note=outcome.note,
                external_id=outcome.external_id,
                order_id=outcome.order_id,
            )
            uow.commit()
        return outcome.state

    def _park(
        self, stored: inbound.StoredDelivery, error: str, states: Sequence[str]
    ) -> str | None:
        log.warning("inbound delivery %s (%s) parked: %s", stored.id, stored.channel, error)
        parked = inbound_write(self.engine, inbound.park, stored.id, error, states)
        return "parked" if parked else None

    def sweep(self, older_than_s: float, limit: int = 100) -> int:
        """Apply the rows still `received` after `older_than_s`; how many were tried."""
        with self.engine.connect() as conn:
            waiting = inbound.pending(conn, older_than_s, limit)
        for delivery in waiting:
            self.apply(delivery)
        return len(waiting)

    def settle(self, timeout_s: float = 10.0) -> int:
        """Apply every row still `received` now, until none is left (tests and tools); how
        many were applied."""
        deadline, done = time.monotonic() + timeout_s, 0
        while time.monotonic() < deadline:
            tried = self.sweep(0.0)
            if not tried:
                return done
            done += tried
        return done


def inbound_write(engine: sa.Engine, write: Callable[..., bool], *args: Any) -> bool:
    with engine.begin() as conn:
        return write(conn, *args)


def _header(headers: dict[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name), None)
