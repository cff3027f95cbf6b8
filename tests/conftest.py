"""Shared fixtures: a real Kafka broker and a real PostgreSQL server for integration tests.

Where each service comes from, in order of precedence:
1. the environment: KAFKA_BOOTSTRAP_SERVERS; DATABASE_URL (+ DATABASE_ADMIN_URL, DATABASE_REPORTER_URL);
2. testcontainers, when a Docker engine answers a ping within a few seconds;
3. the local services of `spi-crrn services up` (same Python API; reused when already running).
A service that cannot be had fails the test with the reason: integration tests are never skipped.
The server versions are printed in the terminal summary of every run that used them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from streams.settings import Settings

SERVICE_VERSIONS: dict[str, str] = {}


@dataclass(frozen=True)
class DatabaseUrls:
    """SQLAlchemy URLs of one database for the three roles."""

    writer: str
    admin: str
    reporter: str


# --------------------------------------------------------------------------------------------------
# Where the services come from
# --------------------------------------------------------------------------------------------------
_docker_answer: bool | None = None
_local_endpoints: Any = None


def _docker_reachable() -> bool:
    global _docker_answer
    if _docker_answer is None:
        try:
            import docker

            docker.from_env(timeout=3).ping()
            _docker_answer = True
        except Exception:
            _docker_answer = False
    return _docker_answer


def _local_services() -> Any:
    """Start (or reuse) the local services exactly like `spi-crrn services up`."""
    global _local_endpoints
    if _local_endpoints is None:
        from streams.services import up

        try:
            _local_endpoints = up(say=lambda line: None)
        except Exception as exc:
            pytest.fail(
                "integration tests need Kafka and PostgreSQL: set KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, "
                f"start a Docker engine, or fix the local services (`spi-crrn services up`): {exc}",
                pytrace=False,
            )
    return _local_endpoints


def _kafka_from_container(request: pytest.FixtureRequest) -> str:
    from testcontainers.core.container import DockerContainer

    from streams.services.kafka_local import kafka_version
    from streams.services.processes import pick_port

    host_port = pick_port(0)
    env = {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{host_port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_MESSAGE_MAX_BYTES": str(16 * 1024 * 1024),
    }
    container = DockerContainer(f"apache/kafka:{kafka_version()}").with_bind_ports(9092, host_port)
    for key, value in env.items():
        container = container.with_env(key, value)
    container.start()
    request.addfinalizer(container.stop)
    servers = f"127.0.0.1:{host_port}"
    from streams.services.processes import wait_until

    def ready() -> bool:
        from streams.kafka.admin import describe_cluster

        try:
            describe_cluster(servers, timeout_s=5.0)
        except Exception:
            return False
        return True

    if not wait_until(ready, 120, interval_s=1.0):
        pytest.fail(
            f"Kafka container apache/kafka:{kafka_version()} did not answer on {servers}", pytrace=False
        )
    SERVICE_VERSIONS["kafka"] = f"Apache Kafka {kafka_version()} (testcontainers, apache/kafka image)"
    return servers


def _postgres_from_container(request: pytest.FixtureRequest) -> DatabaseUrls:
    from testcontainers.postgres import PostgresContainer

    container = PostgresContainer("postgres:15", dbname="spi_crrn", driver="psycopg")
    container.start()
    request.addfinalizer(container.stop)
    admin = container.get_connection_url()
    # The container's superuser plays the owner; the migration creates the roles, without passwords
    # (trust auth is not available there), so the role tests get passwords set in `_role_urls`.
    return DatabaseUrls(writer=admin, admin=admin, reporter="")


# --------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def kafka_bootstrap(request: pytest.FixtureRequest) -> str:
    """Bootstrap servers of a real Kafka broker with the system's topics created."""
    from streams.kafka.admin import describe_cluster, ensure_topics

    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        servers = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        try:
            info = describe_cluster(servers, timeout_s=15.0, settings=Settings.from_env())
        except Exception as exc:
            pytest.fail(f"KAFKA_BOOTSTRAP_SERVERS={servers} does not answer: {exc!r}", pytrace=False)
        SERVICE_VERSIONS["kafka"] = (
            f"external broker (cluster {info.cluster_id}, {info.broker_count} broker(s))"
        )
    elif _docker_reachable():
        servers = _kafka_from_container(request)
    else:
        endpoints = _local_services()
        servers = endpoints.kafka_bootstrap_servers
        SERVICE_VERSIONS["kafka"] = endpoints.kafka_version
    ensure_topics(Settings.from_env(kafka_bootstrap_servers=servers))
    return str(servers)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """URL of a real AMQP 1.0 broker (issue 13): AMQP_URL, else the local RabbitMQ with its AMQP 1.0 plugin,
    started through the same code as `spi-crrn services up --with-amqp` (installed when root and missing)."""
    from streams.services.manager import start_amqp
    from streams.services.paths import StatePaths
    from streams.services.rabbitmq_local import amqp10_answers

    try:
        url, external = start_amqp(StatePaths.default(), os.environ, say=lambda line: None)
    except Exception as exc:
        pytest.fail(
            f"integration tests need an AMQP 1.0 broker (AMQP_URL or local RabbitMQ): {exc}", pytrace=False
        )
    host_port = url.rsplit("@", 1)[-1].split("/", 1)[0]
    host, _, port = host_port.partition(":")
    if not amqp10_answers(host, int(port or 5672), timeout_s=10.0):
        pytest.fail(f"AMQP_URL={url} does not answer AMQP 1.0", pytrace=False)
    SERVICE_VERSIONS["amqp"] = (
        "external AMQP 1.0 broker" if external else "RabbitMQ (local, rabbitmq_amqp1_0)"
    )
    return url


