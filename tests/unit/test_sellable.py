"""What a channel may sell: ATP less its safety stock per location, floored at 0 there;
the safety-stock service tells the channels at once."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.channels.canonical import ChannelClient, stock_document
from domain.allocation import StockLevel
from domain.commands import AdjustInventory, PlaceOrder, SetSafetyStock
from domain.errors import NotFound, ValidationFailed
from domain.events import InventoryChanged, LocationStock
from domain.safety_stock import remove_safety_stock, set_safety_stock
from domain.sellable import resolve, sellable
from domain.services import adjust_inventory, place_order
from tests.factories import order_doc
from tests.unit.fakes import FakeUnitOfWork


def level(location: str, on_hand: int, reserved: int = 0) -> StockLevel:
    return StockLevel("A", location, 10, on_hand, reserved)


def test_a_skus_own_figure_overrides_the_locations_every_sku_figure_channel_by_channel() -> None:
    rows = [
        ("web", "WH", "*", 5),
        ("web", "WH", "A", 1),  # A's own at WH, for web
        ("pos", "WH", "*", 2),  # pos has no own row: '*' applies
        ("web", "STORE", "B", 9),  # another SKU's row: not A's
        ("web", "STORE", "*", 3),
    ]
    assert resolve(rows, "A") == {"WH": {"web": 1, "pos": 2}, "STORE": {"web": 3}}
    assert resolve(rows, "B") == {"WH": {"web": 5, "pos": 2}, "STORE": {"web": 9}}


def test_sellable_floors_each_location_at_zero_before_adding_them_up() -> None:
    levels = [level("WH", 10, reserved=2), level("STORE", 2)]  # ATP 8 and 2
    safety = {"WH": {"web": 3}, "STORE": {"web": 5, "pos": 1}}

    figures = sellable(levels, safety, ["web", "pos", "b2b"])

    # web: 8 − 3 = 5 at WH, and 2 − 5 is 0 at STORE (not −3 taken off WH's figure).
    assert figures == {"b2b": 10, "pos": 9, "web": 5}


_LOCATIONS = ("WH", "STORE", "SHOP")
_CHANNELS = ("web", "pos", "b2b")


@given(
    st.lists(
        st.tuples(st.sampled_from(_LOCATIONS), st.integers(0, 20), st.integers(0, 25)),
        unique_by=lambda t: t[0],
    ),
    st.dictionaries(
        st.sampled_from(_LOCATIONS),
        st.dictionaries(st.sampled_from(_CHANNELS), st.integers(0, 30)),
    ),
    st.lists(st.sampled_from(_CHANNELS), unique=True),
)
def test_sellable_is_each_channels_atp_less_its_safety_per_location_for_every_channel(
    stock: list[tuple[str, int, int]], safety: dict[str, dict[str, int]], channels: list[str]
) -> None:
    """Whether or not a channel has safety stock (those without are worked out once)."""
    levels = [level(location, on_hand, reserved) for location, on_hand, reserved in stock]

    figures = sellable(levels, safety, channels)

    assert list(figures) == sorted(channels)
    for channel in channels:
        assert figures[channel] == sum(
            max(0, lv.atp - safety.get(lv.location, {}).get(channel, 0)) for lv in levels
        )


def place(uow: FakeUnitOfWork, external_id: str, quantity: int) -> Any:
    cmd = PlaceOrder.model_validate(order_doc(external_id, [("A", quantity)]))
    return place_order(uow, cmd, channel="web")[0]


def stock_payloads(uow: FakeUnitOfWork) -> list[InventoryChanged]:
    return [e.payload for e in uow.committed_events if isinstance(e.payload, InventoryChanged)]


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.channels = ["web", "pos"]
    uow.safety.channels = {"web", "pos"}
    uow.inventory.seed("A", "WH", 10, priority=10)
    uow.inventory.seed("A", "STORE", 4, priority=50)
    uow.inventory.seed("B", "WH", 6, priority=10)
    return uow


def test_every_stock_event_carries_each_active_channels_sellable_figure(
    uow: FakeUnitOfWork,
) -> None:
    uow.inventory.safety[("web", "STORE", "*")] = 4
    uow.inventory.safety[("pos", "WH", "A")] = 7

    place(uow, "S-1", 3)  # from WH: ATP 7 there, 4 at STORE

    [payload] = stock_payloads(uow)
    assert payload.atp == 11
    assert payload.sellable == {"pos": 0 + 4, "web": 7 + 0}


def test_setting_a_locations_every_sku_figure_tells_the_channels_of_each_sku_stocked_there(
    uow: FakeUnitOfWork,
) -> None:
    uow.inventory.safety[("web", "WH", "B")] = 1  # B's own figure wins over any '*' at WH
    uow.inventory.seed("C", "STORE", 5)  # not at WH: untouched

    change = set_safety_stock(
        uow, SetSafetyStock(channel="web", location="WH", sku="*", quantity=2)
    )

    assert change.sellable == {"A": 8 + 4, "B": 5}
    [payload] = stock_payloads(uow)  # only A's figure moved
    assert (payload.sku, payload.atp, payload.sellable) == ("A", 14, {"pos": 14, "web": 12})
    assert uow.committed_events[0].aggregate_version == uow.inventory.versions["A"] == 1
    assert uow.inventory.versions["B"] == uow.inventory.versions["C"] == 0


def test_removing_a_skus_own_figure_falls_back_to_the_every_sku_one(uow: FakeUnitOfWork) -> None:
    uow.inventory.safety[("pos", "WH", "*")] = 3
    uow.inventory.safety[("pos", "WH", "A")] = 10

    change = remove_safety_stock(uow, "pos", "WH", "A")

    assert change.sellable == {"A": 7 + 4}
    [payload] = stock_payloads(uow)
    assert payload.sellable == {"pos": 11, "web": 14}
    with pytest.raises(NotFound):
        remove_safety_stock(uow, "pos", "WH", "A")


def test_a_safety_stock_of_an_unknown_channel_or_location_is_refused_and_changes_nothing(
    uow: FakeUnitOfWork,
) -> None:
    for channel, location, field in (("nope", "WH", "channel"), ("web", "NOWHERE", "location")):
        cmd = SetSafetyStock(channel=channel, location=location, quantity=1)
        with pytest.raises(ValidationFailed) as refused:
            set_safety_stock(uow, cmd)
        assert refused.value.extra["errors"][0]["field"] == field
    assert uow.inventory.safety == {} and uow.committed_events == []


def test_a_stock_move_that_keeps_the_atp_still_tells_the_channels_when_a_figure_moved(
    uow: FakeUnitOfWork,
) -> None:
    """4 units move from WH to STORE: ATP 10 either way, but web holds 4 back at STORE, so
    what web may sell falls from 10 to 6: inventory.changed goes out."""
    uow.inventory.seed("A", "STORE", 0, priority=50)
    uow.inventory.safety[("web", "STORE", "A")] = 4
    moves = [
        {"sku": "A", "location": "WH", "delta": -4},
        {"sku": "A", "location": "STORE", "delta": 4},
    ]

    adjust_inventory(uow, AdjustInventory.model_validate({"adjustments": moves}))

    [payload] = stock_payloads(uow)
    assert (payload.atp, payload.sellable) == (10, {"pos": 10, "web": 6})


def test_a_channels_stock_document_carries_its_own_sellable_figure_never_on_hand() -> None:
    change = InventoryChanged(
        sku="A",
        atp=8,
        locations=[LocationStock(location="WH", on_hand=10, reserved=2, atp=8)],
        sellable={"web": 5, "pos": 8},
    )
    assert stock_document(change, "web") == {"sku": "A", "available": 5}
    assert stock_document(change, "pos") == {"sku": "A", "available": 8}
    # A channel the event does not name (written before it existed, or before sellable
    # figures did): the ATP, still not on_hand.
    assert stock_document(change, "later") == {"sku": "A", "available": 8}
    assert ChannelClient("http://127.0.0.1:9/channels/web", channel="web").channel == "web"
