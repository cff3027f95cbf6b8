"""One local RabbitMQ node with its AMQP 1.0 plugin: the IPC-CFX transport for tests and the demo.

RabbitMQ comes from Debian's `rabbitmq-server` package (3.10 ships the `rabbitmq_amqp1_0` plugin),
installed through `system_packages` when root and missing. The node runs without systemd, entirely in
the state folder (`.spi-crrn/rabbitmq/`): RABBITMQ_MNESIA_BASE, RABBITMQ_LOG_BASE, its own
enabled-plugins file naming `rabbitmq_amqp1_0` (the plugin is enabled by that file, no running node
needed), its own node name, Erlang cookie (HOME) and ports (RABBITMQ_NODE_PORT for AMQP 0-9-1 and 1.0 on
127.0.0.1, the distribution port, and a private EPMD port so it never meets another node). The default
`guest` user is what AMQP 1.0 clients on 127.0.0.1 get (`amqp://guest:guest@127.0.0.1:PORT`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import subprocess
from pathlib import Path

from streams.services.paths import StatePaths
from streams.services.processes import log_tail, pick_port, process_alive, read_pid, stop_process, wait_until
from streams.services.system_packages import MissingProgramError, apt_install

log = logging.getLogger(__name__)

DEFAULT_PORT = 5672
SERVER_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # Debian's real script (sbin is a wrapper)


def ensure_server_script() -> Path:
    """The rabbitmq-server start script, installing Debian's package when root and missing."""
    found = _find_server_script()
    if found is None:
        apt_install(["rabbitmq-server"], "IPC-CFX needs an AMQP 1.0 broker (RabbitMQ with rabbitmq_amqp1_0)")
        found = _find_server_script()
    if found is None:
        raise MissingProgramError("rabbitmq-server installed but no start script found")
    return found


def _find_server_script() -> Path | None:
    if SERVER_SCRIPT.is_file():
        return SERVER_SCRIPT
    candidates = sorted(Path("/usr/lib/rabbitmq/lib").glob("rabbitmq_server-*/sbin/rabbitmq-server"))
    if candidates:
        return candidates[-1]
    on_path = shutil.which("rabbitmq-server")
    return Path(on_path) if on_path else None