@pytest.fixture(scope="session")
def database_urls(request: pytest.FixtureRequest) -> DatabaseUrls:
    """URLs (writer, admin, reporter) of the server's main database."""
    from streams.services.postgres_local import server_version

    if os.environ.get("DATABASE_URL"):
        writer = os.environ["DATABASE_URL"]
        urls = DatabaseUrls(
            writer=writer,
            admin=os.environ.get("DATABASE_ADMIN_URL") or writer,
            reporter=os.environ.get("DATABASE_REPORTER_URL", ""),
        )
        where = "external server"
    elif _docker_reachable():
        urls = _postgres_from_container(request)
        where = "testcontainers"
    else:
        endpoints = _local_services()
        urls = DatabaseUrls(
            endpoints.database_url, endpoints.database_admin_url, endpoints.database_reporter_url
        )
        where = "local"
    try:
        SERVICE_VERSIONS["postgresql"] = f"{server_version(urls.admin)} ({where})"
    except Exception as exc:
        pytest.fail(f"PostgreSQL ({where}) does not answer: {exc!r}", pytrace=False)
    return urls


@pytest.fixture(scope="session")
def database_url(database_urls: DatabaseUrls) -> str:
    """The writer role's URL of the main database (what the pipeline uses)."""
    return database_urls.writer


@pytest.fixture(scope="session")
def settings(kafka_bootstrap: str, database_urls: DatabaseUrls) -> Settings:
    """Settings pointing at the test services (environment and services.env otherwise apply)."""
    return Settings.from_env(
        kafka_bootstrap_servers=kafka_bootstrap,
        database_url=database_urls.writer,
        database_admin_url=database_urls.admin,
        database_reporter_url=database_urls.reporter or None,
    )


@pytest.fixture(scope="module")
def fresh_database(database_urls: DatabaseUrls) -> Iterator[DatabaseUrls]:
    """A new, empty database migrated to head, for one test module; dropped afterwards."""
    yield from _fresh_database(database_urls, migrate=True)


@pytest.fixture
def own_database(database_urls: DatabaseUrls) -> Iterator[DatabaseUrls]:
    """A new database migrated to head for ONE test (tests that compare whole tables); dropped afterwards."""
    yield from _fresh_database(database_urls, migrate=True)


@pytest.fixture
def empty_database(database_urls: DatabaseUrls) -> Iterator[DatabaseUrls]:
    """A new database with no migration applied, for one test (migration tests); dropped afterwards."""
    yield from _fresh_database(database_urls, migrate=False)


def _fresh_database(base: DatabaseUrls, migrate: bool) -> Iterator[DatabaseUrls]:
    import psycopg
    from psycopg import sql

    from streams.db.engine import libpq_url
    from streams.db.migrations import upgrade

    name = f"spi_crrn_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(base.admin), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        urls = _role_urls(base, name)
        if migrate:
            upgrade(urls.admin, "head")
        yield urls
    finally:
        with psycopg.connect(libpq_url(base.admin), autocommit=True) as conn:
            # A backend whose client just disconnected (an engine disposed at the end of a test) exits
            # a moment later; FORCE would have to signal it, which the owner role may not do for another
            # role's session. So wait (bounded) for the database's sessions to end first.
            deadline = time.monotonic() + 15.0
            while time.monotonic() < deadline:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,),
                ).fetchone()
                if row is None or row[0] == 0:
                    break
                time.sleep(0.2)
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _role_urls(base: DatabaseUrls, name: str) -> DatabaseUrls:
    """URLs of database `name` for the three roles; roles without a URL get one with a fresh password."""
    from tests.db_urls import with_database, with_user

    admin = with_database(base.admin, name)
    writer = with_database(base.writer, name)
    reporter = with_database(base.reporter, name) if base.reporter else ""
    if writer == admin or not reporter:
        import psycopg
        from psycopg import sql

        from streams.db.engine import libpq_url

        roles = {"spi_writer": writer != admin, "spi_reporter": bool(reporter)}
        with psycopg.connect(libpq_url(admin), autocommit=True) as conn:
            for role, has_url in roles.items():
                if has_url:
                    continue
                password = uuid.uuid4().hex
                exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
                statement = (
                    "ALTER ROLE {} LOGIN PASSWORD {}" if exists else "CREATE ROLE {} LOGIN PASSWORD {}"
                )
                conn.execute(sql.SQL(statement).format(sql.Identifier(role), sql.Literal(password)))
                url = with_user(admin, role, password)
                if role == "spi_writer":
                    writer = url
                else:
                    reporter = url
    return DatabaseUrls(writer=writer, admin=admin, reporter=reporter)


# --------------------------------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------------------------------
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print the Kafka and PostgreSQL server versions the run used (visible with `pytest -q`)."""
    if not SERVICE_VERSIONS:
        return
    terminalreporter.write_sep("-", "services used")
    for name in ("kafka", "postgresql", "amqp"):
        if name in SERVICE_VERSIONS:
            terminalreporter.write_line(f"{name}: {SERVICE_VERSIONS[name]}")
