"""PromQL in tests: the series an expression reads, and the series ordersync exports (to
check alert rules and dashboards against the code)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry

from ops.metrics import business, delivery, ingest, relay  # noqa: F401 (their metrics)
from ops.metrics.backlog import DatabaseCollector, Reading

# Series Prometheus makes itself, not ordersync.
PROMETHEUS_OWN = {"up"}
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_series() -> set[str]:
    """Every series name ordersync's processes export: the default registry's metrics and
    the API's database collector (fed a reading, so no database is asked)."""
    database = CollectorRegistry()
    reading = Reading(time.monotonic(), datetime.now(UTC), [], {}, {})
    database.register(DatabaseCollector(engine=None, min_interval_s=3600, _last=reading))  # type: ignore[arg-type]
    names = set()
    for registry in (REGISTRY, database):
        for family in registry.collect():
            for suffix in SUFFIXES.get(family.type, ("",)):
                names.add(family.name + suffix)
    return names


PROMQL_WORDS = {
    *("sum", "max", "min", "avg", "count", "rate", "increase", "absent", "histogram_quantile"),
    *("and", "or", "unless", "by", "without", "on", "ignoring", "bool"),
}


def used_series(expr: str) -> set[str]:
    """The series names an expression reads: its identifiers, once label matchers, ranges,
    aggregation clauses and PromQL's own words are taken out."""
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    bare = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare))
    return names - PROMQL_WORDS
