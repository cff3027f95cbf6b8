"""Load the JSON Schema documents shipped in `schemas/json/` (one file per message type and version)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCHEMA_NAMES = ("spi.board_inspection.v1", "spi.pad_alarm.v1", "spi.printer_defect.v1", "spi.dead_letter.v1")


def load_json_schema(name: str) -> dict[str, Any]:
    """The JSON Schema document for `name` (e.g. "spi.board_inspection.v1")."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"schema {name!r} is unknown; use one of {', '.join(SCHEMA_NAMES)}")
    text = resources.files("schemas").joinpath("json", f"{name}.json").read_text(encoding="utf-8")
    doc: dict[str, Any] = json.loads(text)
    return doc
