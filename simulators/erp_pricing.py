"""The fake ERP prices each invoice from its sales order as it now is (amended lines
included): each unit of a line carries an equal share of its discount and tax by largest
remainder in the currency's minor units, an invoice takes each line's next uninvoiced
units, the shipping and its tax go on the first invoice. An invoice for more units than
are left uninvoiced, above the uninvoiced amount, or whose amounts differ from that
pricing is refused."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from simulators.endpoint import Rejected, validated
from simulators.erp_units import (
    COMPONENTS,
    documents_of,
    major,
    minor,
    sales_order_of,
    unit_range,
    units_of,
)
from simulators.store import SystemStore


class ErpDocument(BaseModel):
    """A document ordersync posts (more fields are fine)."""

    model_config = ConfigDict(extra="allow")


class AmountLine(ErpDocument):
    line_no: int = Field(ge=1)
    sku: str = Field(min_length=1)
    quantity: int = Field(gt=0)
    net: Decimal
    discount: Decimal = Field(ge=0)
    tax: Decimal = Field(ge=0)


class Amounts(ErpDocument):
    net: Decimal
    tax: Decimal = Field(ge=0)
    shipping: Decimal = Field(ge=0)
    shipping_tax: Decimal = Field(ge=0)
    total: Decimal = Field(ge=0)
    lines: list[AmountLine]


def _next_line(order: dict[str, Any], shipped: dict[str, Any], taken: dict[int, int]) -> Any:
    """The sales order line a shipped line invoices: the one it names (line_no), or for a
    document without line numbers the first line of its SKU with units left."""
    for line in order["lines"]:
        if line["sku"] != shipped["sku"] or shipped.get("line_no") not in (None, line["line_no"]):
            continue
        if shipped.get("line_no") is not None or line["quantity"] > taken.get(line["line_no"], 0):
            return line
    return None


def price_invoice(
    store: SystemStore, order_ref: str, lines: list[dict[str, Any]]
) -> dict[str, Any]:
    """The invoice of shipped `lines` ({line_no?, sku, quantity}) priced from the sales
    order as it now is, in minor units; Rejected for what was not ordered or is invoiced."""
    order = sales_order_of(store, order_ref)["order"]
    currency = order["currency"]
    invoices = documents_of(store, "invoices", order_ref)
    taken = units_of(invoices)
    priced = []
    for shipped in lines:
        line, quantity = _next_line(order, shipped, taken), int(shipped["quantity"])
        start = taken.get(line["line_no"], 0) if line else 0
        if line is None or start + quantity > int(line["quantity"]):
            left = int(line["quantity"]) - start if line else 0
            raise Rejected(f"{shipped['sku']}: {quantity} to invoice, {left} ordered and left")
        taken[line["line_no"]] = start + quantity
        units = int(line["quantity"])
        discount = unit_range(minor(line["discount"], currency), units, start, quantity)
        priced.append(
            {
                "line_no": line["line_no"],
                "sku": line["sku"],
                "quantity": quantity,
                "net": minor(line["unit_price"], currency) * quantity - discount,
                "discount": discount,
                "tax": unit_range(minor(line["tax"], currency), units, start, quantity),
            }
        )
    shipping = (order.get("shipping") or {}) if not invoices else {}  # on the first only
    ship = minor(shipping.get("amount", "0"), currency)
    ship_tax = minor(shipping.get("tax", "0"), currency)
    net = sum(p["net"] for p in priced)
    tax = sum(p["tax"] for p in priced) + ship_tax
    parts = {"net": net, "tax": tax, "shipping": ship, "shipping_tax": ship_tax}
    return {"lines": priced, "minor": {**parts, "total": net + tax + ship}}


def uninvoiced(store: SystemStore, order_ref: str) -> int:
    """What the sales order as it now is has left to invoice, in minor units."""
    order = sales_order_of(store, order_ref)["order"]
    done = units_of(documents_of(store, "invoices", order_ref))
    left = [
        {
            "line_no": ln["line_no"],
            "sku": ln["sku"],
            "quantity": ln["quantity"] - done.get(ln["line_no"], 0),
        }
        for ln in order["lines"]
        if done.get(ln["line_no"], 0) < ln["quantity"]
    ]
    return int(price_invoice(store, order_ref, left)["minor"]["total"]) if left else 0


def check_invoice(store: SystemStore, order_ref: str, body: dict[str, Any]) -> dict[str, Any]:
    """The invoice priced by the ERP, checked against the amounts ordersync sent (if it
    sent them) and against what is left uninvoiced."""
    priced = price_invoice(store, order_ref, body["lines"])
    currency = sales_order_of(store, order_ref)["order"]["currency"]
    if priced["minor"]["total"] > uninvoiced(store, order_ref):
        raise Rejected("the invoice is above the sales order's uninvoiced amount")
    sent = body.get("amounts")
    if sent is not None:
        amounts = validated(Amounts, sent)
        mine = {name: major(priced["minor"][name], currency) for name in COMPONENTS}
        theirs = {
            name: major(minor(getattr(amounts, name), currency), currency) for name in COMPONENTS
        }
        lines = [
            (ln.line_no, ln.quantity, minor(ln.net, currency), minor(ln.tax, currency))
            for ln in amounts.lines
        ]
        expected = [(p["line_no"], p["quantity"], p["net"], p["tax"]) for p in priced["lines"]]
        if mine != theirs or sorted(lines) != sorted(expected):
            raise Rejected(f"the invoice's amounts {theirs} differ from the sales order's {mine}")
    return priced