class LocalRabbitMQ:
    """Start, stop and inspect the local RabbitMQ node whose state lives in `paths.root / 'rabbitmq'`."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self.root = paths.root / "rabbitmq"
        key = hashlib.sha256(str(self.root.resolve()).encode()).hexdigest()[:8]
        self.node_name = f"spi-crrn-{key}@localhost"

    @property
    def _port_file(self) -> Path:
        return self.root / "port"

    @property
    def _pid_file(self) -> Path:
        return self.root / "rabbitmq.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "log" / "stdout.log"

    def port(self) -> int | None:
        try:
            return int(self._port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def pid(self) -> int | None:
        pid = read_pid(self._pid_file)
        return pid if pid is not None and process_alive(pid, "rabbit") else None

    def url(self, port: int) -> str:
        return f"amqp://guest:guest@127.0.0.1:{port}"

    def _env(self, port: int) -> dict[str, str]:
        home = self.root / "home"
        return {
            **os.environ,
            "HOME": str(home),  # the Erlang cookie lives here, private to this node
            "RABBITMQ_NODENAME": self.node_name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(port),
            "RABBITMQ_DIST_PORT": str(self._dist_port(port)),
            "ERL_EPMD_PORT": str(self._epmd_port(port)),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq"),  # rabbitmq.conf
            "RABBITMQ_PID_FILE": str(self._pid_file),
            "RABBITMQ_SERVER_ERL_ARGS": "+S 1:1 +A 4",  # one scheduler: these machines have 2 cores
        }

    def _dist_port(self, port: int) -> int:
        return (
            int(self.root.joinpath("dist_port").read_text())
            if self.root.joinpath("dist_port").exists()
            else port + 20000
        )

    def _epmd_port(self, port: int) -> int:
        return (
            int(self.root.joinpath("epmd_port").read_text())
            if self.root.joinpath("epmd_port").exists()
            else port + 21000
        )

    def start(self, timeout_s: float = 120.0) -> str:
        """Start the node unless it runs; returns the AMQP URL once a client can open a connection."""
        port = self.port()
        if self.pid() is not None and port is not None:
            self.wait_ready(port, timeout_s)
            return self.url(port)
        script = ensure_server_script()
        for sub in ("mnesia", "log", "home"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        port = pick_port(self.port() or DEFAULT_PORT)
        dist = pick_port(port + 20000 if port + 20000 < 65000 else 25672, avoid=[port])
        epmd = pick_port(port + 21000 if port + 21000 < 65000 else 24369, avoid=[port, dist])
        self.root.joinpath("dist_port").write_text(str(dist))
        self.root.joinpath("epmd_port").write_text(str(epmd))
        self._port_file.write_text(str(port))
        (self.root / "enabled_plugins").write_text("[rabbitmq_amqp1_0].\n")
        (self.root / "rabbitmq.conf").write_text(
            "loopback_users.guest = true\n"  # guest only from 127.0.0.1 (the node listens nowhere else)
            "amqp1_0.default_user = guest\n"
            "vm_memory_high_watermark.absolute = 256MiB\n"
            "disk_free_limit.absolute = 50MB\n"
        )
        cookie = self.root / "home" / ".erlang.cookie"
        if not cookie.exists():
            cookie.write_text(hashlib.sha256(os.urandom(32)).hexdigest()[:20])
            cookie.chmod(0o400)
        with self.log_file.open("ab") as out:
            proc = subprocess.Popen(
                [str(script)], env=self._env(port), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=str(self.root),
            )  # fmt: skip
        self._pid_file.write_text(f"{proc.pid}\n")
        self.wait_ready(port, timeout_s, proc)
        return self.url(port)

    def wait_ready(self, port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        """Block until the node accepts an AMQP 1.0 protocol header on `port`."""

        def ready() -> bool:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"RabbitMQ exited with code {proc.returncode} while starting; last lines of "
                    f"{self.log_file}:\n{log_tail(self.log_file)}"
                )
            return amqp10_answers("127.0.0.1", port)

        if not wait_until(ready, timeout_s, interval_s=0.5):
            raise RuntimeError(
                f"RabbitMQ did not answer AMQP 1.0 on 127.0.0.1:{port} within {timeout_s:.0f} s; last lines "
                f"of {self.log_file}:\n{log_tail(self.log_file)}"
            )

    def stop(self, timeout_s: float = 30.0) -> str:
        pid = self.pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            return "not running"
        # The script execs the Erlang VM (beam) under the same pid; TERM stops the node cleanly.
        outcome = stop_process(pid, timeout_s=timeout_s)
        self._stop_epmd()
        self._pid_file.unlink(missing_ok=True)
        return outcome

    def _stop_epmd(self) -> None:
        port = self.port()
        if port is None or shutil.which("epmd") is None:
            return
        env = {**os.environ, "ERL_EPMD_PORT": str(self._epmd_port(port))}
        subprocess.run(["epmd", "-kill"], env=env, capture_output=True, check=False)

    def running_version(self) -> str:
        """The version the node logged at start."""
        import re

        text = ""
        for path in (self.root / "log").glob("*.log"):
            try:
                text += path.read_text(errors="replace")
            except OSError:
                continue
        found = re.findall(r"RabbitMQ (\d+\.\d+\.\d+)", text)
        return f"RabbitMQ {found[-1]}" if found else "RabbitMQ"


def redact_url(url: str) -> str:
    """`amqp://user:secret@host:port` -> `amqp://user:***@host:port`, safe to print."""
    scheme, sep, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{location}"


def amqp10_answers(host: str, port: int, timeout_s: float = 2.0) -> bool:
    """True when the server answers the AMQP 1.0 SASL protocol header with a protocol header."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"AMQP\x03\x01\x00\x00")
            reply = sock.recv(8)
    except OSError:
        return False
    return reply.startswith(b"AMQP")
