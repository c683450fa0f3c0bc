"""The money invariant of an order, checkable after every transaction.

    Σ invoices − Σ credit memos = captured − refunded + outstanding

where outstanding = Σ per invoice (its total − what was captured against it), each ≥ 0,
non-zero only while a capture-per-shipment order waits for the platform's capture (0 for
an order paid up front: its funds are applied to each invoice as it ships). Besides:
Σ invoices = the value shipped (nothing invoiced that was not shipped), refunded ≤
captured ≤ authorized, credited = refunded, no line credited for more units than shipped.

The services refuse what would break it (`ensure_consistent`, after their own checks with
friendlier words); tests call `violations` on what the database holds.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from domain.crediting import credited_units
from domain.errors import Conflict
from domain.finance import CAPTURE, CREDIT_MEMO, INVOICE, FinancialDocument, Payment
from domain.invoicing import shipped_value
from domain.orders import Order


def captured_against(payments: Iterable[Payment]) -> dict[uuid.UUID | None, int]:
    """What was captured per shipment (None: a capture naming none)."""
    out: dict[uuid.UUID | None, int] = defaultdict(int)
    for payment in payments:
        if payment.kind == CAPTURE:
            out[payment.shipment_id] += payment.amount
    return out


def outstanding(documents: Iterable[FinancialDocument], payments: Iterable[Payment]) -> int:
    """Σ per invoice: its total less what was captured against its shipment."""
    captured = captured_against(payments)
    return sum(d.total - captured[d.shipment_id] for d in documents if d.kind == INVOICE)


def violations(
    order: Order, documents: list[FinancialDocument], payments: list[Payment]
) -> list[str]:
    """Every rule of the invariant that `order` with these records breaks (none: [])."""
    out = []
    invoices = [d for d in documents if d.kind == INVOICE]
    credits = [d for d in documents if d.kind == CREDIT_MEMO]
    invoiced, credited = sum(d.total for d in invoices), sum(d.total for d in credits)
    captured = captured_against(payments)
    if invoiced != order.invoiced_minor:
        out.append(f"invoices add up to {invoiced}, the order says {order.invoiced_minor}")
    if credited != order.credited_minor:
        out.append(f"credit memos add up to {credited}, the order says {order.credited_minor}")
    if sum(captured.values()) != order.captured_minor:
        out.append(f"captures add up to {sum(captured.values())}, not {order.captured_minor}")
    if order.credited_minor != order.refunded_minor:
        out.append(f"credited {order.credited_minor} ≠ refunded {order.refunded_minor}")
    if not 0 <= order.refunded_minor <= order.captured_minor <= order.authorized_minor:
        out.append(
            f"not 0 ≤ refunded {order.refunded_minor} ≤ captured {order.captured_minor}"
            f" ≤ authorized {order.authorized_minor}"
        )
    for invoice in invoices:
        if captured[invoice.shipment_id] > invoice.total:
            out.append(f"shipment {invoice.shipment_id} captured above its invoice")
    if set(captured) - {d.shipment_id for d in invoices}:
        out.append("a capture names no invoiced shipment")
    rest = outstanding(documents, payments)
    prepaid = (order.payment or {}).get("status") == "paid"
    if prepaid and rest:
        out.append(f"paid up front, yet {rest} of its invoices is not applied")
    if invoiced - credited != order.captured_minor - order.refunded_minor + rest:
        out.append(
            f"invoiced {invoiced} − credited {credited} ≠ captured {order.captured_minor}"
            f" − refunded {order.refunded_minor} + outstanding {rest}"
        )
    if invoiced != shipped_value(order):
        out.append(f"invoiced {invoiced}, but what shipped is worth {shipped_value(order)}")
    units = credited_units(documents)
    for line in order.lines:
        if units[line.line_no] > line.shipped:
            out.append(
                f"line {line.line_no}: {units[line.line_no]} units credited of {line.shipped}"
            )
    return out


def ensure_consistent(
    order: Order, documents: list[FinancialDocument], payments: list[Payment]
) -> None:
    """Refuse (Conflict) a change that would leave the order's money inconsistent."""
    broken = violations(order, documents, payments)
    if broken:
        raise Conflict("this would break the order's money invariant: " + "; ".join(broken))
