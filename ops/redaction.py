"""What never reaches a log line: credentials, secrets, e-mail addresses, card numbers.

Applied by the formatters of ops/logs.py to the whole text of every record (message,
extra fields, a traceback), whichever logger wrote it: a library's debug line with an
Authorization header is caught as well as our own. The product's code already avoids
logging personal data (actors/logsafe.py keeps payloads out of Dramatiq's lines); this
is the net under it.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
# A credential after its scheme: `Authorization: Bearer abc…`, `Basic dXNlcjpw…`.
_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)(\s+)[A-Za-z0-9._~+/=-]{4,}")
# The words that name a credential; a line without any is not searched further.
_SECRET_WORDS = ("authorization", "api_key", "api-key", "apikey", "secret", "password")
_SECRET_WORDS += ("passwd", "token", "signature", "hmac", "bearer", "basic")
# A named secret and its value: `secret=…`, `"api_key": "…"`, `password: …`, `token=…`
# (also inside a longer name: ORDERSYNC_ADMIN_TOKEN=…). The value stops at a backslash
# too: the formatter redacts JSON text, whose escapes stay whole.
_NAMED = re.compile(
    r"""(?ix)
    ((?:authorization|api[_-]?key|secret|password|passwd|token|signature|hmac)[a-z0-9_-]*)
    (\\?["']?\s*[:=]\s*\\?["']?)
    (?!\[redacted)(?:bearer\s+|basic\s+)?[^\s"',;&\\]+
    """
)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# 13 to 19 digits, spaces or dashes between them allowed, that pass the Luhn check.
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    return "[redacted card]" if _luhn(digits) else match.group(0)


def redact(text: str) -> str:
    """`text` with every credential, secret, e-mail address and card number replaced.

    Every line of every process passes here: the credential and e-mail patterns run only
    when a cheap test (a word, an @) says they may match."""
    if not text:
        return text
    lower = text.lower()
    if any(word in lower for word in _SECRET_WORDS):
        text = _SCHEME.sub(rf"\1\2{REDACTED}", text)
        text = _NAMED.sub(rf"\1\2{REDACTED}", text)
    if "@" in text:
        text = _EMAIL.sub("[redacted email]", text)
    return _CARD.sub(_card, text)
