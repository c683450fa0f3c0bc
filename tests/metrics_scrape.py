"""Reading Prometheus text exposition in tests: a scrape as {(sample name, labels): value},
and the difference of two scrapes."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Samples = dict[tuple[str, Labels], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by name (with its _total, _bucket… suffix) and labels."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def process_samples() -> Samples:
    """This process's default registry, as /metrics of a relay or worker shows it."""
    return parse(generate_latest(REGISTRY).decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (0 when the series does not exist yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much one series moved between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


def changed(before: Samples, after: Samples, prefix: str) -> Mapping[tuple[str, Labels], float]:
    """Every series of `prefix` that moved, and by how much."""
    keys = {k for k in (*before, *after) if k[0].startswith(prefix)}
    deltas = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in keys}
    return {k: d for k, d in deltas.items() if d}
