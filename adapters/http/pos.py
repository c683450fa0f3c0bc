"""POST /v1/pos/sales: a batch of completed in-store sales from a till (domain/pos_sales.py).

Who may send one: a channel whose kind sells in stores — `pos`, or `square` (Square is a
POS: its tills could send their sales here as well as through its door). The batch is
one document: one that does not follow the schema (wrong types, too many sales) is
refused whole, 422, and writes nothing. Each sale in it is then applied on its own
transaction, all or nothing per sale: one that cannot be recorded (an unknown SKU, an
unregistered store, money that does not add up, its sale id reused for other content)
is `rejected` with its error and the others go on. The answer is 200 with one result per
sale, in the batch's order: `created`, `duplicate` (sent before: nothing written) or
`rejected`. A batch sent again duplicates nothing (a sale's id is its order's external
id, unique per channel). A till's SKU the channel has a mapping for is taken as ours
(`ordersync sku map`); one without is ours already.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Annotated, Any

import sqlalchemy as sa
from aiohttp import web
from pydantic import Field, ValidationError

from adapters.db import sku_map
from adapters.http.auth import require
from adapters.http.context import unit_of_work
from adapters.http.keys import ENGINE
from adapters.http.middleware import json_body
from adapters.http.problems import ProblemError
from adapters.http.responses import json_response
from adapters.http.threads import run
from domain.channel_commands import PosSale
from domain.commands import Input
from domain.errors import ConcurrencyConflict, DomainError
from domain.ports import UnitOfWork
from domain.pos_sales import SaleApplied, apply_pos_sale
from domain.services import retrying

log = logging.getLogger(__name__)

MAX_SALES = 100
SELLS_IN_STORES = ("pos", "square")  # the channel kinds whose keys may send sales


class PosSales(Input):
    """A batch of completed in-store sales (POST /v1/pos/sales)."""

    sales: Annotated[list[PosSale], Field(min_length=1, max_length=MAX_SALES)]


_ERROR = {
    "type": "object",
    "required": ["code", "detail"],
    "properties": {
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}
RESULTS_SCHEMA: tuple[str, dict[str, Any]] = (
    "PosSaleResults",
    {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["sale_id", "status"],
                    "properties": {
                        "sale_id": {"type": "string"},
                        "status": {"enum": ["created", "duplicate", "rejected"]},
                        "order_id": {"type": "string", "format": "uuid"},
                        "order_status": {"type": "string"},
                        "shortfalls": {
                            "type": "array",
                            "description": "units handed over beyond the store's on_hand",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "sku": {"type": "string"},
                                    "location": {"type": "string"},
                                    "quantity": {"type": "integer"},
                                },
                            },
                        },
                        "error": _ERROR,
                    },
                },
            }
        },
    },
)


def _applied(sale: PosSale, applied: SaleApplied) -> dict[str, Any]:
    result: dict[str, Any] = {
        "sale_id": sale.sale_id,
        "status": "created" if applied.created else "duplicate",
        "order_id": str(applied.order.id),
        "order_status": applied.order.status.value,
    }
    if applied.shortfalls:
        result["shortfalls"] = [
            {"sku": s.sku, "location": s.location, "quantity": s.quantity}
            for s in applied.shortfalls
        ]
    return result


def _rejected(sale: PosSale, error: DomainError | ValidationError) -> dict[str, Any]:
    if isinstance(error, ValidationError):
        problem: dict[str, Any] = {
            "code": "validation-failed",
            "detail": "the sale's amounts cannot be read",
            "errors": [
                {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in error.errors()
            ],
        }
    else:
        problem = {"code": error.code, "detail": error.detail, **error.extra}
    return {"sale_id": sale.sale_id, "status": "rejected", "error": problem}


def _apply(new_uow: Callable[[], UnitOfWork], sale: PosSale, channel: str) -> SaleApplied:
    return apply_pos_sale(new_uow(), sale, channel)


def _ours(engine: sa.Engine, channel: str, sales: list[PosSale]) -> list[PosSale]:
    """The sales with each SKU the channel has a mapping for (`ordersync sku map`) as ours;
    a SKU without one is taken as ours already (a till usually sells by our SKUs)."""
    theirs = sorted({line.sku for sale in sales for line in sale.lines})
    with engine.connect() as conn:
        mapped = sku_map.ours(conn, channel, theirs)
    if not mapped:
        return sales
    return [
        sale.model_copy(
            update={
                "lines": [
                    line.model_copy(update={"sku": mapped.get(line.sku, line.sku)})
                    for line in sale.lines
                ]
            }
        )
        for sale in sales
    ]


async def post_sales(request: web.Request) -> web.Response:
    who = await require(request, "channel")
    if who.subkind not in SELLS_IN_STORES:
        raise ProblemError(
            403,
            "Forbidden",
            f"in-store sales are for channels of kind {' or '.join(SELLS_IN_STORES)}",
        )
    batch = PosSales.model_validate(json_body(request))
    new_uow = unit_of_work(request)
    engine = request.app[ENGINE]

    def apply_all() -> list[dict[str, Any]]:
        results = []
        for sent, sale in zip(batch.sales, _ours(engine, who.name, batch.sales), strict=True):
            try:
                applied = retrying(functools.partial(_apply, new_uow, sale, who.name))
            except ConcurrencyConflict:
                raise  # the whole answer is a 503: what was applied comes back as duplicate
            except (DomainError, ValidationError) as error:
                results.append(_rejected(sent, error))
                continue
            if applied.shortfalls:
                log.warning(
                    "in-store sale %s of %s handed over more than on hand: %s",
                    sale.sale_id,
                    who.name,
                    applied.shortfalls,
                )
            results.append(_applied(sent, applied))
        return results

    return json_response({"results": await run(request, apply_all)})
