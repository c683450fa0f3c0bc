"""Fault injection for one simulated system: an outage, latency, errors, throttling, rejections,
and holding calls until the test releases them.

`down_for_s` makes the system answer every back-end request (its health route
included) with 503 and a `Retry-After` of the seconds left, rather than
refusing connections: all systems share one port, so one of them cannot stop
listening alone, and a 503 with `Retry-After` is what a load balancer in front
of a system under maintenance answers. Connection-level failures are what a
stopped simulator process gives.

`fail_once_rate` answers 503 to a key's first call at that rate, and never fails one key
twice: retries are certain to happen and certain to end (a test of ordering "across
retries" cannot then be failed by an unlucky run of errors). `reject_matching` answers 422
to every document whose body contains one of its strings: a targeted poison document.
`hold_all` / `hold_matching` make calls wait, before anything else is decided, until
POST /_sim/{system}/release (see endpoint.py for what a call whose client went away meanwhile
gets).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RATES = ("error_rate", "reject_rate", "throttle_rate", "fail_once_rate")
MATCHING = ("fail_matching", "reject_matching", "hold_matching")
LIMITS = {"latency_ms": 60_000.0, "down_for_s": 86_400.0}


class FaultSettingError(ValueError):
    """A fault setting is unknown or out of range."""


@dataclass
class Faults:
    error_rate: float = 0.0  # 503 at this rate (a blip)
    reject_rate: float = 0.0  # 422 at this rate (a permanent rejection)
    throttle_rate: float = 0.0  # 429 with Retry-After: 1 at this rate
    latency_ms: float = 0.0  # added before every back-end answer
    down_until: float = 0.0  # time.monotonic() until which the system is down
    # 500 for every document whose body contains one of these strings (an order id, say):
    # the system is up and takes other documents, but always fails on these.
    fail_matching: tuple[str, ...] = ()
    # 422 for every document whose body contains one of these strings (a poison document).
    reject_matching: tuple[str, ...] = ()
    # 503 on a key's first call at this rate; a key is failed once at most (see above).
    fail_once_rate: float = 0.0
    # Calls wait until released: every call, or those whose body contains one of these.
    hold_all: bool = False
    hold_matching: tuple[str, ...] = ()

    def down_remaining(self) -> float:
        return max(0.0, self.down_until - time.monotonic())

    def retry_after(self) -> str:
        """The Retry-After header while down: whole seconds, at least 1."""
        return str(max(1, math.ceil(self.down_remaining())))

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply the given settings (absent ones keep their value; 0 turns one off)."""
        allowed = (*RATES, *LIMITS, *MATCHING, "hold_all")
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise FaultSettingError(f"unknown setting(s) {unknown}; known: {sorted(allowed)}")
        matching = {
            name: _strings(name, changes.get(name, getattr(self, name))) for name in MATCHING
        }
        hold_all = changes.get("hold_all", self.hold_all)
        if not isinstance(hold_all, bool):
            raise FaultSettingError(f"hold_all must be true or false (got {hold_all!r})")
        checked = {
            name: _number(name, value)
            for name, value in changes.items()
            if name not in MATCHING and name != "hold_all"
        }
        for name, value in checked.items():
            limit = 1.0 if name in RATES else LIMITS[name]
            if not 0.0 <= value <= limit:
                raise FaultSettingError(f"{name} must be between 0 and {limit:g} (got {value:g})")
        for name, strings in matching.items():
            setattr(self, name, strings)
        self.hold_all = hold_all
        for name, value in checked.items():
            if name == "down_for_s":
                self.down_until = time.monotonic() + value if value else 0.0
            else:
                setattr(self, name, value)

    def public(self) -> dict[str, Any]:
        return {
            "error_rate": self.error_rate,
            "reject_rate": self.reject_rate,
            "throttle_rate": self.throttle_rate,
            "latency_ms": self.latency_ms,
            "down_for_s": round(self.down_remaining(), 3),
            "fail_matching": list(self.fail_matching),
            "reject_matching": list(self.reject_matching),
            "fail_once_rate": self.fail_once_rate,
            "hold_all": self.hold_all,
            "hold_matching": list(self.hold_matching),
        }

    def fails(self, body: bytes) -> bool:
        """Whether this document is one the system always fails on (fail_matching)."""
        return _contains(body, self.fail_matching)

    def rejects(self, body: bytes) -> bool:
        """Whether this document is one the system refuses (reject_matching)."""
        return _contains(body, self.reject_matching)

    def holds(self, body: bytes) -> bool:
        """Whether a call with this body waits to be released (hold_all, hold_matching)."""
        return self.hold_all or _contains(body, self.hold_matching)

    def stop_holding(self) -> None:
        self.hold_all, self.hold_matching = False, ()


def _contains(body: bytes, strings: tuple[str, ...]) -> bool:
    return any(text.encode() in body for text in strings)


def _strings(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(v, str) and 0 < len(v) <= 200 for v in value
    ):
        raise FaultSettingError(f"{name} must be a list of strings of 1 to 200 characters")
    if len(value) > 1000:
        raise FaultSettingError(f"{name} takes at most 1000 strings")
    return tuple(value)


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultSettingError(f"{name} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise FaultSettingError(f"{name} must be finite")
    return float(value)


def roll(rng: random.Random, rate: float) -> bool:
    """True at the given rate; 0 and 1 are exact (and draw nothing)."""
    if rate <= 0.0:
        return False
    return rate >= 1.0 or rng.random() < rate
