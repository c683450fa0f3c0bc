"""ORDERSYNC_<NAME>_URL: each downstream system's base URL, read by its registry name."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from actors.systems import Systems


def system_url(variable: str, value: str) -> str:
    """An absolute http(s) URL with a host; anything else is a ValueError naming `variable`."""
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{variable}: must be an http(s):// URL with a host, not {value!r}")
    try:
        parts.port  # noqa: B018 (reading it validates it)
    except ValueError:
        raise ValueError(f"{variable}: bad port in {value!r}") from None
    return value.strip()


def system_urls(systems: Systems, environ: Mapping[str, str]) -> dict[str, str]:
    """Every system's URL: its variable when set (and not empty), else its simulator's."""
    problems, urls = [], {}
    for system in systems.values():
        value = environ.get(system.setting, "").strip() or system.default_url
        try:
            urls[system.name] = system_url(system.setting, value)
        except ValueError as error:
            problems.append(str(error))
    if problems:
        raise ValueError("; ".join(problems))
    return urls
