"""Fault-test fixtures: a classifier model trained once, and one stack of the three services that the fault
tests share (each test restarts what it killed and checks only the events it sent), so the set stays short.

Accountability stores in PostgreSQL when it is reachable (the production database; required in CI), else in
a SQLite file; ingest keeps its sources in SQLite, so a database outage is accountability's alone."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.brokers import Broker
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings, Topics
from tests.conftest import fresh_postgres_database
from tests.faults.stack import Stack, stack_env
from tests.support import ENGINE, ROOT


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`journeyline classify train` into a directory every classify process of these tests loads from."""
    path = tmp_path_factory.mktemp("classify-models")
    subprocess.run(
        [sys.executable, "-m", "services.cli.main", "classify", "train", "--model-dir", str(path)],
        cwd=ROOT, env={**os.environ, "JOURNEYLINE_LOG_LEVEL": "WARNING"}, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    return path


@contextlib.contextmanager
def _accountability_database(tmp: Path) -> Iterator[str]:
    with fresh_postgres_database("jl_faults") as url:
        yield url or f"sqlite:///{tmp / 'accountability.db'}"


@pytest.fixture(scope="package")
def shared_stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory, model_dir: Path) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("faults")
    kafka = KafkaSettings(
        engine=ENGINE, bootstrap_servers=broker.bootstrap_servers, topics=Topics(prefix=f"f{uuid.uuid4().hex[:10]}.")
    )
    asyncio.run(ensure_topics(kafka))
    with _accountability_database(tmp) as database_url:
        env = stack_env(broker.bootstrap_servers, kafka.topics.prefix, database_url, CLASSIFY_MODEL_DIR=str(model_dir))
        stack = Stack(env, tmp, overrides={"ingest": {"DATABASE_URL": f"sqlite:///{tmp / 'ingest.db'}"}}, kafka=kafka)
        try:
            yield stack.start()
        finally:
            stack.stop()


@pytest.fixture
def stack(shared_stack: Stack) -> Stack:
    """The shared stack with every service up and ready (a previous test may have killed one)."""
    shared_stack.ensure_ready()
    return shared_stack
