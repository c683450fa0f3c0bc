"""Rendering: the Jinja2 templates of this package (autoescaped), their filters, and the
headers every dashboard page carries.

The pages are self-contained: inline CSS and SVG, no script, nothing from another host —
the Content-Security-Policy says so to the browser, and a page that tried to load
anything else would fail loudly in its console (the browser test looks)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import jinja2
from aiohttp import web

from ops.dashboard.session import Session

ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("ops.dashboard", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a typo in a template fails its test, not silently
    trim_blocks=True,
    lstrip_blocks=True,
)
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
REFRESH_S = 30


def duration(seconds: float | None) -> str:
    """4h 05m, 3m 20s, 12s: an age for a person."""
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds:g}s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def amount(value: Decimal | str | None) -> str:
    return "—" if value is None else str(value)


ENV.filters.update(duration=duration, percent=percent, amount=amount)


def render(
    template: str,
    session: Session | None,
    *,
    status: int = 200,
    refresh: bool = False,
    **context: Any,
) -> web.Response:
    """The page, with its security headers; `refresh`: the browser reloads it by itself."""
    html = ENV.get_template(template).render(
        session=session, refresh_s=REFRESH_S if refresh else None, **context
    )
    response = web.Response(status=status, text=html, content_type="text/html", charset="utf-8")
    response.headers.update(
        {
            "Content-Security-Policy": CSP,
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
        }
    )
    return response


def bars(values: Mapping[str, float], width: int = 320) -> list[dict[str, Any]]:
    """Rows of a horizontal bar chart: each label, value and bar length (the largest fills
    `width`)."""
    top = max((v for v in values.values()), default=0) or 1
    return [
        {"label": k, "value": v, "length": round(width * v / top) if v else 0}
        for k, v in values.items()
    ]
