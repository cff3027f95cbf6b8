"""One settings object for the whole system, read from the environment (and overridden by CLI flags).

Precedence: explicit CLI flag > environment variable > `.spi-crrn/services.env` written by
`spi-crrn services up` > default. The fields are typed and validated by pydantic (pydantic-settings reads
the variables: field `x` from `X`, case-insensitive, an empty value meaning the default); a bad value is
reported as `NAME=value: what is wrong / the fix`, naming the variable, never as a pydantic traceback.

`Settings(...)` alone is the defaults plus its arguments (it reads no environment, so tests and callers
get what they wrote); `Settings.from_env(...)` is the one that reads the environment and the services
file. Secrets stay out of `repr()` and logs: the SASL password is a `SecretStr`, and the password inside
a database URL is shown as `***`.

Large boards (issue 15): `KAFKA_MAX_MESSAGE_BYTES` (default and minimum 16 MiB) is the largest Kafka record
the system sends or accepts -- the producers' `max_request_size`, the worker's fetch size (twice it), the
`max.message.bytes` of the inspection, alarm and dead-letter topics `ensure_topics` creates, the local
broker's `message.max.bytes` (`spi-crrn services up`), and the validator's `max_event_bytes` (a bigger
event is a dead letter, refused before decoding). A 50,000-pad board is ~4.5 MB of JSON; an alarm
message takes ~210 bytes per alarmed pad (16 MiB: ~79,000 alarmed pads). `MAX_PADS` (default 100,000) is
the largest board accepted. See docs/pipeline.md, "Large boards".
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

Device = Literal["auto", "cpu", "cuda"]
LogFormat = Literal["text", "json"]

STATE_DIR_ENV = "SPI_CRRN_STATE_DIR"
# Kafka records of the system (a board's JSON, an alarm message, a dead letter) are at most this many bytes
# by default, and KAFKA_MAX_MESSAGE_BYTES may only raise it: a dead letter keeps up to 8 MiB of its original
# (schemas.messages.MAX_DEAD_LETTER_ORIGINAL_BYTES), 10.7 MiB in base64, which must still fit.
DEFAULT_MAX_MESSAGE_BYTES = 16 * 2**20


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


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of `os.environ` (so the
    services file and the process environment are merged with our precedence first)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class Settings(BaseSettings):
    """Every knob of the system. Field `x` is read from the environment variable `X` (upper case)."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", case_sensitive=False, env_ignore_empty=True, validate_default=False
    )

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"  # PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
    kafka_sasl_mechanism: str = ""  # PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr = SecretStr("")
    kafka_ssl_cafile: str = ""
    kafka_max_message_bytes: int = (
        DEFAULT_MAX_MESSAGE_BYTES  # largest record sent/accepted (module docstring)
    )
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
    # -- issue 14, measurements and dashboard: retention of stored rows, the dashboard's port
    retention_days: int = 30  # boards (with measurements, maps, alarms) and defects older than this go
    retention_hourly_days: int = 400  # printer-hour aggregates are kept longer: 24 rows a day per printer
    retention_batch: int = 5000  # boards deleted per transaction by `spi-crrn db retention`
    dashboard_port: int = 8080

    # --- observability (issue 14): metrics and health endpoints of the worker, log format
    metrics_port: int = 9464  # worker's /metrics, /healthz, /readyz on 0.0.0.0:PORT; 0 = no HTTP server
    ready_max_lag: int = 1000  # /readyz is 503 while the consumer lag (records, summed) is above this
    log_format: LogFormat = "text"  # text | json (one JSON object per line)

    # IPC-CFX over AMQP 1.0 (issue 13): the broker (`services up --with-amqp` writes AMQP_URL), the CFX
    # addresses, and this endpoint's CFX handle (the "Source" of the messages it sends)
    amqp_url: str = ""
    cfx_inspections_address: str = "/queue/cfx.units-inspected"
    cfx_faults_address: str = "/queue/cfx.faults"
    cfx_acks_address: str = "/queue/cfx.fault-acks"
    cfx_handle: str = "spi-crrn.diagnosis"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """`Settings(...)` reads only its arguments; the environment comes in through `from_env`."""
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from `environ` (default: os.environ over the services.env file); non-None
        `overrides` (CLI flags) win over both."""
        if environ is None:
            environ = {**read_env_file(state_dir() / "services.env"), **os.environ}
        values: dict[str, Any] = dict(_MappingEnvSource(cls, environ)())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls._build(values)

    @classmethod
    def _build(cls, values: Mapping[str, Any]) -> Settings:
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ValueError(_explain(exc, values)) from None

    @model_validator(mode="after")
    def _check(self) -> Settings:
        self.check()
        return self

    def check(self) -> None:
        """Reject impossible values with a message naming the variable and the fix."""
        for name in (
            "window_length",
            "window_hop",
            "max_pads",
            "topic_partitions",
            "retention_days",
            "retention_hourly_days",
            "retention_batch",
            "dashboard_port",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.upper()}={getattr(self, name)}: must be a positive integer")
        if self.window_hop > self.window_length:
            raise ValueError(
                f"WINDOW_HOP={self.window_hop} > WINDOW_LENGTH={self.window_length}: "
                "boards between windows would never be scored; use a hop <= the window length"
            )
        if not DEFAULT_MAX_MESSAGE_BYTES <= self.kafka_max_message_bytes < 2**30:
            raise ValueError(
                f"KAFKA_MAX_MESSAGE_BYTES={self.kafka_max_message_bytes}: use {DEFAULT_MAX_MESSAGE_BYTES}"
                " (16 MiB, the default) or more, below 1 GiB (an oversized event's dead letter needs 16 MiB)"
            )
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"METRICS_PORT={self.metrics_port}: use a TCP port 1-65535, or 0 for no server")
        if self.ready_max_lag < 0:
            raise ValueError(f"READY_MAX_LAG={self.ready_max_lag}: must be >= 0 (records)")

    def with_(self, **changes: Any) -> Settings:
        """A copy with `changes` (validated like `from_env`)."""
        return type(self)._build({**dict(self), **changes})

    def __repr_args__(self) -> Any:
        """Like pydantic's repr (SecretStr shown as '**********'), with passwords inside URLs masked."""
        for name, value in super().__repr_args__():
            yield name, _mask_url_password(value)


def _explain(exc: ValidationError, values: Mapping[str, Any]) -> str:
    """The first validation error as `NAME=value: problem` (the wording of the former hand parser)."""
    err = exc.errors()[0]
    name = str(err["loc"][0]) if err["loc"] else ""
    raw = values.get(name)
    kind = err["type"]
    if kind == "value_error":  # raised by check(): already names the variable
        return str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
    if kind.startswith("int_"):
        return f"{name.upper()}={raw!r}: must be an integer, e.g. {name.upper()}=4"
    if kind == "literal_error":
        choices = str(err["ctx"]["expected"]).replace(" or ", ", ").replace("'", "")
        return f"{name.upper()}={raw!r}: use one of {choices}"
    if kind == "extra_forbidden":
        return f"{name}: no such setting"
    return f"{name.upper()}={raw!r}: {err['msg']}"


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
