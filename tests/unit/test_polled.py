"""A listed order as an inbound delivery (adapters/channels/polled.py): its delivery id
names the order version, its body gives back the listed order exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from adapters.channels.kind import ListedOrder
from adapters.channels.polled import NotAListedOrder, body_of, delivery_id, listed_of

AT = datetime(2026, 11, 26, 5, 2, 47, tzinfo=timezone(timedelta(hours=-5)))


def test_the_delivery_id_is_the_order_and_its_version_time_in_utc() -> None:
    listed = ListedOrder(AT, {"id": 1}, "5820334194882")
    assert delivery_id(listed) == "poll:5820334194882:2026-11-26T10:02:47+00:00"
    assert delivery_id(ListedOrder(AT + timedelta(seconds=1), {}, "5820334194882")) != (
        delivery_id(listed)
    )


def test_an_order_without_an_external_id_is_named_by_its_content() -> None:
    one, other = ListedOrder(AT, {"lines": 1}), ListedOrder(AT, {"lines": 2})
    assert delivery_id(one).startswith("poll:sha256:")
    assert delivery_id(one) != delivery_id(other)
    assert delivery_id(ListedOrder(AT, {}, "x" * 300)).startswith("poll:sha256:")


def test_the_body_gives_back_the_listed_order_with_its_decimals_and_big_ids_exact() -> None:
    document = {"id": 9007199254740993, "rate": Decimal("0.230"), "price": "19.90"}
    listed = ListedOrder(AT, document, "9007199254740993")

    back = listed_of(body_of(listed))

    assert back.external_id == listed.external_id
    assert back.updated_at == AT and back.updated_at.tzinfo is not None
    assert back.document["id"] == 9007199254740993
    assert Decimal(back.document["rate"]) == Decimal("0.230")
    assert back.document["price"] == "19.90"


def test_a_body_that_is_not_a_listed_order_is_refused_saying_so() -> None:
    with pytest.raises(NotAListedOrder, match="not a listed order"):
        listed_of(b'{"document": {}}')
    with pytest.raises(NotAListedOrder):
        listed_of(b"not json")
    with pytest.raises(TypeError, match="JSON cannot"):
        body_of(ListedOrder(datetime.now(UTC), {"at": datetime.now(UTC)}, "x"))
