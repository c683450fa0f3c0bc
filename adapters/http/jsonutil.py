"""JSON in and out: numbers parse as Decimal (no float ever touches money)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))


def loads(raw: bytes) -> Any:
    """Parse JSON with exact decimals; raises ValueError on malformed input."""
    return json.loads(raw, parse_float=Decimal)
