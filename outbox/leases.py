"""Partition leases: each outbox partition is published by one relay at a time.

A lease is a PostgreSQL advisory lock held by the relay's own connection, so it
ends the moment that connection does: a relay killed with -9 loses its leases as
soon as the server sees the socket close (TCP keepalives bound that to seconds
when a whole host disappears). Relays also hold one "member" lock each, so every
relay can count the others and take a fair share of the partitions: no table,
no heartbeat rows, nothing to clean up.
"""

from __future__ import annotations

import math
from typing import Any

from outbox.partition import PARTITIONS

LEASE_CLASS = 0x4F53  # advisory lock key space (classid) of partition leases: "OS"
MEMBER_CLASS = 0x4F54  # … and of relay membership
MAX_RELAYS = 256

_COUNT_MEMBERS = """
SELECT count(*) FROM pg_locks
WHERE locktype = 'advisory' AND granted AND classid = %s AND objsubid = 2
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


class Leases:
    """The partitions one relay holds, through a dedicated autocommit psycopg connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.held: set[int] = set()
        self.slot: int | None = None

    def join(self) -> int:
        """Take a membership slot (the relay's number among the live relays)."""
        for slot in range(MAX_RELAYS):
            if self._try(MEMBER_CLASS, slot):
                self.slot = slot
                return slot
        raise RuntimeError(f"more than {MAX_RELAYS} relays on one database")

    def members(self) -> int:
        row = self.conn.execute(_COUNT_MEMBERS, (MEMBER_CLASS,)).fetchone()
        return max(int(row[0]), 1)

    def rebalance(self) -> set[int]:
        """Hold a fair share (ceil(partitions / relays)): release extra, take free ones."""
        share = math.ceil(PARTITIONS / self.members())
        for partition in sorted(self.held, reverse=True)[: max(len(self.held) - share, 0)]:
            self.conn.execute("SELECT pg_advisory_unlock(%s, %s)", (LEASE_CLASS, partition))
            self.held.discard(partition)
        if len(self.held) < share:
            # Start where this relay's slot points, so relays do not all race for
            # the same free partitions.
            start = ((self.slot or 0) * share) % PARTITIONS
            for offset in range(PARTITIONS):
                partition = (start + offset) % PARTITIONS
                if partition not in self.held and self._try(LEASE_CLASS, partition):
                    self.held.add(partition)
                    if len(self.held) >= share:
                        break
        return set(self.held)

    def release_all(self) -> None:
        self.conn.execute("SELECT pg_advisory_unlock_all()")
        self.held.clear()
        self.slot = None

    def _try(self, classid: int, key: int) -> bool:
        row = self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (classid, key)).fetchone()
        return bool(row[0])


HOLDERS = f"""
SELECT a.application_name, a.pid, array_agg(l.objid::int ORDER BY l.objid) AS partitions
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {LEASE_CLASS} AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
GROUP BY a.application_name, a.pid ORDER BY a.application_name, a.pid
"""
