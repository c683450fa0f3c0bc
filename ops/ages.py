"""Ages as operators write them ("7d", "12h", "30m", "90s", "2w"): one reading for the CLI's
options and the settings, and the same form back in logs, reports and refusals."""

from __future__ import annotations

from datetime import timedelta

_UNITS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_age(text: str) -> timedelta:
    """ "7d" → 7 days; ValueError (saying what an age looks like) for anything else."""
    number, unit = text[:-1].strip(), text[-1:].lower()
    if unit not in _UNITS or not number.isdigit():
        raise ValueError(f"{text!r} is not an age like 7d, 12h, 30m or 90s")
    return timedelta(seconds=int(number) * _UNITS[unit])


def age_text(age: timedelta) -> str:
    """The largest unit below weeks that writes `age` whole: 14 days → "14d", 36 h → "36h"."""
    seconds = int(age.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
