"""`services up|down|status`: start what the environment does not provide, write services.env, report.

A service whose address is already in the process environment (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL)
is treated as external: `up` neither starts nor stops it and everything uses the given address.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from streams.db.engine import redact
from streams.services.kafka_local import LocalKafka
from streams.services.paths import StatePaths
from streams.services.postgres_local import LocalPostgres, server_version
from streams.services.rabbitmq_local import LocalRabbitMQ, redact_url
from streams.settings import Settings

ENV_KEYS = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "DATABASE_ADMIN_URL", "DATABASE_REPORTER_URL")


@dataclass(frozen=True)
class ServiceEndpoints:
    """Addresses of the running services, as written to services.env."""

    kafka_bootstrap_servers: str
    database_url: str
    database_admin_url: str
    database_reporter_url: str
    kafka_version: str
    postgres_version: str
    kafka_external: bool
    postgres_external: bool
    amqp_url: str = ""  # issue 13: the AMQP 1.0 broker, "" when not asked for (--with-amqp)
    amqp_external: bool = False

    def env(self) -> dict[str, str]:
        out = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "DATABASE_ADMIN_URL": self.database_admin_url,
            "DATABASE_REPORTER_URL": self.database_reporter_url,
        }
        if self.amqp_url:
            out["AMQP_URL"] = self.amqp_url
        return out


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "running", "stopped", "external"
    address: str
    version: str
    detail: str = ""


@contextlib.contextmanager
def _exclusive(paths: StatePaths) -> Iterator[None]:
    """One `up`/`down` at a time per state folder (tests and helpers may call `up` concurrently)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock_file.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def up(
    paths: StatePaths | None = None,
    environ: Mapping[str, str] | None = None,
    say: Callable[[str], None] = print,
    create_topics: bool = True,
    with_amqp: bool = False,
) -> ServiceEndpoints:
    """Start local Kafka and PostgreSQL (and RabbitMQ with AMQP 1.0 when `with_amqp`) unless given by the
    environment; idempotent."""
    paths = paths or StatePaths.default()
    env = dict(os.environ if environ is None else environ)
    with _exclusive(paths):
        kafka_external = bool(env.get("KAFKA_BOOTSTRAP_SERVERS"))
        if kafka_external:
            servers = env["KAFKA_BOOTSTRAP_SERVERS"]
            kafka_version = "external broker"
        else:
            kafka = LocalKafka(paths)
            servers = kafka.start()
            kafka_version = f"Apache Kafka {kafka.running_version()} (local KRaft, pid {kafka.pid()})"
        say(f"Kafka: {servers} [{kafka_version}]")

        postgres_external = bool(env.get("DATABASE_URL"))
        if postgres_external:
            urls = {
                "DATABASE_URL": env["DATABASE_URL"],
                "DATABASE_ADMIN_URL": env.get("DATABASE_ADMIN_URL") or env["DATABASE_URL"],
                "DATABASE_REPORTER_URL": env.get("DATABASE_REPORTER_URL", ""),
            }
        else:
            postgres = LocalPostgres(paths)
            urls = postgres.urls(postgres.start())
        postgres_version = server_version(urls["DATABASE_ADMIN_URL"])
        where = "external server" if postgres_external else f"local, data in {paths.pg_data}"
        say(f"PostgreSQL: {redact(urls['DATABASE_URL'])} [{postgres_version}, {where}]")

        amqp_url, amqp_external = "", False
        if with_amqp or env.get("AMQP_URL"):
            amqp_url, amqp_external = start_amqp(paths, env, say)
        endpoints = ServiceEndpoints(
            kafka_bootstrap_servers=servers,
            database_url=urls["DATABASE_URL"],
            database_admin_url=urls["DATABASE_ADMIN_URL"],
            database_reporter_url=urls["DATABASE_REPORTER_URL"],
            kafka_version=kafka_version,
            postgres_version=postgres_version,
            kafka_external=kafka_external,
            postgres_external=postgres_external,
            amqp_url=amqp_url,
            amqp_external=amqp_external,
        )
        _write_env_file(paths, endpoints)
        if create_topics:
            from streams.kafka.admin import ensure_topics

            settings = Settings.from_env({**env, **endpoints.env()})
            created = ensure_topics(settings)
            say(f"Topics: created {', '.join(created)}" if created else "Topics: all present")
        return endpoints


def start_amqp(paths: StatePaths, env: Mapping[str, str], say: Callable[[str], None]) -> tuple[str, bool]:
    """The AMQP 1.0 broker: AMQP_URL from the environment, else the local RabbitMQ (started if needed)."""
    if env.get("AMQP_URL"):
        say(f"AMQP 1.0: {redact_url(env['AMQP_URL'])} [external broker]")
        return env["AMQP_URL"], True
    rabbit = LocalRabbitMQ(paths)
    url = rabbit.start()
    say(f"AMQP 1.0: {redact_url(url)} [{rabbit.running_version()} with rabbitmq_amqp1_0, pid {rabbit.pid()}]")
    return url, False


