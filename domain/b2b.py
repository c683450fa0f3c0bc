"""B2B terms' one rule beyond their shape: goods are not asked for on a date already past.

"Past" is past everywhere: a date before today in the earliest time zone (UTC−12), so a
buyer whose day began before ours (or ends after it) is never told their today is gone.
The rule is for a new order only — the same order sent again later (a retry, a
reconciliation) is the order already stored, and gets it back (domain/services.place_order).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.errors import ValidationFailed
from domain.orders import Order

EARLIEST_OFFSET = timedelta(hours=-12)  # the westernmost time zone: the last to leave a day
FIELD = "b2b.requested_delivery_date"


def earliest_today(now: datetime | None = None) -> date:
    """The date that is still today somewhere on Earth, the earliest of them."""
    return ((now or datetime.now(UTC)).astimezone(UTC) + EARLIEST_OFFSET).date()


def late_delivery(order: Order, now: datetime | None = None) -> ValidationFailed | None:
    """The 422 for an order whose requested delivery date is past (None: it is not)."""
    wanted = (order.b2b or {}).get("requested_delivery_date")
    if wanted is None or date.fromisoformat(wanted) >= earliest_today(now):
        return None
    message = f"the requested delivery date {wanted} is in the past"
    return ValidationFailed(message, errors=[{"field": FIELD, "message": message}])
