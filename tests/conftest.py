"""Fixtures shared by every test: the real broker (`JOURNEYLINE_BROKER`: the embedded Tansu by default, or Apache
Kafka), per-test topics, the databases."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.brokers import Broker, make_broker
from shared.settings import KafkaSettings, Topics
from tests.postgres_server import PostgresCluster, server_binaries
from tests.support import BROKER_KIND, ENGINE

_CLUSTER: PostgresCluster | None = None


def postgres_admin_url() -> str:
    """`JOURNEYLINE_TEST_POSTGRES`, or the run's own cluster that `pytest_configure` started and set it to."""
    return os.environ.get("JOURNEYLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_configure(config: pytest.Config) -> None:
    global _CLUSTER
    # Every service a test starts, and every settings object built in-process, learns which broker it talks to.
    os.environ["KAFKA_ENGINE"] = ENGINE
    if "JOURNEYLINE_TEST_POSTGRES" not in os.environ:
        bindir = server_binaries()
        if bindir is not None:
            _CLUSTER = PostgresCluster(bindir).start()
            os.environ["JOURNEYLINE_TEST_POSTGRES"] = _CLUSTER.admin_url


def pytest_unconfigure(config: pytest.Config) -> None:
    if _CLUSTER is not None:
        _CLUSTER.stop()


def pytest_report_header(config: pytest.Config) -> str:
    own = " (this run's own cluster)" if _CLUSTER is not None else ""
    return f"broker: {BROKER_KIND} (JOURNEYLINE_BROKER); PostgreSQL: {postgres_admin_url()}{own}"


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One real broker on loopback for the whole session; tests isolate by topic prefix."""
    running = make_broker(BROKER_KIND, tmp_path_factory.mktemp("broker")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of the session's kind for one test that stops or kills it (the session broker stays up)."""
    running = make_broker(BROKER_KIND, tmp_path / "own-broker").start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def kafka(broker: Broker, topic_prefix: str) -> KafkaSettings:
    """Kafka settings with this test's own topics, created on the real broker."""
    from shared.kafka import ensure_topics

    settings = KafkaSettings(
        engine=ENGINE, bootstrap_servers=broker.bootstrap_servers, topics=Topics(prefix=topic_prefix)
    )
    await ensure_topics(settings)
    return settings


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "jl") -> Iterator[str | None]:
    """A new, empty PostgreSQL database for one test or fixture (dropped afterwards), or None when PostgreSQL
    cannot be reached outside CI (with CI=true that is a failure). Connections are allowed again before the
    drop, so a test may have cut them off."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(postgres_admin_url(), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {postgres_admin_url()} is required in CI: {exc}")
        yield None
        return
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{postgres_admin_url().rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        if url is None:
            pytest.skip(f"PostgreSQL not reachable at {postgres_admin_url()}")
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'journeyline.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'journeyline.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from _postgres_database()
