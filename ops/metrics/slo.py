"""A histogram per service-level objective (domain/slo.py), its threshold a bucket bound,
so `le="<threshold>"` over `+Inf` is the share of journeys that met it."""

from __future__ import annotations

from prometheus_client import Histogram

from domain.slo import OBJECTIVES, ORDER_ACKNOWLEDGMENT, Objective

# Bucket bounds around each objective's scale: the API's acknowledgment is sub-second,
# the delivery journeys take seconds to hours (after an outage).
FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SLOW_BUCKETS: tuple[float, ...] = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
SLOW_BUCKETS += (900.0, 1800.0, 3600.0, 4 * 3600.0, 24 * 3600.0)


def metric_name(objective: Objective) -> str:
    """The histogram's name as Prometheus sees it (without _bucket/_sum/_count)."""
    return f"ordersync_slo_{objective.name}_seconds"


def buckets_for(objective: Objective) -> tuple[float, ...]:
    """The bucket bounds of an objective's histogram: its scale's, and its threshold."""
    base = FAST_BUCKETS if objective.threshold_seconds < 10 else SLOW_BUCKETS
    return tuple(sorted({*base, objective.threshold_seconds}))


def _histogram(objective: Objective) -> Histogram:
    # The acknowledgment is observed at the API (per channel); the others at the actor
    # that applies the delivery ending the journey (per destination).
    label = "channel" if objective.event_type is None else "destination"
    return Histogram(
        metric_name(objective)[: -len("_seconds")],
        f"{objective.title}: seconds per journey (objective: {objective.target:.0%} "
        f"within {objective.threshold_seconds:g} s)",
        [label],
        unit="seconds",
        buckets=buckets_for(objective),
    )


SLO_HISTOGRAMS: dict[str, Histogram] = {o.name: _histogram(o) for o in OBJECTIVES}
ACKNOWLEDGMENT = SLO_HISTOGRAMS[ORDER_ACKNOWLEDGMENT.name]
