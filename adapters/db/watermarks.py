"""Channel watermarks: how far an inbound reconciliation of each channel has looked, and how
many lost orders it has repaired in all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from adapters.db.operations_tables import watermarks_table as w


@dataclass(frozen=True, slots=True)
class Watermark:
    channel: str
    watermark: datetime
    repaired: int  # cumulative, over every reconciliation of the channel


def read_watermark(conn: sa.Connection, channel: str) -> Watermark | None:
    row = conn.execute(
        sa.select(w.c.channel, w.c.watermark, w.c.repaired).where(w.c.channel == channel)
    ).first()
    return Watermark(*row) if row else None


def advance_watermark(
    conn: sa.Connection, channel: str, watermark: datetime, repaired: int
) -> Watermark:
    """Move the channel's watermark to `watermark` (never back: two runs at once keep the
    later one) and add `repaired` to its count."""
    row = insert(w).values(channel=channel, watermark=watermark, repaired=repaired)
    upsert = row.on_conflict_do_update(
        index_elements=[w.c.channel],
        set_={
            "watermark": sa.func.greatest(w.c.watermark, row.excluded.watermark),
            "repaired": w.c.repaired + row.excluded.repaired,
            "updated_at": sa.func.now(),
        },
    ).returning(w.c.channel, w.c.watermark, w.c.repaired)
    return Watermark(*conn.execute(upsert).one())
