"""What goes back to a channel names its own SKUs: our SKUs in an event's payload become
the channel's (adapters/db/sku_map.py, `ordersync sku map`) before the kind's handler reads
it — in one place, for every kind and every event, so no kind looks a mapping up itself.

Every "sku" in a payload is one of ours (an InventoryChanged's SKU, the lines of a
shipment, a cancellation, a refund, a return, an amendment), wherever it is nested; a SKU
the channel has no mapping for is sent as it is. The envelope's identity (event id,
aggregate, Idempotency-Key) is unchanged: only what the channel is told is."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from outbox.envelope import Envelope


def in_channel_skus(envelope: Envelope, theirs: Mapping[str, str]) -> Envelope:
    """The envelope with each mapped SKU of ours in its payload as the channel's."""
    if not theirs:
        return envelope
    payload = _mapped(envelope.payload, theirs)
    if payload == envelope.payload:
        return envelope
    return envelope.model_copy(update={"payload": payload})


def _mapped(value: Any, theirs: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {
            key: theirs.get(item, item)
            if key == "sku" and isinstance(item, str)
            else _mapped(item, theirs)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_mapped(item, theirs) for item in value]
    return value
