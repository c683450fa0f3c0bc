"""Logging for every process: one JSON object per line (or text for a person's console),
each naming the work it was written for — correlation id, trace id, span id — and redacted.

ORDERSYNC_LOG_FORMAT=json|text. JSON is the default of the long-running processes (api,
relay, worker: a log shipper reads them), text of the commands a person runs (the demo's
live console among them). A JSON line holds `time` (ISO 8601, UTC), `level`, `logger`,
`message`, `correlation_id`, `trace_id`, `span_id` (null when there is none) and any
`extra=` fields of the record.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from opentelemetry import trace
from pythonjsonlogger.orjson import OrjsonFormatter

from adapters import correlation
from ops.redaction import redact

FORMATS = ("json", "text")
JSON_BY_DEFAULT = frozenset({"api", "relay", "worker"})
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_JSON_FIELDS = ["levelname", "name", "message", "correlation_id", "trace_id", "span_id"]
_RENAMED = {"levelname": "level", "name": "logger"}
_QUIET = ("pika", "httpx", "httpcore")  # every connection event, every request: noise at INFO


class LogSettingsError(ValueError):
    """ORDERSYNC_LOG_FORMAT holds neither json nor text."""


class WorkContext(logging.Filter):
    """Names on each record the request or delivery it was logged for."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation.current()
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            record.trace_id, record.span_id = f"{span.trace_id:032x}", f"{span.span_id:016x}"
        else:
            record.trace_id = record.span_id = None
        return True


class JsonLines(OrjsonFormatter):
    """One JSON object per record, redacted (ops/redaction.py)."""

    def __init__(self) -> None:
        super().__init__(_JSON_FIELDS, rename_fields=_RENAMED, timestamp="time")

    def jsonify_log_record(self, log_data: Any) -> str:
        return redact(super().jsonify_log_record(log_data))


class RedactedText(logging.Formatter):
    """The classic text line, redacted, with the correlation id when there is one."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        corr = getattr(record, "correlation_id", None)
        return redact(f"{line} [correlation_id={corr}]" if corr else line)


def format_for(command: str | None, setting: str | None) -> str:
    """The log format of a command: ORDERSYNC_LOG_FORMAT if set, else the command's default."""
    if setting:
        chosen = setting.strip().lower()
        if chosen not in FORMATS:
            raise LogSettingsError(
                f"ORDERSYNC_LOG_FORMAT={setting!r}: choose one of {', '.join(FORMATS)}"
            )
        return chosen
    return "json" if command in JSON_BY_DEFAULT else "text"


def handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing `log_format` lines (json or text) to `stream` (stderr)."""
    made = logging.StreamHandler(stream or sys.stderr)
    made.addFilter(WorkContext())
    made.setFormatter(JsonLines() if log_format == "json" else RedactedText())
    return made


def configure(level: int, log_format: str, stream: IO[str] | None = None) -> logging.Handler | None:
    """The root logger writes `log_format` lines to `stream` (stderr) from now on; returns its
    handler. Like logging.basicConfig, it leaves a root logger that already has handlers
    alone (returns None): whoever set them (a test harness capturing logs, a program
    embedding the CLI) decides. pika's and httpx's chatter stays at WARNING unless `level`
    is DEBUG."""
    quiet = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for noisy in _QUIET:
        logging.getLogger(noisy).setLevel(quiet)
    root = logging.getLogger()
    if root.handlers:
        return None
    made = handler(log_format, stream)
    root.addHandler(made)
    root.setLevel(level)
    return made


def current_format() -> str | None:
    """The format the root logger writes (for a spawned child to do the same), if ours."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler.formatter, JsonLines):
            return "json"
        if isinstance(handler.formatter, RedactedText):
            return "text"
    return None
