"""Log lines: one JSON object per line with the work's ids, and nothing secret in any."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from adapters import correlation
from ops import logs
from ops.redaction import redact

TOKEN = "sk_live_4f3c2b1a0e9d8c7b"
EMAIL = "ana.silva@example.com"
CARD = "4111 1111 1111 1111"


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines into a buffer."""
    out = io.StringIO()
    logger = logging.getLogger("ordersync.test.lines")
    handler = logs.handler("json", out)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, out
    logger.removeHandler(handler)


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_json_line_names_time_level_logger_message_and_the_works_correlation_id(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    token = correlation.begin("corr-42")
    try:
        logger.info("order %s accepted", "o-1", extra={"order_id": "o-1"})
    finally:
        correlation.end(token)
    logger.warning("after the request")
    first, second = parsed(out)
    assert first["message"] == "order o-1 accepted"
    assert (first["level"], first["logger"]) == ("INFO", "ordersync.test.lines")
    assert first["correlation_id"] == "corr-42" and first["order_id"] == "o-1"
    assert str(first["time"]).endswith("+00:00")  # ISO 8601, UTC
    assert (first["trace_id"], first["span_id"]) == (None, None)  # untraced
    assert second["correlation_id"] is None


def test_a_bearer_token_an_email_a_secret_and_a_card_number_never_reach_a_line(
    lines: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = lines
    logger.warning(
        "call failed: Authorization: Bearer %s for %s (card %s)",
        TOKEN,
        EMAIL,
        CARD,
        extra={"headers": {"authorization": f"Bearer {TOKEN}"}, "contact": EMAIL},
    )
    try:
        raise ValueError(f'webhook secret="{TOKEN}" refused for {EMAIL}')
    except ValueError:
        logger.exception("a failure with a traceback")
    text = out.getvalue()
    for secret in (TOKEN, EMAIL, CARD, "4111111111111111"):
        assert secret not in text, secret
    first, second = parsed(out)  # still one valid JSON object per line
    assert "[redacted]" in str(first["message"]) and "[redacted email]" in str(first["message"])
    assert "[redacted card]" in str(first["message"])
    assert first["contact"] == "[redacted email]"
    assert "ValueError" in str(second["exc_info"])


def test_the_text_format_is_redacted_too_and_names_the_correlation_id() -> None:
    out = io.StringIO()
    record = logging.LogRecord(
        "ordersync.x", logging.INFO, __file__, 1, "token=%s to %s", (TOKEN, EMAIL), None
    )
    handler = logs.handler("text", out)
    token = correlation.begin("corr-7")
    try:
        handler.handle(record)
    finally:
        correlation.end(token)
    line = out.getvalue()
    assert TOKEN not in line and EMAIL not in line
    assert "token=[redacted]" in line and line.rstrip().endswith("[correlation_id=corr-7]")


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("published 4000 message(s) in 0.2s", "published 4000 message(s) in 0.2s"),
        ("message_timestamp 1764635000001", "message_timestamp 1764635000001"),  # not Luhn
        ("order 7f1c9a2e-5b3d-4e8f-9a0b-1c2d3e4f5a6b allocated", None),
        ("webhook secret rotated for channel web", None),
    ],
)
def test_redaction_leaves_ordinary_text_alone(text: str, kept: str | None) -> None:
    assert redact(text) == (kept or text)


def test_the_log_format_is_json_for_the_servers_text_for_commands_unless_set() -> None:
    assert [logs.format_for(c, None) for c in ("api", "relay", "worker")] == ["json"] * 3
    assert [logs.format_for(c, None) for c in ("demo", "outbox", None)] == ["text"] * 3
    assert logs.format_for("demo", "JSON") == "json"
    assert logs.format_for("api", "text") == "text"
    with pytest.raises(logs.LogSettingsError, match="choose one of json, text"):
        logs.format_for("api", "xml")
