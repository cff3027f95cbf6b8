"""One local Apache Kafka node (combined KRaft broker + controller) run from Maven Central jars.

The jars are resolved once by Maven (`pom.xml` beside this module) into `.spi-crrn/kafka/libs`; the
storage is formatted with `kafka.tools.StorageTool --standalone`, and `kafka.Kafka` runs on 127.0.0.1
with a 512 MiB heap. Ports are remembered in `.spi-crrn/kafka/ports` because the controller's address
is written into the formatted metadata log.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from streams.services.paths import StatePaths
from streams.services.processes import (
    log_tail,
    pick_port,
    port_free,
    process_alive,
    read_pid,
    stop_process,
    wait_until,
)
from streams.services.system_packages import ensure_program
from streams.settings import DEFAULT_MAX_MESSAGE_BYTES, Settings

log = logging.getLogger(__name__)

POM = Path(__file__).with_name("pom.xml")
MAIN_CLASS = "kafka.Kafka"
DEFAULT_BROKER_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
MAX_MESSAGE_BYTES = DEFAULT_MAX_MESSAGE_BYTES  # boards with 50,000 pads are ~4.5 MB of JSON
HEAP = "-Xmx512m"


@dataclass(frozen=True)
class KafkaPorts:
    broker: int
    controller: int


def kafka_version() -> str:
    """The Kafka version pinned in pom.xml (the one source of truth)."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", POM.read_text())
    if not match:
        raise RuntimeError(f"{POM}: no <kafka.version> property")
    return match.group(1).strip()


def render_server_properties(
    ports: KafkaPorts, data_dir: Path, max_message_bytes: int = MAX_MESSAGE_BYTES
) -> str:
    """server.properties for one combined broker+controller node on 127.0.0.1; the broker accepts
    records of `max_message_bytes` (KAFKA_MAX_MESSAGE_BYTES when `services up` starts it)."""
    lines = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "listeners": f"PLAINTEXT://127.0.0.1:{ports.broker},CONTROLLER://127.0.0.1:{ports.controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{ports.broker}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{ports.controller}",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Topics are created explicitly by `ensure_topics`; Faust creates its own changelog topics.
        "auto.create.topics.enable": "false",
        "message.max.bytes": str(max_message_bytes),
        "replica.fetch.max.bytes": str(max_message_bytes),
        "socket.request.max.bytes": str(4 * max_message_bytes),
        "log.retention.hours": "48",
        "log.segment.bytes": str(64 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "2",
    }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def render_log4j2_properties(log_file: Path) -> str:
    """log4j2 configuration: everything at INFO into one file, noisy request logging off."""
    return (
        "status = warn\n"
        "appender.file.type = File\n"
        "appender.file.name = FILE\n"
        f"appender.file.fileName = {log_file}\n"
        "appender.file.layout.type = PatternLayout\n"
        "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.file.ref = FILE\n"
        "logger.request.name = kafka.request.logger\n"
        "logger.request.level = WARN\n"
    )


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (22 characters)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


