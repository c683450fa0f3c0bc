"""The fake ERP's arithmetic: amounts in the minor units of the currencies it books (like a
real ERP it knows them; it imports nothing of ordersync), the per-unit split of a line's
discount and tax by largest remainder, and where its documents are kept."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from simulators.endpoint import Rejected
from simulators.store import SystemStore

# The currencies whose minor unit is not the cent (ISO 4217); every other has two decimals.
_EXPONENTS = {"BHD": 3, "JOD": 3, "KWD": 3, "OMR": 3, "TND": 3, "CLP": 0, "ISK": 0, "JPY": 0}
_EXPONENTS |= {"KRW": 0, "VND": 0, "UGX": 0, "PYG": 0, "XAF": 0, "XOF": 0}
COMPONENTS = ("net", "tax", "shipping", "shipping_tax", "total")


def minor(amount: Decimal | str, currency: str) -> int:
    """An amount in minor units; one finer than the currency's unit is refused."""
    scaled = Decimal(amount).scaleb(_EXPONENTS.get(currency, 2))
    if scaled != scaled.to_integral_value():
        raise Rejected(f"{amount} has more decimals than {currency} has")
    return int(scaled)


def major(units: int, currency: str) -> str:
    exponent = _EXPONENTS.get(currency, 2)
    return str(Decimal(units).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))


def unit_range(total: int, units: int, start: int, count: int) -> int:
    """Units [start, start + count) of `total` shared over `units` by largest remainder."""
    base, remainder = divmod(total, units)
    return base * count + max(0, min(start + count, remainder) - min(start, remainder))


def sales_order_of(store: SystemStore, order_ref: str) -> dict[str, Any]:
    known = store.collection("sales_orders").get(order_ref)
    if known is None:
        raise Rejected(f"unknown sales order {order_ref!r}: post the sales order first")
    return known


def documents_of(store: SystemStore, name: str, order_ref: str) -> list[dict[str, Any]]:
    return [d for d in store.collection(name).values() if d["order_ref"] == order_ref]


def units_of(documents: list[dict[str, Any]]) -> dict[int, int]:
    units: dict[int, int] = {}
    for document in documents:
        for line in document["lines"]:
            if "line_no" in line:
                units[line["line_no"]] = units.get(line["line_no"], 0) + int(line["quantity"])
    return units


def minor_part(document: dict[str, Any], name: str) -> int:
    return int(document.get("minor", {}).get(name, 0))
