"""No personal data in a worker's log.

Dramatiq logs a message by its `str()`, which prints the actor's arguments: our
envelope, with the customer's name, e-mail, phone and addresses in its payload (at
ERROR on every unhandled failure, at WARNING when an ack fails, at DEBUG on receipt).
Our actors never let an exception reach Dramatiq's own logging (they raise only
`dramatiq.Retry`, which it does not log with the message), and this record factory
replaces every Dramatiq message or envelope in the arguments of a record logged by
Dramatiq (also by an actor's own logger, named after our module) with what identifies it —
the message id, the actor, and the envelope's event id, type, destination, aggregate
and sequence — so no code path can print a payload.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import dramatiq
from dramatiq.broker import MessageProxy
from dramatiq.message import Message
from pydantic import ValidationError

_installed = False
_DRAMATIQ_DIR = os.path.dirname(dramatiq.__file__)


def describe(message: Any) -> str:
    """A message as our logs name it: ids and routing, never the payload."""
    args = getattr(message, "args", ())
    fields = envelope_fields(args[0]) if args and isinstance(args[0], dict) else ""
    return f"message {message.message_id} ({message.actor_name}{' ' + fields if fields else ''})"


class _Described:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def envelope_fields(envelope: Any) -> str:
    """What identifies an envelope (or what an unreadable one claims): ids and routing."""
    if not isinstance(envelope, dict):
        return f"a {type(envelope).__name__}, not an envelope"
    known = ("event_id", "event_type", "destination", "aggregate_id", "sequence", "generation")
    return " ".join(f"{name}={envelope[name]}"[:80] for name in known if name in envelope)


def _safe(arg: Any) -> Any:
    if isinstance(arg, Message | MessageProxy):
        return _Described(describe(arg))
    if isinstance(arg, dict) and "payload" in arg:  # an envelope
        return _Described(f"envelope({envelope_fields(arg)})")
    if isinstance(arg, tuple | list) and any(isinstance(a, dict) for a in arg):
        return _Described(f"({', '.join(str(_safe(a)) for a in arg)})")  # an actor's args
    return arg


def _from_dramatiq(record: logging.LogRecord) -> bool:
    # The actor's own logger is named after the actor's module (ours), not Dramatiq's.
    return record.name.startswith("dramatiq") or f"{_DRAMATIQ_DIR}" in record.pathname


def install() -> None:
    """Redact Dramatiq messages and envelopes in every log record from now on (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if record.args and _from_dramatiq(record):
            if isinstance(record.args, tuple):
                record.args = tuple(_safe(a) for a in record.args)
            else:
                record.args = _safe(record.args)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def reason(error: BaseException) -> str:
    """An error as the ledger and the log record it: a pydantic error lists where and what,
    never the input it refused (which is the customer's data)."""
    if isinstance(error, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()
        ]
        return f"{error.title} invalid: " + "; ".join(parts)
    return f"{type(error).__name__}: {error}"
