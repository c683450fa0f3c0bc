"""The client of a Square seller's API, rooted at the channel's --api-url (Square's own:
https://connect.squareup.com; the simulator's: http://127.0.0.1:8090/channels/<name>).

Its credentials (the channel's outbound credentials, stored encrypted):
- `access_token`: sent as `Authorization: Bearer …`, with the Square-Version it speaks;
- `location_id`: the Square location whose stock this channel mirrors (inventory counts
  are per location);
- `store` (optional): our location code of that Square location, where its counter sales
  are taken from (without it, a location of ours named as the Square location id).

Inbound, it reads what a webhook only names: the order (RetrieveOrder) and its lines'
catalog variations (BatchRetrieveCatalogObjects, one call per order), for their SKUs.

Outbound, Square takes back one thing: the stock it may sell. inventory.changed becomes a
PHYSICAL_COUNT of the SKU's variation at the channel's location, quantity = the channel's
sellable figure, state IN_STOCK (BatchChangeInventory), under the delivery's
Idempotency-Key as Square's body `idempotency_key`. The variation is found by its SKU
(SearchCatalogObjects, exact `sku`): a SKU of ours the seller's catalog does not carry is
not sold there, and nothing is sent. Every other event (acknowledgements, holds,
shipments, refunds, returns…) has no call in Square's API that a seller's own dashboard
and tills do not already make: the kind's table sends nothing for them, saying why
(square.py, `nothing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from adapters.channels.canonical import ChannelClient, stock_document
from adapters.systems.errors import PermanentError
from adapters.systems.http import part_key
from domain.events import (
    InventoryChanged,
)

SQUARE_VERSION = "2025-01-23"
MAX_BATCH_RETRIEVE = 1000  # BatchRetrieveCatalogObjects takes at most 1000 ids
KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
REMEMBERED_KEYS = 1024  # deliveries whose count time a retry reuses


class SquareClient(ChannelClient):
    """Square's Orders, Catalog and Inventory APIs for one seller location."""

    def __init__(
        self,
        api_url: str,
        *,
        channel: str | None = None,
        credentials: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        given = dict(credentials or {})
        headers = {"Square-Version": SQUARE_VERSION, **options.pop("headers", {})}
        if given.get("access_token"):
            headers["Authorization"] = f"Bearer {given['access_token']}"
        super().__init__(api_url, channel=channel, headers=headers, **options)
        self.location_id = given.get("location_id")
        self.store = given.get("store")
        self._counted_at: dict[str, str] = {}

    # Inbound: what a notification names.

    def retrieve_order(self, order_id: str) -> dict[str, Any]:
        """RetrieveOrder's response ({"order": …}); a PermanentError (status 404) if Square
        has no such order."""
        return self.get(f"v2/orders/{order_id}")

    def variation_skus(self, object_ids: Iterable[str]) -> dict[str, str]:
        """Catalog object id → its variation's SKU, for the ids whose object is a variation
        with a SKU (deleted ones and those without a SKU are left out)."""
        wanted = sorted(set(object_ids))
        skus: dict[str, str] = {}
        for start in range(0, len(wanted), MAX_BATCH_RETRIEVE):
            reply = self._read(
                "v2/catalog/batch-retrieve",
                {"object_ids": wanted[start : start + MAX_BATCH_RETRIEVE]},
            )
            for obj in reply.get("objects") or []:
                data = obj.get("item_variation_data") if isinstance(obj, dict) else None
                sku = data.get("sku") if isinstance(data, dict) else None
                if obj.get("type") == "ITEM_VARIATION" and isinstance(sku, str) and sku.strip():
                    skus[str(obj["id"])] = sku.strip()
        return skus

    def variations_of(self, sku: str) -> list[str]:
        """The ids of the seller's variations whose SKU is exactly `sku`."""
        query = {
            "object_types": ["ITEM_VARIATION"],
            "query": {"exact_query": {"attribute_name": "sku", "attribute_value": sku}},
        }
        reply = self._read("v2/catalog/search", query)
        return sorted(
            str(obj["id"])
            for obj in reply.get("objects") or []
            if isinstance(obj, dict) and obj.get("type") == "ITEM_VARIATION" and obj.get("id")
        )

    def _read(self, path: str, query: Mapping[str, Any]) -> dict[str, Any]:
        """A read Square exposes as a POST (no Idempotency-Key needed; one is sent anyway,
        the base client's rule, derived from the query so a retry is the same request)."""
        return self.post(path, query, idempotency_key=part_key(path, repr(sorted(query.items()))))

    # Outbound: stock.

    def update_stock(self, change: InventoryChanged, *, idempotency_key: str) -> int:
        """Set the count of the SKU's variations at the channel's location to what the
        channel may sell; the quantity sent (nothing is sent for a SKU the catalog lacks)."""
        available = int(stock_document(change, self.channel)["available"])
        if not self.location_id:  # its configuration is incomplete: a dead letter says so
            raise PermanentError(self.system, "the channel's credentials name no location_id")
        variations = self.variations_of(change.sku)
        if not variations:
            return available
        document = {
            "idempotency_key": idempotency_key,
            "ignore_unchanged_counts": True,
            "changes": [
                {
                    "type": "PHYSICAL_COUNT",
                    "physical_count": {
                        "catalog_object_id": variation,
                        "location_id": self.location_id,
                        "state": "IN_STOCK",
                        "quantity": str(available),
                        "occurred_at": self._occurred_at(idempotency_key),
                    },
                }
                for variation in variations
            ],
        }
        try:
            self.post(
                "v2/inventory/changes/batch-create", document, idempotency_key=idempotency_key
            )
        except PermanentError as error:
            # Only this delivery uses its key: Square holds a request under it already, so
            # an earlier attempt was applied (its time was forgotten: another process).
            if error.status != 400 or KEY_REUSED not in error.reason:
                raise
        return available

    def _occurred_at(self, idempotency_key: str) -> str:
        """When the count was taken: now, the first time a delivery is sent; the same time
        when it is retried, so that the retry is the same request (Square refuses a key
        reused for another body, and replays the first answer to the same one)."""
        at = self._counted_at.pop(idempotency_key, None) or (
            datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        self._counted_at[idempotency_key] = at  # the newest last
        while len(self._counted_at) > REMEMBERED_KEYS:
            del self._counted_at[next(iter(self._counted_at))]
        return at
