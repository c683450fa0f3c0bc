"""The in-memory state of one simulated system: received documents, first answers, records,
and a log of every call.

Every accepted request is a document, kept with the first answer given for its
Idempotency-Key; a repeat of the key gets that answer back and only counts as a
duplicate. Requests refused by a fault or rejected as invalid record nothing,
so their retry is a first delivery, not a duplicate.

Every call that reaches a back-end route is also in the call log, in the order the
system received them, with what became of it (its outcome): `applied` (it became a
document), `replayed` (a known key: the first answer again), `failed` (a fault: 5xx or
429), `rejected` (422: the system refuses the document), `invalid` (400, or a key reused
for another document), `abandoned` (its client went away while it was held or delayed:
nothing applied). So "called once" and "called twice with the same key" can be told
apart: a document's `calls` counts every call that carried its key.

All state lives on the one event loop of the aiohttp app. Handlers look up a
key, apply the request and record its answer with no `await` in between, so two
concurrent requests with the same key cannot both apply.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulators.faults import Faults


class IdempotencyMismatch(Exception):
    """The Idempotency-Key was already used for a different request."""


@dataclass
class Document:
    idempotency_key: str
    type: str
    channel: str | None
    received_at: datetime
    body: dict[str, Any]
    duplicates: int = 0

    def public(self, calls: int) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "type": self.type,
            "channel": self.channel,
            "received_at": _iso(self.received_at),
            "body": self.body,
            "duplicates": self.duplicates,
            "calls": calls,
        }


OUTCOMES = ("applied", "replayed", "failed", "rejected", "invalid", "abandoned")


@dataclass(slots=True)
class CallRecord:
    """One call that reached a back-end route; `outcome` is None while it is in progress."""

    call: int  # 1, 2, 3… per system, in the order received
    idempotency_key: str
    path: str
    type: str
    peer: str  # the caller's address and port ("127.0.0.1:54321")
    received_at: datetime
    held: bool = False
    status: int | None = None
    outcome: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "call": self.call,
            "idempotency_key": self.idempotency_key,
            "path": self.path,
            "type": self.type,
            "peer": self.peer,
            "received_at": _iso(self.received_at),
            "held": self.held,
            "status": self.status,
            "outcome": self.outcome,
        }


@dataclass(slots=True)
class HeldCall:
    """A call waiting for POST /_sim/{system}/release; `connected` asks its socket."""

    record: CallRecord
    connected: Callable[[], bool]
    released: asyncio.Event = field(default_factory=asyncio.Event)
    held_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    reset: bool = False  # released by a reset: refused, as the system forgot it

    def public(self) -> dict[str, Any]:
        return {
            **self.record.public(),
            "held_at": _iso(self.held_at),
            "client_gone": not self.connected(),
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Answer:
    """The first answer to an Idempotency-Key, replayed byte for byte."""

    status: int
    body: bytes
    fingerprint: str
    document: Document


def fingerprint(method: str, path: str, body: Any) -> str:
    """What makes two requests "the same request" for one Idempotency-Key."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


@dataclass
class SystemStore:
    name: str
    faults: Faults = field(default_factory=Faults)
    documents: list[Document] = field(default_factory=list)
    answers: dict[str, Answer] = field(default_factory=dict)
    # The system's own records (sales orders, contacts…): collection → natural key → record.
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    numbers: dict[str, int] = field(default_factory=dict)
    calls: list[CallRecord] = field(default_factory=list)
    calls_by_key: dict[str, int] = field(default_factory=dict)
    held: dict[int, HeldCall] = field(default_factory=dict)
    failed_once: set[str] = field(default_factory=set)  # keys fail_once_rate has failed

    def reset(self) -> None:
        """Forget everything, faults included; held calls are refused (503), not applied."""
        for held in self.held.values():
            held.reset = True
        self.release()
        self.faults = Faults()
        self.documents.clear()
        self.answers.clear()
        self.records.clear()
        self.numbers.clear()
        self.calls.clear()
        self.calls_by_key.clear()
        self.failed_once.clear()

    def begin_call(self, key: str, path: str, doc_type: str, peer: str) -> CallRecord:
        """Log a call as it arrives (its outcome is set by `finish`)."""
        record = CallRecord(len(self.calls) + 1, key, path, doc_type, peer, datetime.now(UTC))
        self.calls.append(record)
        self.calls_by_key[key] = self.calls_by_key.get(key, 0) + 1
        return record

    @staticmethod
    def finish(record: CallRecord, status: int, outcome: str) -> None:
        assert outcome in OUTCOMES, outcome
        record.status, record.outcome = status, outcome

    def hold(self, record: CallRecord, connected: Callable[[], bool]) -> HeldCall:
        record.held = True
        held = self.held[record.call] = HeldCall(record, connected)
        return held

    def release(self) -> list[HeldCall]:
        """Stop holding, and let every held call go on; returns them (as they were held)."""
        self.faults.stop_holding()
        released = list(self.held.values())
        self.held.clear()
        for held in released:
            held.released.set()
        return released

    def calls_view(self, since: int = 0) -> dict[str, Any]:
        """The call log after call number `since`, and the calls per key (all of them)."""
        outcomes: dict[str, int] = {}
        for record in self.calls:
            name = record.outcome or "in_progress"
            outcomes[name] = outcomes.get(name, 0) + 1
        return {
            "total": len(self.calls),
            "outcomes": outcomes,
            "keys": dict(self.calls_by_key),
            "calls": [c.public() for c in self.calls[since:]],
        }

    def replay(self, key: str, print_: str) -> Answer | None:
        """The first answer to `key` (counting this repeat), or None if the key is new."""
        answer = self.answers.get(key)
        if answer is None:
            return None
        if answer.fingerprint != print_:
            raise IdempotencyMismatch(key)
        answer.document.duplicates += 1
        return answer

    def record(
        self,
        key: str,
        print_: str,
        doc_type: str,
        channel: str | None,
        body: dict[str, Any],
        answer: tuple[int, bytes],
    ) -> Document:
        """Keep an accepted request and the answer it got (status, body bytes)."""
        document = Document(key, doc_type, channel, datetime.now(UTC), body)
        self.documents.append(document)
        self.answers[key] = Answer(answer[0], answer[1], print_, document)
        return document

    def collection(self, name: str) -> dict[str, dict[str, Any]]:
        return self.records.setdefault(name, {})

    def next_number(self, prefix: str) -> str:
        """The next document number of a kind: SO-000001, SO-000002…"""
        return f"{prefix}-{self.next_seq(prefix):06d}"

    def next_seq(self, name: str) -> int:
        """The next number of a counter (1, 2, 3…): document numbers, records' list order."""
        self.numbers[name] = self.numbers.get(name, 0) + 1
        return self.numbers[name]

    @property
    def duplicates(self) -> int:
        return sum(d.duplicates for d in self.documents)

    def inspect(self, doc_type: str | None = None, channel: str | None = None) -> dict[str, Any]:
        """The inspection view: {"count", "duplicates", "calls", "documents"}, optionally
        filtered; `calls` counts every call that carried the documents' keys."""
        docs = [
            d
            for d in self.documents
            if (doc_type is None or d.type == doc_type)
            and (channel is None or d.channel == channel)
        ]
        calls = [self.calls_by_key.get(d.idempotency_key, 0) for d in docs]
        return {
            "count": len(docs),
            "duplicates": sum(d.duplicates for d in docs),
            "calls": sum(calls),
            "documents": [d.public(n) for d, n in zip(docs, calls, strict=True)],
        }
