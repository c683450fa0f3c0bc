"""/v1/payments and /v1/refunds: the payment platform (a system key), the operator, or a
channel for its own orders, report money moving (domain.payments, domain.refunds)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from adapters.http.auth import channel_scope, require
from adapters.http.context import unit_of_work
from adapters.http.middleware import json_body
from adapters.http.responses import json_response
from adapters.http.threads import run
from domain.finance import FinancialDocument, Payment, Refund
from domain.money import Money
from domain.money_commands import RecordPayment, RecordRefund
from domain.payments import record_payment
from domain.refunds import record_refund
from domain.services import retrying


def _respond(body: dict[str, Any], created: bool) -> web.Response:
    return json_response(body, 201 if created else 200)


def _money(minor: int, currency: str) -> str:
    return str(Money(minor, currency))


async def post_payment(request: web.Request) -> web.Response:
    who = await require(request, "system", "channel")
    cmd = RecordPayment.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    source, channel = f"{who.kind}:{who.name}", channel_scope(who)
    payment, created = await run(
        request,
        lambda: retrying(lambda: record_payment(new_uow(), cmd, source=source, channel=channel)),
    )
    return _respond(payment_json(payment), created)


def payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "id": str(payment.id),
        "order_id": str(payment.order_id),
        "kind": payment.kind,
        "transaction_id": payment.transaction_id,
        "amount": _money(payment.amount, payment.currency),
        "currency": payment.currency,
        "shipment_id": None if payment.shipment_id is None else str(payment.shipment_id),
        "source": payment.source,
        "created_at": payment.created_at.isoformat(),
    }


async def post_refund(request: web.Request) -> web.Response:
    who = await require(request, "system", "channel")
    cmd = RecordRefund.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    channel = channel_scope(who)
    refund, credit, created = await run(
        request, lambda: retrying(lambda: record_refund(new_uow(), cmd, channel=channel))
    )
    return _respond(refund_json(refund, credit), created)


def refund_json(refund: Refund, credit: FinancialDocument) -> dict[str, Any]:
    cur = refund.currency
    return {
        "id": str(refund.id),
        "order_id": str(refund.order_id),
        "kind": refund.kind,
        "transaction_id": refund.transaction_id,
        "return_id": None if refund.return_id is None else str(refund.return_id),
        "amount": _money(refund.amount, cur),
        "currency": cur,
        "reason": refund.reason,
        "created_at": refund.created_at.isoformat(),
        "credit_memo": {
            "id": str(credit.id),
            **{
                name: _money(getattr(credit, name), cur)
                for name in ("net", "tax", "shipping", "shipping_tax", "total")
            },
            "lines": [
                {
                    "line_no": line.line_no,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "net": _money(line.net, cur),
                    "discount": _money(line.discount, cur),
                    "tax": _money(line.tax, cur),
                }
                for line in credit.lines
            ],
        },
    }
