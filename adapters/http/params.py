"""Query and path values: checked before they reach a query."""

from __future__ import annotations

import unicodedata
import uuid

from aiohttp import web

from adapters.http.problems import ProblemError


def path_id(request: web.Request, name: str, what: str) -> uuid.UUID:
    """The path's id `name`; one that is not a UUID names nothing there is: a 404."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise ProblemError(404, "Not Found", f"no such {what}") from None


def text_param(value: str, name: str, *, max_length: int = 200) -> str:
    """A printable text value in NFC (as the stored SKUs and codes are), or a 400."""
    value = unicodedata.normalize("NFC", value)
    if len(value) > max_length or any(ord(c) < 32 for c in value):
        raise ProblemError(
            400, "Bad Request", f"{name} must be printable text of at most {max_length} characters"
        )
    return value
