"""What ordersync sends back to Amazon, in SP-API's own shapes.

- confirmShipment (Orders API v0), for a shipment of a merchant-fulfilled order:
  {"packageDetail": {"packageReferenceId", "carrierCode", "carrierName"?,
   "trackingNumber", "shipDate", "orderItems": [{"orderItemId", "quantity"}]},
   "marketplaceId"}. Amazon knows the order's items by OrderItemId, ordersync by line:
  a shipped line is the item whose SellerSKU is the line's SKU, else the item at the
  line's number among the items ordered (the normalizer numbers them in Amazon's order).
- patchListingsItem (Listings Items 2021-08-01), for what a SKU may sell:
  {"productType": "PRODUCT", "patches": [{"op": "replace",
   "path": "/attributes/fulfillment_availability",
   "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": N}]}]}
  ("PRODUCT" is the product type Amazon takes for an offer-only patch; DEFAULT is the
  merchant's own fulfilment channel).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from adapters.systems.errors import PermanentError
from adapters.systems.paging import schema_errors
from domain.events import ShipmentDispatched

DEFAULT_CHANNEL = "DEFAULT"
OTHER_CARRIER = "Other"
# Amazon's carrier codes for the carriers retailers name most (by ordersync's spelling,
# upper case); any other carrier is "Other", with its name in carrierName.
CARRIERS = {
    "UPS": "UPS",
    "USPS": "USPS",
    "FEDEX": "FedEx",
    "DHL": "DHL",
    "DHL EXPRESS": "DHL",
    "DPD": "DPD",
    "GLS": "GLS",
    "HERMES": "Hermes",
    "ROYAL MAIL": "Royal Mail",
    "CANADA POST": "Canada Post",
    "YAMATO": "Yamato Transport",
    "SAGAWA": "Sagawa Express",
    "JAPAN POST": "Japan Post",
    "CHRONOPOST": "Chronopost",
    "COLISSIMO": "Colissimo",
    "POSTNL": "PostNL",
    "BRT": "BRT",
    "SEUR": "SEUR",
    "CORREOS": "Correos",
    "AMAZON SHIPPING": "Amazon Shipping",
}


class _ItemRef(BaseModel):
    """An order item, as far as a shipment confirmation needs it."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    OrderItemId: Annotated[str, Field(min_length=1, max_length=64)]
    SellerSKU: Annotated[str, Field(min_length=1, max_length=255)]
    QuantityOrdered: Annotated[int, Field(ge=0)]


def package_reference(shipment_id: str) -> str:
    """Amazon takes only a positive number as a package's reference: one derived from
    the shipment's id, the same on every retry."""
    return str(int(hashlib.sha256(shipment_id.encode()).hexdigest()[:12], 16) + 1)


def carrier_fields(carrier: str) -> dict[str, str]:
    code = CARRIERS.get(carrier.strip().upper())
    return {"carrierCode": code} if code else {"carrierCode": OTHER_CARRIER, "carrierName": carrier}


def _item_refs(system: str, items: Sequence[Any]) -> list[_ItemRef]:
    try:
        return [_ItemRef.model_validate(item) for item in items]
    except ValidationError as error:
        reason = f"malformed getOrderItems reply: {schema_errors(error)}"
        raise PermanentError(system, reason) from None


def shipped_items(
    system: str, shipment: ShipmentDispatched, items: Sequence[Any]
) -> list[dict[str, Any]]:
    """The shipment's lines as Amazon's order items with the quantities shipped."""
    refs = _item_refs(system, items)
    ordered = [ref for ref in refs if ref.QuantityOrdered > 0]
    quantities: dict[str, int] = {}
    for line in shipment.lines:
        match = next((ref for ref in refs if ref.SellerSKU == line.sku), None)
        if match is None and 1 <= line.line_no <= len(ordered):
            match = ordered[line.line_no - 1]
        if match is None:
            raise PermanentError(
                system,
                f"shipment line {line.line_no} ({line.sku}) is no item of Amazon order "
                f"{shipment.external_id}",
            )
        quantities[match.OrderItemId] = quantities.get(match.OrderItemId, 0) + line.quantity
    return [{"orderItemId": item, "quantity": n} for item, n in quantities.items()]


def confirmation_document(
    shipment: ShipmentDispatched,
    order_items: list[dict[str, Any]],
    *,
    marketplace_id: str,
    shipped_at: datetime,
) -> dict[str, Any]:
    """confirmShipment's body for one package (ordersync's shipment)."""
    ship_date = shipped_at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "packageDetail": {
            "packageReferenceId": package_reference(shipment.shipment_id),
            **carrier_fields(shipment.carrier),
            "trackingNumber": shipment.tracking_number,
            "shipDate": ship_date,
            "orderItems": order_items,
        },
        "marketplaceId": marketplace_id,
    }


def listings_patch(quantity: int) -> dict[str, Any]:
    """patchListingsItem's body: the merchant-fulfilled quantity a SKU may sell."""
    return {
        "productType": "PRODUCT",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": DEFAULT_CHANNEL, "quantity": quantity}],
            }
        ],
    }


def fulfilled_by_amazon_only(listing: dict[str, Any]) -> bool:
    """getListingsItem's fulfillmentAvailability names only Amazon's channels (AMAZON_NA,
    AMAZON_EU…): an FBA-only SKU, whose stock is Amazon's to count, not ours to set."""
    offered = listing.get("fulfillmentAvailability")
    codes = [
        entry.get("fulfillmentChannelCode")
        for entry in (offered if isinstance(offered, list) else [])
        if isinstance(entry, dict)
    ]
    return bool(codes) and DEFAULT_CHANNEL not in codes