class LocalKafka:
    """Start, stop and inspect the local Kafka node whose state lives in `paths.kafka`."""

    def __init__(self, paths: StatePaths) -> None:
        self.paths = paths
        self.version = kafka_version()

    # --- state -----------------------------------------------------------------------------------
    @property
    def _ports_file(self) -> Path:
        return self.paths.kafka / "ports"

    @property
    def _config_file(self) -> Path:
        return self.paths.kafka / "server.properties"

    @property
    def _log4j_file(self) -> Path:
        return self.paths.kafka / "log4j2.properties"

    def pid(self) -> int | None:
        pid = read_pid(self.paths.kafka_pid)
        if pid is not None and process_alive(pid, str(self._config_file)):
            return pid
        return None

    def ports(self) -> KafkaPorts | None:
        try:
            data = json.loads(self._ports_file.read_text())
            return KafkaPorts(int(data["broker"]), int(data["controller"]))
        except (OSError, ValueError, KeyError):
            return None

    def bootstrap_servers(self) -> str:
        ports = self.ports()
        if ports is None:
            raise RuntimeError("local Kafka has never been started: run `spi-crrn services up`")
        return f"127.0.0.1:{ports.broker}"

    # --- lifecycle -------------------------------------------------------------------------------
    def ensure_jars(self) -> Path:
        """Resolve the broker jars once into `.spi-crrn/kafka/libs` (a marker file records the version)."""
        libs = self.paths.kafka_libs
        marker = libs / f".complete-{self.version}"
        if marker.is_file():
            return libs
        ensure_program("java", ["default-jre-headless"], "Java 17+ runs the local Kafka broker")
        mvn = ensure_program("mvn", ["maven"], "Maven downloads the Kafka broker jars")
        log.info("resolving Apache Kafka %s jars with Maven (first run only)", self.version)
        if libs.exists():
            for old in libs.iterdir():
                old.unlink()
        libs.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={libs}"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"Maven could not resolve Kafka {self.version} (exit {result.returncode}):\n"
                f"{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        marker.write_text(self.version + "\n")
        return libs

    def _choose_ports(self) -> tuple[KafkaPorts, bool]:
        """Reuse remembered ports when free; else pick new ones. Second value: the ports changed."""
        previous = self.ports()
        if previous and port_free(previous.broker) and port_free(previous.controller):
            return previous, False
        broker = pick_port(DEFAULT_BROKER_PORT)
        controller = pick_port(DEFAULT_CONTROLLER_PORT, avoid=[broker])
        ports = KafkaPorts(broker, controller)
        return ports, previous is not None and previous != ports

    def start(self, timeout_s: float = 120.0) -> str:
        """Start the node unless it runs; returns the bootstrap servers once a client can connect."""
        if self.pid() is not None:
            servers = self.bootstrap_servers()
            self.wait_ready(servers, timeout_s)
            return servers
        libs = self.ensure_jars()
        java = ensure_program("java", ["default-jre-headless"], "Java 17+ runs the local Kafka broker")
        ports, moved = self._choose_ports()
        data = self.paths.kafka_data
        if moved and data.exists():
            # The controller endpoint is part of the formatted metadata: a new port needs a new cluster.
            log.warning("Kafka ports changed to %s; the local Kafka data is reset", ports)
            subprocess.run(["rm", "-rf", str(data)], check=True)
        data.mkdir(parents=True, exist_ok=True)
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        max_bytes = Settings.from_env().kafka_max_message_bytes  # KAFKA_MAX_MESSAGE_BYTES, default 16 MiB
        self._config_file.write_text(render_server_properties(ports, data, max_bytes))
        self._log4j_file.write_text(render_log4j2_properties(self.paths.kafka_log))
        self._ports_file.write_text(json.dumps({"broker": ports.broker, "controller": ports.controller}))
        classpath = f"{libs}/*"
        if not (data / "meta.properties").is_file():
            fmt = subprocess.run(
                [
                    java, HEAP, f"-Dlog4j2.configurationFile={self._log4j_file}", "-cp", classpath,
                    "kafka.tools.StorageTool", "format", f"--cluster-id={new_cluster_id()}",
                    "-c", str(self._config_file),
                    "--standalone", "-g",
                ],
                capture_output=True,
                text=True,
            )  # fmt: skip
            if fmt.returncode != 0:
                raise RuntimeError(f"formatting Kafka storage failed:\n{fmt.stdout}{fmt.stderr}")
        stdout_log = self.paths.logs / "kafka.stdout.log"
        with stdout_log.open("ab") as out:
            proc = subprocess.Popen(
                [
                    java, "-Xms128m", HEAP, "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                    "-Djava.awt.headless=true",
                    f"-Dlog4j2.configurationFile={self._log4j_file}", "-cp", classpath,
                    MAIN_CLASS, str(self._config_file),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.paths.kafka_pid.write_text(f"{proc.pid}\n")
        servers = f"127.0.0.1:{ports.broker}"
        self.wait_ready(servers, timeout_s, proc=proc)
        return servers

    def wait_ready(self, servers: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
        """Block until a Kafka client gets cluster metadata from `servers`."""
        from streams.kafka.admin import describe_cluster

        def ready() -> bool:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(
                    f"Kafka exited with code {proc.returncode} while starting; "
                    f"last lines of {self.paths.kafka_log}:\n{log_tail(self.paths.kafka_log)}\n"
                    f"{log_tail(self.paths.logs / 'kafka.stdout.log', 10)}"
                )
            try:
                describe_cluster(servers, timeout_s=5.0)
            except Exception:
                return False
            return True

        client_log = logging.getLogger("aiokafka")
        previous_level = client_log.level
        client_log.setLevel(logging.CRITICAL)  # "connection refused" is expected while the broker boots
        try:
            is_ready = wait_until(ready, timeout_s, interval_s=1.0)
        finally:
            client_log.setLevel(previous_level)
        if not is_ready:
            raise RuntimeError(
                f"Kafka did not answer on {servers} within {timeout_s:.0f} s; "
                f"last lines of {self.paths.kafka_log}:\n{log_tail(self.paths.kafka_log)}"
            )

    def stop(self, timeout_s: float = 30.0) -> str:
        pid = self.pid()
        if pid is None:
            self.paths.kafka_pid.unlink(missing_ok=True)
            return "not running"
        outcome = stop_process(pid, timeout_s=timeout_s)
        self.paths.kafka_pid.unlink(missing_ok=True)
        return outcome

    def running_version(self) -> str:
        """The version the running broker logged at start (falls back to the pinned one)."""
        try:
            found = re.findall(r"Kafka version: (\S+)", self.paths.kafka_log.read_text(errors="replace"))
        except OSError:
            found = []
        return found[-1] if found else self.version
