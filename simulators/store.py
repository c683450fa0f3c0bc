"""The in-memory state of one simulated system: received documents, first answers, records.

Every accepted request is a document, kept with the first answer given for its
Idempotency-Key; a repeat of the key gets that answer back and only counts as a
duplicate. Requests refused by a fault or rejected as invalid record nothing,
so their retry is a first delivery, not a duplicate.

All state lives on the one event loop of the aiohttp app. Handlers look up a
key, apply the request and record its answer with no `await` in between, so two
concurrent requests with the same key cannot both apply.
"""

from __future__ import annotations

import hashlib
import json
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

    def public(self) -> dict[str, Any]:
        return {
            "idempotency_key": self.idempotency_key,
            "type": self.type,
            "channel": self.channel,
            "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
            "body": self.body,
            "duplicates": self.duplicates,
        }


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

    def reset(self) -> None:
        """Forget everything, faults included."""
        self.faults = Faults()
        self.documents.clear()
        self.answers.clear()
        self.records.clear()
        self.numbers.clear()

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
        self.numbers[prefix] = self.numbers.get(prefix, 0) + 1
        return f"{prefix}-{self.numbers[prefix]:06d}"

    @property
    def duplicates(self) -> int:
        return sum(d.duplicates for d in self.documents)

    def inspect(self, doc_type: str | None = None, channel: str | None = None) -> dict[str, Any]:
        """The inspection view: {"count", "duplicates", "documents"}, optionally filtered."""
        docs = [
            d
            for d in self.documents
            if (doc_type is None or d.type == doc_type)
            and (channel is None or d.channel == channel)
        ]
        return {
            "count": len(docs),
            "duplicates": sum(d.duplicates for d in docs),
            "documents": [d.public() for d in docs],
        }
