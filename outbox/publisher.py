"""The publisher port: what the relay needs from a broker."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

from outbox.messages import OutgoingMessage


class PublisherError(Exception):
    """The broker cannot take messages now."""


@dataclass
class PublishOutcome:
    """Per delivery row: confirmed by the broker (safe to mark published), or failed."""

    confirmed: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)


class Publisher(abc.ABC):
    @abc.abstractmethod
    def connect(self, queues: Sequence[str]) -> None:
        """Connect and declare these queues (raises PublisherError)."""

    @abc.abstractmethod
    def publish(self, messages: Sequence[OutgoingMessage], timeout: float) -> PublishOutcome:
        """Publish persistently; a message counts as confirmed only when the broker says it
        was routed to its queue and stored. Never raises for a single message: failures
        are reported per message (a connection failure fails the whole batch)."""

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether publish() can be called without connect() first."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""
