"""One local PostgreSQL cluster from the Debian server binaries, in `.spi-crrn/pg/data`.

PostgreSQL refuses to run as root: when the effective uid is 0 the cluster belongs to the `postgres`
system user (created by the Debian package) and every server command runs through `runuser`. The
cluster listens on 127.0.0.1 only, with `trust` authentication (a development cluster: no passwords).
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shutil
import signal
import subprocess
from pathlib import Path

from streams.services.paths import StatePaths
from streams.services.processes import log_tail, pick_port, port_free, process_alive, read_pid, stop_process
from streams.services.system_packages import MissingProgramError, apt_install

log = logging.getLogger(__name__)

DEFAULT_PORT = 5432
DATABASE = "spi_crrn"
SUPERUSER = "postgres"
ADMIN_ROLE = "spi_admin"  # owns the database, runs migrations
WRITER_ROLE = "spi_writer"  # the pipeline: SELECT, INSERT, UPDATE on tables
REPORTER_ROLE = "spi_reporter"  # reporting: SELECT on the v_* views only
SERVICE_USER = "postgres"  # system user that owns the data folder when we run as root


def find_bin_dir() -> Path | None:
    """Newest `/usr/lib/postgresql/<ver>/bin` that has initdb, else the folder of `pg_ctl` on PATH."""
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file()]

    def major(p: Path) -> float:
        try:
            return float(p.parent.name)
        except ValueError:
            return 0.0

    if candidates:
        return max(candidates, key=major)
    on_path = shutil.which("pg_ctl")
    if on_path and (Path(on_path).parent / "initdb").is_file():
        return Path(on_path).parent
    return None


def ensure_bin_dir() -> Path:
    found = find_bin_dir()
    if found:
        return found
    apt_install(["postgresql"], "the local database needs the PostgreSQL server binaries")
    found = find_bin_dir()
    if not found:
        raise MissingProgramError("PostgreSQL installed but no /usr/lib/postgresql/*/bin/initdb found")
    return found


def local_url(user: str, port: int, database: str = DATABASE) -> str:
    return f"postgresql+psycopg://{user}@127.0.0.1:{port}/{database}"


class LocalPostgres:
    """Start, stop and inspect the local PostgreSQL cluster whose state lives in `paths.pg`."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths

    @property
    def _port_file(self) -> Path:
        return self.paths.pg / "port"

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run_as_owner(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", SERVICE_USER, "--"] if self._as_root else []
        return subprocess.run([*prefix, *argv], capture_output=True, text=True, cwd="/")

    def port(self) -> int | None:
        try:
            return int(self._port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        pid = read_pid(self.paths.pg_data / "postmaster.pid")
        if pid is not None and process_alive(pid, "postgres"):
            return pid
        return None

    def _prepare_folders(self) -> None:
        """Create data, socket and log locations owned by the server's user."""
        if self.paths.pg_relocated:
            log.info(
                "%s is not reachable by the `%s` user: the cluster lives in %s",
                self.paths.root, SERVICE_USER, self.paths.pg,
            )  # fmt: skip
        for folder in (self.paths.pg, self.paths.pg_socket_dir, self.paths.logs):
            folder.mkdir(parents=True, exist_ok=True)
        self.paths.pg_log.touch(exist_ok=True)
        if self._as_root:
            try:
                owner = pwd.getpwnam(SERVICE_USER)
            except KeyError:
                raise MissingProgramError(
                    f"running as root needs the `{SERVICE_USER}` system user from the Debian postgresql "
                    "package: apt-get install -y postgresql"
                ) from None
            for path in (self.paths.pg, self.paths.pg_socket_dir, self.paths.pg_log):
                os.chown(path, owner.pw_uid, owner.pw_gid)
            if self.paths.pg_data.exists():
                os.chown(self.paths.pg_data, owner.pw_uid, owner.pw_gid)
            check = self._run_as_owner(["test", "-w", str(self.paths.pg)])
            if check.returncode != 0:
                raise RuntimeError(
                    f"the `{SERVICE_USER}` user cannot write {self.paths.pg}: a parent folder is not "
                    "traversable by other users; set SPI_CRRN_STATE_DIR to a folder it can reach "
                    "(e.g. /srv/spi-crrn)"
                )

    def start(self, timeout_s: float = 60.0) -> int:
        """Start the cluster unless it runs (initdb on first use); returns the port."""
        running_port = self.port()
        if self.pid() is not None and running_port is not None:
            return running_port
        bin_dir = ensure_bin_dir()
        self._prepare_folders()
        data = self.paths.pg_data
        if not (data / "PG_VERSION").is_file():
            init = self._run_as_owner(
                [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                 "--locale=C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "--locale=C"]
            )  # fmt: skip
            if init.returncode != 0:
                raise RuntimeError(f"initdb failed:\n{init.stdout}{init.stderr}")
        previous = self.port()
        port = previous if previous is not None and port_free(previous) else pick_port(DEFAULT_PORT)
        options = f"-p {port} -k {self.paths.pg_socket_dir} -c listen_addresses=127.0.0.1"
        started = self._run_as_owner(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(self.paths.pg_log), "-o", options,
             "-w", "-t", str(int(timeout_s)), "start"]
        )  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(
                f"pg_ctl start failed:\n{started.stdout}{started.stderr}\n"
                f"last lines of {self.paths.pg_log}:\n{log_tail(self.paths.pg_log)}"
            )
        self._port_file.write_text(f"{port}\n")
        self.bootstrap(port)
        return port

    def bootstrap(self, port: int) -> None:
        """Create the roles and the `spi_crrn` database when missing (idempotent)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host="127.0.0.1", port=port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            roles = {
                ADMIN_ROLE: "LOGIN CREATEDB CREATEROLE",
                WRITER_ROLE: "LOGIN",
                REPORTER_ROLE: "LOGIN",
            }
            for role, options in roles.items():
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                if not exists:
                    # options are the fixed keywords above, composed as SQL, never a value
                    conn.execute(sql.SQL("CREATE ROLE {} {}").format(sql.Identifier(role), sql.SQL(options)))
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(DATABASE), sql.Identifier(ADMIN_ROLE)
                    )
                )

    def stop(self, timeout_s: float = 30.0) -> str:
        """Fast shutdown (SIGINT: disconnect clients, checkpoint), then SIGKILL after `timeout_s`."""
        pid = self.pid()
        if pid is None:
            return "not running"
        return stop_process(pid, first_signal=signal.SIGINT, timeout_s=timeout_s)

    def urls(self, port: int) -> dict[str, str]:
        return {
            "DATABASE_URL": local_url(WRITER_ROLE, port),
            "DATABASE_ADMIN_URL": local_url(ADMIN_ROLE, port),
            "DATABASE_REPORTER_URL": local_url(REPORTER_ROLE, port),
        }


def server_version(url: str) -> str:
    """`PostgreSQL 15.18` from a running server reachable at `url` (SQLAlchemy or libpq form)."""
    import psycopg

    from streams.db.engine import libpq_url as to_libpq

    with psycopg.connect(to_libpq(url), connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    version = str(row[0]) if row else "unknown"
    return "PostgreSQL " + re.split(r"\s", version, maxsplit=1)[0]
