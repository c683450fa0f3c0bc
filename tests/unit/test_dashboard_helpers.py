"""The dashboard's small pieces without I/O: where a login may send you back to, how ages,
shares and bars are drawn, and a W3C traceparent's trace id."""

from __future__ import annotations

import pytest

from ops.dashboard.forms import safe_next
from ops.dashboard.order_view import trace_id
from ops.dashboard.pages import bars, duration, percent


@pytest.mark.parametrize(
    ("asked", "went"),
    [
        ("/dashboard", "/dashboard"),
        ("/dashboard/orders/5f1c", "/dashboard/orders/5f1c"),
        (None, "/dashboard"),
        ("", "/dashboard"),
        ("https://evil.example/dashboard", "/dashboard"),
        ("//evil.example", "/dashboard"),
        ("/dashboard//evil.example", "/dashboard"),
        ("/dashboard\\@evil.example", "/dashboard"),
        ("/dashboard/login", "/dashboard"),  # not back to the login itself
        ("/dashboard\r\nSet-Cookie: x", "/dashboard"),
        ("/ops/audit", "/dashboard"),
    ],
)
def test_the_login_sends_you_back_to_a_dashboard_page_of_this_host_only(
    asked: str | None, went: str
) -> None:
    assert safe_next(asked) == went


def test_ages_are_written_for_a_person() -> None:
    assert [duration(s) for s in (None, 0.5, 12, 200, 4 * 3600 + 5 * 60 + 9)] == [
        "—",
        "0.5s",
        "12s",
        "3m 20s",
        "4h 05m",
    ]


def test_a_share_is_a_percentage_with_one_decimal() -> None:
    assert [percent(s) for s in (None, 0.0, 0.5, 0.99, 1.0)] == [
        "—",
        "0.0%",
        "50.0%",
        "99.0%",
        "100.0%",
    ]


def test_the_longest_bar_fills_the_width_and_the_others_scale() -> None:
    assert bars({"erp": 4, "wms": 1, "crm": 0}, width=200) == [
        {"label": "erp", "value": 4, "length": 200},
        {"label": "wms", "value": 1, "length": 50},
        {"label": "crm", "value": 0, "length": 0},
    ]
    assert bars({}) == []


def test_a_trace_id_is_read_from_a_w3c_traceparent() -> None:
    assert trace_id("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01") == (
        "0af7651916cd43dd8448eb211c80319c"
    )
    for malformed in (None, "", "00-abc-01", "00-" + "0" * 32 + "-b7ad6b7169203331-01"):
        assert trace_id(malformed) is None
