"""Aggregates map to a fixed number of partitions; one relay holds a partition at a time."""

from __future__ import annotations

import zlib

# Fixed forever once rows exist: the partition is stored with each row. 64 lets
# up to 64 relays share the work and keeps leases cheap to take and check.
PARTITIONS = 64


def partition_of(aggregate_type: str, aggregate_id: str) -> int:
    """A stable partition (crc32, not hash(): that differs per process)."""
    return zlib.crc32(f"{aggregate_type}:{aggregate_id}".encode()) % PARTITIONS
