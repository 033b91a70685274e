"""The database goes away under load: accountability stops committing offsets (nothing is skipped), says it is
not ready, and stores everything exactly once when the database comes back — without a restart.

PostgreSQL (the production database): the test database stops accepting connections and every open one is
terminated (`ALTER DATABASE ... ALLOW_CONNECTIONS false` + `pg_terminate_backend`), then it is allowed again."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import psycopg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.settings import KafkaSettings
from tests.conftest import postgres_admin_url
from tests.faults.stack import Load, Stack, assert_stored_exactly_once, stored_rows, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def _set_connections(database: str, *, allowed: bool) -> None:
    with psycopg.connect(postgres_admin_url(), autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {str(allowed).lower()}')
        if not allowed:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            )


def _committed(kafka: KafkaSettings, group: str) -> int:
    """The sum of the group's committed offsets on the classified topic."""

    async def read() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
        await admin.start()
        try:
            parts = [TopicPartition(kafka.topics.classified, p) for p in range(kafka.partitions)]
            offsets = await admin.list_consumer_group_offsets(group, partitions=parts)
            return sum(max(0, meta.offset) for meta in offsets.values())
        finally:
            await admin.close()

    return asyncio.run(read())


def _classified(classify_url: str) -> float:
    text = httpx.get(classify_url + "/metrics", timeout=5).text
    return sum(float(v) for v in re.findall(r"^journeyline_classify_items_total\{[^}]*\} (\S+)$", text, re.M))


def test_database_outage_pauses_accountability_without_committing_then_it_catches_up(stack: Stack) -> None:
    postgres_url, kafka = stack.database_url, stack.kafka
    if not postgres_url.startswith("postgresql"):
        pytest.skip("accountability runs on SQLite here: PostgreSQL is not reachable")
    database, group = postgres_url.rsplit("/", 1)[1], kafka.topics.group("accountability")
    before = len(stored_rows(postgres_url))
    accountability = stack["accountability"]
    load = Load(stack["ingest"].url, stack.key, rate=60, batch=4)
    load.start()
    try:
        wait_until(
            lambda: len(stored_rows(postgres_url)) > before + 20, timeout=60, what="the first events to be stored"
        )
        _set_connections(database, allowed=False)
        try:
            wait_until(
                lambda: httpx.get(accountability.url + "/readyz", timeout=10).status_code == 503,
                timeout=20,
                what="accountability to report the database as failing",
            )
            time.sleep(2.0)  # the batch that was in flight fails and rewinds
            committed, classified = _committed(kafka, group), _classified(stack["classify"].url)
            time.sleep(4.0)
            assert _classified(stack["classify"].url) > classified, "classify should keep producing meanwhile"
            assert _committed(kafka, group) == committed, "accountability committed offsets without storing"
            assert accountability.process is not None and accountability.process.poll() is None
        finally:
            _set_connections(database, allowed=True)
        time.sleep(2.0)
    finally:
        load.stop()
    assert set(load.statuses) == {202}, load.statuses
    stack.expected.update(load.accepted)
    assert_stored_exactly_once(postgres_url, load.accepted, timeout=90, expected=stack.expected)
    wait_until(
        lambda: httpx.get(accountability.url + "/readyz", timeout=10).status_code == 200,
        timeout=30,
        what="accountability to be ready again",
    )
