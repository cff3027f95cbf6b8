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

    def env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "DATABASE_ADMIN_URL": self.database_admin_url,
            "DATABASE_REPORTER_URL": self.database_reporter_url,
        }


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
) -> ServiceEndpoints:
    """Start local Kafka and PostgreSQL unless given by the environment; idempotent."""
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

        endpoints = ServiceEndpoints(
            kafka_bootstrap_servers=servers,
            database_url=urls["DATABASE_URL"],
            database_admin_url=urls["DATABASE_ADMIN_URL"],
            database_reporter_url=urls["DATABASE_REPORTER_URL"],
            kafka_version=kafka_version,
            postgres_version=postgres_version,
            kafka_external=kafka_external,
            postgres_external=postgres_external,
        )
        _write_env_file(paths, endpoints)
        if create_topics:
            from streams.kafka.admin import ensure_topics

            settings = Settings.from_env({**env, **endpoints.env()})
            created = ensure_topics(settings)
            say(f"Topics: created {', '.join(created)}" if created else "Topics: all present")
        return endpoints


def _write_env_file(paths: StatePaths, endpoints: ServiceEndpoints) -> None:
    """Write the locally started services' addresses; external ones stay in the caller's environment."""
    local = {
        key: value
        for key, value in endpoints.env().items()
        if value
        and not (endpoints.kafka_external if key.startswith("KAFKA") else endpoints.postgres_external)
    }
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