def _write_env_file(paths: StatePaths, endpoints: ServiceEndpoints) -> None:
    """Write the locally started services' addresses; external ones stay in the caller's environment."""
    local = {
        key: value
        for key, value in endpoints.env().items()
        if value
        and not (
            endpoints.kafka_external
            if key.startswith("KAFKA")
            else endpoints.amqp_external
            if key == "AMQP_URL"
            else endpoints.postgres_external
        )
    }
    if not endpoints.amqp_url:  # keep a running local broker's address when `up` ran without --with-amqp
        rabbit = LocalRabbitMQ(paths)
        port = rabbit.port()
        if rabbit.pid() is not None and port is not None:
            local["AMQP_URL"] = rabbit.url(port)
    lines = ["# written by `spi-crrn services up`; read by Settings.from_env()"]
    lines += [f"{key}={value}" for key, value in local.items()]
    tmp = paths.env_file.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(paths.env_file)


def down(paths: StatePaths | None = None, say: Callable[[str], None] = print) -> None:
    """Stop the local Kafka and PostgreSQL (external services are never touched)."""
    paths = paths or StatePaths.default()
    with _exclusive(paths):
        say(f"Kafka: {LocalKafka(paths).stop()}")
        say(f"PostgreSQL: {LocalPostgres(paths).stop()}")
        rabbit = LocalRabbitMQ(paths)
        if rabbit.port() is not None:
            say(f"RabbitMQ: {rabbit.stop()}")


def status(paths: StatePaths | None = None, environ: Mapping[str, str] | None = None) -> list[ServiceStatus]:
    """What runs, where, and which server version."""
    paths = paths or StatePaths.default()
    env = dict(os.environ if environ is None else environ)
    out: list[ServiceStatus] = []

    if env.get("KAFKA_BOOTSTRAP_SERVERS"):
        out.append(_external_kafka_status(env["KAFKA_BOOTSTRAP_SERVERS"]))
    else:
        kafka = LocalKafka(paths)
        pid = kafka.pid()
        ports = kafka.ports()
        address = f"127.0.0.1:{ports.broker}" if ports else "-"
        if pid is None:
            out.append(ServiceStatus("kafka", "stopped", address, f"Apache Kafka {kafka.version}"))
        else:
            out.append(
                ServiceStatus(
                    "kafka", "running", address, f"Apache Kafka {kafka.running_version()}", f"pid {pid}"
                )
            )

    if env.get("DATABASE_URL"):
        url = env.get("DATABASE_ADMIN_URL") or env["DATABASE_URL"]
        try:
            version = server_version(url)
        except Exception as exc:
            version = f"unreachable ({type(exc).__name__})"
        out.append(ServiceStatus("postgresql", "external", redact(env["DATABASE_URL"]), version))
    else:
        postgres = LocalPostgres(paths)
        pid = postgres.pid()
        port = postgres.port()
        if pid is None or port is None:
            out.append(ServiceStatus("postgresql", "stopped", f"127.0.0.1:{port}" if port else "-", "-"))
        else:
            version = server_version(postgres.urls(port)["DATABASE_ADMIN_URL"])
            out.append(ServiceStatus("postgresql", "running", f"127.0.0.1:{port}", version, f"pid {pid}"))
    rabbit = LocalRabbitMQ(paths)
    rport = rabbit.port()
    if env.get("AMQP_URL"):
        out.append(ServiceStatus("amqp", "external", redact_url(env["AMQP_URL"]), "AMQP 1.0 broker"))
    elif rport is not None:  # only reported once `up --with-amqp` has set it up
        rpid = rabbit.pid()
        state = "running" if rpid is not None else "stopped"
        detail = f"pid {rpid}" if rpid is not None else ""
        out.append(ServiceStatus("amqp", state, f"127.0.0.1:{rport}", rabbit.running_version(), detail))
    return out


def _external_kafka_status(servers: str) -> ServiceStatus:
    from streams.kafka.admin import describe_cluster

    try:
        info = describe_cluster(servers, timeout_s=10.0, settings=Settings.from_env())
    except Exception as exc:
        return ServiceStatus("kafka", "external", servers, f"unreachable ({type(exc).__name__})")
    return ServiceStatus(
        "kafka",
        "external",
        servers,
        "external broker",
        f"cluster {info.cluster_id}, {info.broker_count} broker(s)",
    )
