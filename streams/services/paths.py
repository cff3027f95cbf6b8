"""Where local services keep their state: everything lives under the git-ignored `.spi-crrn/` folder."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from streams.settings import state_dir

# Where the PostgreSQL cluster goes when root runs us from a folder the `postgres` user cannot reach
# (e.g. a clone under a 0700 temp folder): PostgreSQL refuses root, so its files must be reachable.
SERVER_REACHABLE_BASE = Path("/var/lib/spi-crrn")


def traversable_by_others(path: Path) -> bool:
    """True when every existing folder on the way to `path` lets other users pass (o+x)."""
    return all(folder.stat().st_mode & 0o001 for folder in [path, *path.parents] if folder.exists())


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
    def pg_relocated(self) -> bool:
        """Running as root below a folder the `postgres` user cannot traverse: keep the cluster elsewhere."""
        return os.geteuid() == 0 and not traversable_by_others(self.root.parent)

    @property
    def pg(self) -> Path:
        if self.pg_relocated:
            key = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
            return SERVER_REACHABLE_BASE / key / "pg"
        return self.root / "pg"

    @property
    def pg_data(self) -> Path:
        return self.pg / "data"

    @property
    def pg_socket_dir(self) -> Path:
        return self.pg / "run"

    @property
    def pg_log(self) -> Path:
        return self.pg / "postgres.log" if self.pg_relocated else self.logs / "postgres.log"
