"""Fixtures shared by every test: the real embedded broker, per-test topics, the databases."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.embedded import EmbeddedBroker, free_port
from shared.settings import KafkaSettings, Topics

POSTGRES_ADMIN_URL = os.environ.get("JOURNEYLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One real Tansu broker on loopback for the whole session; tests isolate by topic prefix."""
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(port=free_port(), log_path=log) as running:
        yield running


@pytest.fixture
def topic_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
async def kafka(broker: EmbeddedBroker, topic_prefix: str) -> KafkaSettings:
    """Kafka settings with this test's own topics, created on the real broker."""
    from shared.kafka import ensure_topics

    settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers, topics=Topics(prefix=topic_prefix))
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
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_URL} is required in CI: {exc}")
        yield None
        return
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_database() -> Iterator[str]:
    with fresh_postgres_database() as url:
        if url is None:
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}")
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
