"""Log formatters: one JSON object per line with the context; the text default with it as key=value."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
import threading

import pytest

from streams.observability.logs import JsonFormatter, TextFormatter, log_context, logging_config


def emit(formatter: logging.Formatter, *args: object, exc: bool = False, **extra: object) -> str:
    logger = logging.getLogger("spi.test")
    record = logger.makeRecord(
        "spi.test", logging.WARNING, __file__, 1, args[0], args[1:], sys.exc_info() if exc else None,
        extra=extra or None,
    )  # fmt: skip
    record.created = 1767225600.25  # 2026-01-01T00:00:00.250Z
    return formatter.format(record)


def test_json_line_has_time_level_logger_message() -> None:
    line = emit(JsonFormatter(), "dead letter %s: %s", "in-0@3", "event_id")
    assert json.loads(line) == {
        "time": "2026-01-01T00:00:00.250+00:00",
        "level": "WARNING",
        "logger": "spi.test",
        "message": "dead letter in-0@3: event_id",
    }


def test_json_has_the_context_and_the_extra_ids() -> None:
    with log_context(batch_id=7, printers="P1,P2"), log_context(partition=2):
        line = emit(JsonFormatter(), "stored", printer_id="P1", event_id="e-1", unrelated="x")
    assert json.loads(line) == {
        "time": "2026-01-01T00:00:00.250+00:00", "level": "WARNING", "logger": "spi.test",
        "message": "stored", "batch_id": 7, "printers": "P1,P2", "partition": 2,
        "printer_id": "P1", "event_id": "e-1",
    }  # fmt: skip
    assert "batch_id" not in json.loads(emit(JsonFormatter(), "after the block"))


def test_json_exception_stays_on_one_line() -> None:
    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        line = emit(JsonFormatter(), "failed", exc=True)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed"
    assert "ValueError: bad" in entry["exc_info"]


def test_json_keeps_non_ascii_and_stringifies_odd_values() -> None:
    from pathlib import PurePosixPath

    line = emit(JsonFormatter(), "Lötpaste %s", "ok", event_id=PurePosixPath("/e/1"))
    assert "Lötpaste ok" in line  # not \u-escaped
    assert json.loads(line)["event_id"] == "/e/1"


def test_context_is_per_thread() -> None:
    seen: list[str] = []

    def other() -> None:
        seen.append(emit(JsonFormatter(), "other thread"))

    with log_context(batch_id=1):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert "batch_id" not in json.loads(seen[0])


def test_text_is_the_classic_line_with_context_pairs() -> None:
    formatter = TextFormatter()
    plain = emit(formatter, "partitions assigned: %s", "[0, 1]")
    assert plain.endswith(" WARNING spi.test: partitions assigned: [0, 1]")
    with log_context(partition=1, offset=9):
        assert emit(formatter, "dead letter").endswith("spi.test: dead letter partition=1 offset=9")


@pytest.mark.parametrize(("fmt", "is_json"), [("json", True), ("text", False)])
def test_logging_config_installs_one_root_handler(fmt: str, is_json: bool) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(logging_config(logging.INFO, fmt))
        [handler] = root.handlers
        stream = io.StringIO()
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        logging.getLogger("spi.cfg").info("hello")
        logging.getLogger("spi.cfg").debug("hidden")
        out = stream.getvalue().splitlines()
        assert len(out) == 1
        assert (json.loads(out[0])["message"] == "hello") if is_json else out[0].endswith("spi.cfg: hello")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def test_configure_logging_leaves_existing_handlers_alone(caplog: pytest.LogCaptureFixture) -> None:
    from streams.observability.logs import configure_logging

    root = logging.getLogger()
    before = root.handlers[:]
    configure_logging(logging.INFO, "json")
    assert root.handlers == before
    logging.getLogger("spi.keep").warning("still captured")
    assert "still captured" in caplog.text


@pytest.mark.parametrize(("env", "expected"), [("json", "json"), ("", "text"), ("yaml", "text")])
def test_cli_reads_log_format_from_the_settings(
    env: str, expected: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from streams.cli.main import _log_format

    monkeypatch.setenv("SPI_CRRN_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("LOG_FORMAT", env)
    assert _log_format() == expected  # a bad value: text, and commands reading the settings stop on it
