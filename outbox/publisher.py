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


class Confirmations(abc.ABC):
    """The broker's answers for one batch handed to `Publisher.send`, still arriving."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> PublishOutcome:
        """Every message of the batch settled, or given up after `timeout` seconds
        (an unconfirmed message counts as failed: it is published again later)."""


class Settled(Confirmations):
    """Answers that were all in when `send` returned (a broker without confirms)."""

    def __init__(self, outcome: PublishOutcome) -> None:
        self.outcome = outcome

    def wait(self, timeout: float) -> PublishOutcome:
        return self.outcome


class Publisher(abc.ABC):
    @abc.abstractmethod
    def connect(self, queues: Sequence[str]) -> None:
        """Connect and declare these queues (raises PublisherError)."""

    @abc.abstractmethod
    def send(self, messages: Sequence[OutgoingMessage]) -> Confirmations:
        """Start publishing persistently and return at once; the confirmations arrive
        while the caller prepares the next batch. A message counts as confirmed only
        when the broker says it was routed to its queue and stored. Never raises for a
        single message: failures are reported per message (a connection failure fails
        the whole batch). Batches are published in the order they are sent."""

    def publish(self, messages: Sequence[OutgoingMessage], timeout: float) -> PublishOutcome:
        """Send and wait for every confirmation."""
        return self.send(messages).wait(timeout)

    @property
    @abc.abstractmethod
    def connected(self) -> bool:
        """Whether publish() can be called without connect() first."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""
