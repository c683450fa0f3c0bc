"""Reconciliation's rules (ops/reconcile.py, and the ERP's comparison of one order in
actors/erp.py): what ordersync holds of an order against what the ERP holds, what a repair
replays, where a channel's next look starts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from actors.erp import RECONCILIATION, ErpSalesOrder
from adapters.systems.reconciliation import Discrepancy, OrderOnRecord
from ops import reconcile
from ops.reconcile import CHANGED, OVERLAP, Comparison, confirm, next_watermark, repair_targets

SHIPMENT = ("WH-EAST", "JD0001")
NOW = datetime(2026, 11, 27, 10, tzinfo=UTC)  # after every time these tests name


def held(order_id: str = "o-1", **changes: Any) -> OrderOnRecord:
    """An order whose ERP deliveries (sales order, one invoice) were applied, shipped in full."""
    base = OrderOnRecord(
        order_id=order_id,
        external_id=f"WEB-{order_id}",
        channel="web",
        currency="EUR",
        grand_total=Decimal("54.98"),
        fully_shipped=True,
        shipments=frozenset({SHIPMENT}),
        deliveries=((1, "applied", 0), (2, "applied", 0)),
    )
    return dataclasses.replace(base, **changes)


def sales_order(order_ref: str = "o-1", **changes: Any) -> ErpSalesOrder:
    """The ERP's sales order matching held(order_ref)."""
    fields: dict[str, Any] = {
        "document_number": "SO-000001",
        "order_ref": order_ref,
        "currency": "EUR",
        "totals": {"grand_total": "54.98"},
        "status": "invoiced",
        "invoices": [
            {
                "invoice_number": "INV-000001",
                "location": SHIPMENT[0],
                "tracking_number": SHIPMENT[1],
                "total": "54.98",
            }
        ],
        **changes,
    }
    return ErpSalesOrder.model_validate(fields)


def compare(held: dict[str, OrderOnRecord], found: list[ErpSalesOrder]) -> Comparison:
    return reconcile.compare(held, found, RECONCILIATION)


def kinds(discrepancies: list[Discrepancy]) -> list[tuple[str, str, str]]:
    return [(d.kind, d.order_id, d.document) for d in discrepancies]


def test_an_order_the_erp_holds_as_sent_is_no_discrepancy() -> None:
    result = compare({"o-1": held()}, [sales_order()])
    assert result.clean and result.discrepancies == []
    assert result.counts() == {
        "checked": 1,
        "missing": 0,
        "amount": 0,
        "status": 0,
        "duplicate": 0,
        "in_flight": 0,
    }


def test_the_same_amount_written_otherwise_is_the_same_amount() -> None:
    result = compare({"o-1": held()}, [sales_order(totals={"grand_total": "54.980"})])
    assert result.clean


def test_an_order_the_erp_lacks_is_missing_once_with_its_invoices_named() -> None:
    result = compare({"o-1": held()}, [sales_order("someone-else")])
    assert kinds(result.discrepancies) == [("missing", "o-1", "sales order and 1 invoice(s)")]
    assert result.discrepancies[0].expected == "54.98 EUR"


def test_another_grand_total_or_currency_is_an_amount_mismatch() -> None:
    other_total = compare({"o-1": held()}, [sales_order(totals={"grand_total": "1.00"})])
    other_currency = compare({"o-1": held()}, [sales_order(currency="USD")])
    no_total = compare({"o-1": held()}, [sales_order(totals={"net": "54.98"})])
    for result in (other_total, other_currency, no_total):
        assert kinds(result.discrepancies) == [("amount", "o-1", "sales order")]
    assert other_total.discrepancies[0].found == "1.00 EUR"
    assert other_currency.discrepancies[0].found == "54.98 USD"


def test_the_expected_status_follows_what_has_shipped() -> None:
    part_shipped = held(fully_shipped=False)
    assert compare({"o-1": part_shipped}, [sales_order(status="open")]).clean
    wrong = compare({"o-1": part_shipped}, [sales_order(status="invoiced")])
    cancelled = compare({"o-1": held()}, [sales_order(status="cancelled")])
    assert [(d.kind, d.expected, d.found) for d in wrong.discrepancies] == [
        ("status", "open", "invoiced")
    ]
    assert [(d.kind, d.expected, d.found) for d in cancelled.discrepancies] == [
        ("status", "invoiced", "cancelled")
    ]


def test_a_shipment_without_its_invoice_is_a_missing_invoice() -> None:
    second = ("WH-WEST", "JD0002")
    order = held(shipments=frozenset({SHIPMENT, second}))
    result = compare({"o-1": order}, [sales_order()])
    assert kinds(result.discrepancies) == [("missing", "o-1", "invoice WH-WEST/JD0002")]


def test_a_second_document_number_for_one_order_is_a_duplicate_either_way_it_is_listed() -> None:
    as_a_field = compare({"o-1": held()}, [sales_order(duplicate_document_numbers=["SO-000007"])])
    as_two_items = compare(
        {"o-1": held()}, [sales_order(), sales_order(document_number="SO-000007", invoices=[])]
    )
    for result in (as_a_field, as_two_items):
        assert kinds(result.discrepancies) == [("duplicate", "o-1", "sales order")]
        assert result.discrepancies[0].found == "SO-000001, SO-000007"


