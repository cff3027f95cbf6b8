"""Log output for every command: readable text (default) or one JSON object per line (LOG_FORMAT=json).

A JSON line has `time` (UTC, ISO 8601 with milliseconds), `level`, `logger` and `message`, then the
context of the event where it applies: the ids set with `log_context(...)` by the code around the call
(the worker sets the input partition and offset per record and the batch id and printers per inference
batch) and any of `CONTEXT_FIELDS` passed with `extra=`, then `exc_info` as text for exceptions.
Text lines show the same context as `key=value` after the message.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import logging.config
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("printer_id", "event_id", "batch_id", "topic", "partition", "offset", "printers")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_context: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "spi_crrn_log_context", default=None
)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every log record emitted inside the block (this thread / task only)."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    out = dict(_context.get() or {})
    for name in CONTEXT_FIELDS:
        value = record.__dict__.get(name)
        if value is not None:
            out[name] = value
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(_fields(record))
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The readable default, with the context as ` key=value` pairs after the message."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        line = super().formatMessage(record)
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return line


def logging_config(level: int | str, log_format: str = "text") -> dict[str, Any]:
    """A `logging.config.dictConfig` dict: one stderr handler with the chosen formatter on the root logger
    (also given to Faust's worker, which would otherwise install its own colored handler)."""
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"()": formatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default"}},
        "root": {"level": level, "handlers": ["default"]},
    }


def configure_logging(level: int | str, log_format: str = "text") -> None:
    """The CLI's logging: like `logging.basicConfig`, a no-op when the root logger has handlers already
    (e.g. pytest's capture), otherwise one stderr handler with the chosen formatter."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler])
