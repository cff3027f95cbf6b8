"""One settings object for the whole system, read from the environment (and overridden by CLI flags).

Precedence: explicit CLI flag > environment variable > `.spi-crrn/services.env` written by
`spi-crrn services up` > default. Secrets (SASL password) are kept out of `repr()` and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

Device = Literal["auto", "cpu", "cuda"]

STATE_DIR_ENV = "SPI_CRRN_STATE_DIR"


def state_dir() -> Path:
    """Folder for local services, caches and the services.env file (git-ignored)."""
    return Path(os.environ.get(STATE_DIR_ENV, Path.cwd() / ".spi-crrn")).resolve()


def read_env_file(path: Path) -> dict[str, str]:
    """Parse a KEY=VALUE file (the one `services up` writes); missing file gives {}."""
    if not path.is_file():
        return {}
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        out[key.strip()] = value.strip().strip('"').strip("'")
    return out


@dataclass(frozen=True)
class Settings:
    """Every knob of the system. Field `x` is read from the environment variable `X` (upper case)."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    kafka_sasl_mechanism: str = ""  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = field(default="", repr=False)
    kafka_ssl_cafile: str = ""
    topic_inspections: str = "spi.inspections"
    topic_alarms: str = "spi.alarms"
    topic_defects: str = "spi.defects"
    topic_dlq: str = "spi.inspections.dlq"
    topic_partitions: int = 4
    database_url: str = "postgresql+psycopg://spi_writer@127.0.0.1:5432/spi_crrn"
    database_admin_url: str = ""  # owner role for migrations; "" means use DATABASE_URL
    database_reporter_url: str = ""  # read-only reporting role; "" means not configured
    device: Device = "auto"
    model_path: str = ""
    window_length: int = 10  # T: boards per window (one stencil-cleaning cycle in the paper)
    window_hop: int = 1  # boards between consecutive windows of one printer
    max_pads: int = 100_000
    worker_id: str = "spi-crrn-worker"
    # IPC-CFX over AMQP 1.0 (issue 13): the broker (`services up --with-amqp` writes AMQP_URL), the CFX
    # addresses, and this endpoint's CFX handle (the "Source" of the messages it sends)
    amqp_url: str = ""
    cfx_inspections_address: str = "/queue/cfx.units-inspected"
    cfx_faults_address: str = "/queue/cfx.faults"
    cfx_acks_address: str = "/queue/cfx.fault-acks"
    cfx_handle: str = "spi-crrn.diagnosis"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from `environ` (default: os.environ plus the services.env file)."""
        env: dict[str, str] = {}
        if environ is None:
            env.update(read_env_file(state_dir() / "services.env"))
            env.update(os.environ)
        else:
            env.update(environ)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse_int(f.name, raw) if f.type in ("int", int) else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        """Reject impossible values with a message naming the variable and the fix."""
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"DEVICE={self.device!r}: use one of auto, cpu, cuda")
        for name in ("window_length", "window_hop", "max_pads", "topic_partitions"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.upper()}={getattr(self, name)}: must be a positive integer")
        if self.window_hop > self.window_length:
            raise ValueError(
                f"WINDOW_HOP={self.window_hop} > WINDOW_LENGTH={self.window_length}: "
                "boards between windows would never be scored; use a hop <= the window length"
            )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def __repr__(self) -> str:
        """Like the dataclass repr, but passwords inside URLs are masked (repr=False fields left out)."""
        shown = (f"{f.name}={_mask_url_password(getattr(self, f.name))!r}" for f in fields(self) if f.repr)
        return f"{type(self).__name__}({', '.join(shown)})"


def _parse_int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name.upper()}={raw!r}: must be an integer, e.g. {name.upper()}=4") from None


def _mask_url_password(value: Any) -> Any:
    """`scheme://user:secret@host/db` -> `scheme://user:***@host/db`; other values unchanged."""
    if not isinstance(value, str) or "://" not in value or "@" not in value:
        return value
    scheme, rest = value.split("://", 1)
    credentials, sep, location = rest.rpartition("@")
    if ":" not in credentials:
        return value
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***{sep}{location}"
