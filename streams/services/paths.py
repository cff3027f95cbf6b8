"""Where local services keep their state: everything lives under the git-ignored `.spi-crrn/` folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from streams.settings import state_dir


@dataclass(frozen=True)
class StatePaths:
    """Folders and files of the local services below one state root (default `./.spi-crrn`)."""

    root: Path

    @classmethod
    def default(cls) -> StatePaths:
        return cls(state_dir())

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def env_file(self) -> Path:
        return self.root / "services.env"

    @property
    def lock_file(self) -> Path:
        return self.root / "services.lock"

    # Kafka
    @property
    def kafka(self) -> Path:
        return self.root / "kafka"

    @property
    def kafka_libs(self) -> Path:
        return self.kafka / "libs"

    @property
    def kafka_data(self) -> Path:
        return self.kafka / "data"

    @property
    def kafka_pid(self) -> Path:
        return self.kafka / "kafka.pid"

    @property
    def kafka_log(self) -> Path:
        return self.logs / "kafka.log"

    # PostgreSQL
    @property
    def pg(self) -> Path:
        return self.root / "pg"

    @property
    def pg_data(self) -> Path:
        return self.pg / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.pg / "run"

    @property
    def pg_log(self) -> Path:
        return self.logs / "postgres.log"
