"""The consumer pauses while PostgreSQL is down (no commit, no drop) and catches up without loss."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.cli.embedded import free_port
from shared.settings import KafkaSettings
from tests.accountability.factories import MovableClock, classified
from tests.accountability.harness import READ, eventually, produce, running, settings_for
from tests.accountability.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


async def _committed(kafka: KafkaSettings, group: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        parts = [TopicPartition(kafka.topics.classified, p) for p in range(kafka.partitions)]
        offsets = await admin.list_consumer_group_offsets(group, partitions=parts)
        return sum(max(meta.offset, 0) for meta in offsets.values())
    finally:
        await admin.close()


def _stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM acct_feedback").fetchone()
        return int(row[0]) if row else 0


@pytest.mark.postgres
async def test_consumer_pauses_while_the_database_is_down_and_catches_up(
    kafka: KafkaSettings, postgres_url: str
) -> None:
    real = urlsplit(postgres_url)
    proxy = TcpProxy(listen_port=free_port(), target_host=real.hostname or "127.0.0.1", target_port=real.port or 5432)
    await proxy.start()
    via_proxy = urlunsplit(real._replace(netloc=f"{real.username}@127.0.0.1:{proxy.listen_port}"))
    clock = MovableClock()
    group = kafka.topics.group("accountability")
    first = [classified(label="positive", at=clock()) for _ in range(20)]
    second = [classified(label="positive", at=clock()) for _ in range(30)]
    try:
        async with running(settings_for(kafka, via_proxy), clock) as (runtime, client):
            await produce(kafka, first)
            await eventually(lambda: _async(_stored(postgres_url) == 20), what="first 20 stored")
            await eventually(lambda: _committed_is(kafka, group, 20), what="offsets committed for the first 20")

            await proxy.stop()  # the database goes away
            await produce(kafka, second)
            await eventually(
                lambda: _async(not runtime.loop.healthy and "database" in (runtime.loop.last_error or "")),
                what="consumer backing off",
            )
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["database"] == "failing"
            down = await client.get(f"/v1/feedback/{first[0].id}", headers=READ)
            assert down.status_code == 503 and down.headers["content-type"].startswith("application/problem+json")
            assert await _committed(kafka, group) == 20  # nothing committed while nothing could be stored

            await proxy.start()  # the database is back
            await eventually(
                lambda: _async(_stored(postgres_url) == 50), timeout=60, what="all 50 stored after the outage"
            )
            await eventually(lambda: _committed_is(kafka, group, 50), what="offsets caught up")
            assert (await client.get("/readyz")).status_code == 200
            assert _stored(postgres_url) == 50  # and nothing twice
    finally:
        await proxy.stop()


async def _async(value: bool) -> bool:
    return value


async def _committed_is(kafka: KafkaSettings, group: str, want: int) -> bool:
    return await _committed(kafka, group) == want


async def test_consumer_pauses_while_sqlite_is_locked_and_catches_up(kafka: KafkaSettings, sqlite_url: str) -> None:
    """SQLite's outage is another writer holding the lock: the busy timeout expires, the loop backs off."""
    import sqlite3

    from sqlalchemy import event
    from sqlmodel import create_engine

    path = sqlite_url.split("///", 1)[1]
    engine = create_engine(sqlite_url, connect_args={"check_same_thread": False, "timeout": 0.3})

    @event.listens_for(engine, "connect")
    def _wal(dbapi_conn, _):  # type: ignore[no-untyped-def]
        dbapi_conn.execute("PRAGMA journal_mode=WAL")

    clock = MovableClock()
    group = kafka.topics.group("accountability")
    first = [classified(label="positive", at=clock()) for _ in range(20)]
    second = [classified(label="positive", at=clock()) for _ in range(30)]

    def stored() -> int:
        with sqlite3.connect(path, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM acct_feedback").fetchone()[0])

    async with running(settings_for(kafka, sqlite_url), clock, engine=engine) as (runtime, _):
        await produce(kafka, first)
        await eventually(lambda: _async(stored() == 20), what="first 20 stored")
        await eventually(lambda: _committed_is(kafka, group, 20), what="offsets committed for the first 20")

        locker = sqlite3.connect(path, timeout=5, isolation_level=None)
        locker.execute("BEGIN IMMEDIATE")  # another writer holds the database
        try:
            await produce(kafka, second)
            await eventually(
                lambda: _async(not runtime.loop.healthy and "database" in (runtime.loop.last_error or "")),
                what="consumer backing off",
            )
            assert await _committed(kafka, group) == 20
            assert stored() == 20
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        await eventually(lambda: _async(stored() == 50), timeout=60, what="all 50 stored after the lock is released")
        await eventually(lambda: _committed_is(kafka, group, 50), what="offsets caught up")