def test_an_order_with_deliveries_not_yet_applied_is_in_flight_and_not_compared() -> None:
    orders = {
        "o-1": held(deliveries=((1, "applied", 0), (2, "pending", 0))),
        "o-2": held("o-2", deliveries=((3, "dead", 0),)),
        "o-3": held("o-3", deliveries=((4, "applied", 0), (5, "superseded", 0))),
    }
    result = compare(orders, [sales_order("o-3")])
    assert result.clean
    assert [(f.order_id, dict(f.ledger)) for f in result.in_flight] == [
        ("o-1", {"pending": 1}),
        ("o-2", {"dead": 1}),
    ]
    assert result.counts()["checked"] == 1 and result.counts()["in_flight"] == 2


def test_orders_of_the_erp_that_are_not_being_compared_are_not_judged() -> None:
    result = compare({}, [sales_order("elsewhere", status="cancelled")])
    assert result.clean and result.checked == 0


def test_a_discrepancy_whose_order_changed_while_the_erp_was_read_is_in_flight() -> None:
    before = {"o-1": held(), "o-2": held("o-2")}
    first = compare(before, [])  # both missing at the first read
    shipped_meanwhile = held(deliveries=((1, "applied", 0), (2, "applied", 0), (3, "pending", 0)))
    after = {"o-1": shipped_meanwhile, "o-2": held("o-2")}

    result = confirm(first, before, after)

    assert kinds(result.discrepancies) == [("missing", "o-2", "sales order and 1 invoice(s)")]
    assert [(f.order_id, f.reason, dict(f.ledger)) for f in result.in_flight] == [
        ("o-1", CHANGED, {"pending": 1})
    ]
    assert result.checked == 1


def test_a_repair_replays_the_missing_and_the_mismatched_but_not_a_duplicate() -> None:
    orders = {name: held(name) for name in ("o-1", "o-2", "o-3", "o-4", "o-5")}
    erp = [
        sales_order("o-2", totals={"grand_total": "1.00"}),
        sales_order("o-3", status="cancelled"),
        sales_order("o-4", duplicate_document_numbers=["SO-000009"]),
        sales_order("o-5", invoices=[]),
    ]
    result = compare(orders, erp)
    assert sorted(d.kind for d in result.discrepancies) == [
        "amount",
        "duplicate",
        "missing",
        "missing",
        "status",
    ]
    assert repair_targets(result) == ("o-1", "o-2", "o-3", "o-5")


def test_the_watermark_moves_to_the_newest_update_less_the_overlap() -> None:
    start = datetime(2026, 11, 26, 10, tzinfo=UTC)
    seen = [start + timedelta(minutes=5), start + timedelta(minutes=9), start]
    assert next_watermark(None, start, seen, now=NOW) == start + timedelta(minutes=9) - OVERLAP
    assert next_watermark(start, start, seen, now=NOW) == start + timedelta(minutes=9) - OVERLAP


def test_the_watermark_never_goes_back_nor_before_where_the_run_looked_from() -> None:
    start = datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert next_watermark(None, start, [], now=NOW) == start
    assert next_watermark(None, start, [start + timedelta(seconds=1)], now=NOW) == start
    later = start + timedelta(hours=1)
    assert next_watermark(later, start, [start + timedelta(minutes=1)], now=NOW) == later


def test_a_run_from_after_the_watermark_leaves_it_where_it_was() -> None:
    stored = datetime(2026, 11, 26, 10, tzinfo=UTC)
    start = stored + timedelta(hours=2)  # an operator's --since: 10:00-12:00 not looked at
    assert next_watermark(stored, start, [start + timedelta(minutes=1)], now=NOW) == stored


def test_the_watermark_stays_before_now_and_before_what_was_refused() -> None:
    start = datetime(2026, 11, 26, 10, tzinfo=UTC)
    ahead = NOW + timedelta(days=1)  # one order stamped by a clock that runs ahead
    assert next_watermark(None, start, [ahead], now=NOW) == NOW - OVERLAP
    refused = start + timedelta(minutes=3)
    later = start + timedelta(minutes=9)
    mark = next_watermark(None, start, [refused, later], now=NOW, unsettled=[refused])
    assert mark == refused - OVERLAP  # the next run lists the refused order again


def test_a_since_without_an_offset_is_utc_and_none_is_older_than_1970() -> None:
    from ops.reconcile import EARLIEST, window_start

    assert window_start(datetime(2026, 11, 26, 10)) == datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert window_start(datetime(1, 1, 1, tzinfo=UTC)) == EARLIEST


def test_a_url_in_a_message_shows_no_credentials() -> None:
    from ops.commands.reconcile import _shown

    assert (
        _shown("https://ops:s3cret@erp.example:8443/api?x=1") == "https://erp.example:8443/api?x=1"
    )
    assert _shown("http://127.0.0.1:8090/erp") == "http://127.0.0.1:8090/erp"


def test_a_cancelled_order_is_expected_cancelled_at_the_erp() -> None:
    """Issue 12: a whole cancellation cancels the sales order; one still open is a status
    discrepancy (its cancellation was lost), one cancelled is none."""
    cancelled = held(fully_shipped=False, shipments=frozenset(), cancelled=True)
    kept = sales_order(status="cancelled", invoices=[])

    assert compare({"o-1": cancelled}, [kept]).clean
    wrong = compare({"o-1": cancelled}, [sales_order(status="open", invoices=[])])
    assert kinds(wrong.discrepancies) == [("status", "o-1", "sales order")]
    assert (wrong.discrepancies[0].expected, wrong.discrepancies[0].found) == ("cancelled", "open")
