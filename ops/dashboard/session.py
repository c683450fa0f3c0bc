"""The dashboard's session: a signed cookie, not a server-side store.

`ordersync api` may run several processes behind one port, and a session kept in one
process's memory would be unknown to the next; a table would need a migration. So the
cookie carries the session itself — a random id and the session's CSRF token — signed
(itsdangerous, HMAC-SHA256) with a key derived from the admin token and
ORDERSYNC_SECRET_KEY, and its signature is timestamped: it is good for
SESSION_MAX_AGE_S. Changing the admin token ends every session at once; a logout clears
the cookie in that browser (a copy taken before stays good until it expires — the price of
no server-side store, written in docs/dashboard.md).

The cookie is HttpOnly (no script reads it), SameSite=Strict (no other site's page sends
it: with the per-session CSRF token in every form, the two guards of every POST), scoped to
/dashboard, and Secure when the request came over https (directly, or through a proxy
that says so in X-Forwarded-Proto): over plain http a Secure cookie would never come back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from adapters.http.keys import CONFIG

COOKIE = "ordersync_dashboard"
PATH = "/dashboard"
SESSION_MAX_AGE_S = 8 * 3600
_SALT = "ordersync.dashboard.session"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    csrf: str

    def csrf_matches(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf.encode(), str(sent).encode())


def _serializer(request: web.Request) -> URLSafeTimedSerializer | None:
    config = request.app[CONFIG]
    if not config.admin_token:
        return None
    key = hashlib.sha256(
        b"\0".join(
            part.encode() for part in ("dashboard", config.admin_token, config.secret_key or "")
        )
    ).hexdigest()
    return URLSafeTimedSerializer(key, salt=_SALT, signer_kwargs={"digest_method": hashlib.sha256})


def token_matches(request: web.Request, token: str) -> bool:
    """Is `token` the admin token (compared in constant time)?"""
    admin = request.app[CONFIG].admin_token
    return bool(admin) and hmac.compare_digest(token.encode(), str(admin).encode())


def current(request: web.Request) -> Session | None:
    """The request's valid session, if its cookie carries one."""
    serializer, cookie = _serializer(request), request.cookies.get(COOKIE)
    if serializer is None or not cookie:
        return None
    try:
        data = serializer.loads(cookie, max_age=SESSION_MAX_AGE_S)
    except BadSignature:  # also SignatureExpired
        return None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("id", "csrf")):
        return None
    return Session(data["id"], data["csrf"])


def _secure(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"


def start(request: web.Request, response: web.StreamResponse) -> Session:
    """A new session (after a good admin token), its cookie set on `response`."""
    serializer = _serializer(request)
    if serializer is None:
        raise RuntimeError("no admin token is configured: the dashboard has no sessions")
    session = Session(secrets.token_urlsafe(16), secrets.token_urlsafe(32))
    response.set_cookie(
        COOKIE,
        serializer.dumps({"id": session.id, "csrf": session.csrf}),
        max_age=SESSION_MAX_AGE_S,
        path=PATH,
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    return session


def end(response: web.StreamResponse) -> None:
    """Clear the session cookie in the browser."""
    response.del_cookie(COOKIE, path=PATH)
