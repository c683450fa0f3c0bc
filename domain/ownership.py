"""Whose order it is: a channel reads and changes only its own orders.

Another channel's order is Forbidden (403), not NotFound: the issue's rule is "a channel
reads and changes only its own orders", and order ids are random UUIDs, so saying that
one exists tells a channel nothing it could use. An id that names no order is NotFound
for everyone. Systems and the operator (`channel` None) may see every order.
"""

from __future__ import annotations

import uuid

from domain.errors import Forbidden, NotFound
from domain.orders import Order


def own_order(order: Order | None, order_id: uuid.UUID, channel: str | None) -> Order:
    """The order, if the caller may have it: NotFound if there is none, Forbidden if it
    belongs to another channel than `channel` (None: any channel's)."""
    if order is None:
        raise NotFound(f"no order {order_id}")
    if channel is not None and order.channel != channel:
        raise Forbidden("the order belongs to another channel: a channel has only its own")
    return order
