"""What every dashboard request shares: the session it must have (else the login page),
the form a POST sent (read from the body the body middleware bounded) and its CSRF token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, quote

from aiohttp import web
from multidict import MultiDict

from adapters.http.keys import BODY
from ops.dashboard import session as sessions
from ops.dashboard.pages import render
from ops.dashboard.session import Session

FORM_TYPE = "application/x-www-form-urlencoded"
Page = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


def see_other(location: str) -> web.Response:
    """303: the browser GETs `location` next (after a POST, too)."""
    return web.Response(status=303, headers={"Location": location})


def login_redirect(request: web.Request) -> web.Response:
    """To the login page, coming back here afterwards (a GET's own path; a POST's page)."""
    back = request.path_qs if request.method == "GET" else "/dashboard"
    return see_other(f"/dashboard/login?next={quote(back, safe='')}")


def safe_next(value: str | None) -> str:
    """Where to go after the login: a dashboard page of this host, nothing else."""
    if value and value.startswith("/dashboard") and not value.startswith("/dashboard/login"):
        if "//" not in value and "\\" not in value and all(ord(c) > 32 for c in value):
            return value
    return "/dashboard"


def form(request: web.Request) -> MultiDict[str]:
    """The POSTed form (a browser's urlencoded one; 415 for anything else)."""
    if request.content_type != FORM_TYPE:
        raise web.HTTPUnsupportedMediaType(text=f"send a form ({FORM_TYPE})")
    raw: bytes = request.get(BODY) or b""
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise web.HTTPBadRequest(text="the form is not UTF-8") from None
    return MultiDict(parse_qsl(text, keep_blank_values=True, max_num_fields=200))


def page(handler: Page) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A dashboard page: with no valid session, the login page instead; a POST must carry
    the session's CSRF token in its form (403 otherwise, nothing done)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        found = sessions.current(request)
        if found is None:
            return login_redirect(request)
        if request.method == "POST" and not found.csrf_matches(form(request).get("csrf")):
            return render(
                "message.html",
                found,
                status=403,
                title="Refused",
                text="This form's CSRF token is missing or not this session's: reload the "
                "page and try again.",
                failed=True,
                details={},
                back="/dashboard",
            )
        return await handler(request, found)

    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    return guarded
