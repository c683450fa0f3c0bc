"""What every benchmark shares: where the local services are, and the statistics."""

from __future__ import annotations

import math
import statistics

SERVER = "postgresql://postgres@127.0.0.1:5432"
AMQP = "amqp://guest:guest@127.0.0.1:5672"


def sa_url(db: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"


def raw_dsn(db: str) -> str:
    return f"{SERVER}/{db}"


def amqp_url(vhost: str) -> str:
    return f"{AMQP}/{vhost}"


def pct(values: list[float], p: float) -> float:
    """The p-th percentile, nearest rank (nan for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def med(values: list[float]) -> float:
    """The median of the values that are numbers (nan for none)."""
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else float("nan")
