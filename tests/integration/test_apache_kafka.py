"""Apache Kafka as the tests and `journeyline dev --broker kafka` run it: resolved through Maven, storage on disk.
A restart on the same folder keeps topics, records and a group's committed offsets; the idempotent producer works.
Runs in every test pass (it starts a broker of its own); needs Java and Maven, which `make test` installs."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from services.cli.apache_kafka import KAFKA_VERSION, ApacheKafka, cluster_id, resolve_jars
from services.cli.embedded import free_port
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings, Topics

pytestmark = pytest.mark.integration

if shutil.which("java") is None or shutil.which("mvn") is None:  # pragma: no cover - a machine without Java
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI needs Java and Maven for Apache Kafka (make test installs them)")
    pytestmark = [pytestmark, pytest.mark.skip(reason="Java or Maven not installed")]


def test_the_broker_is_resolved_from_maven_at_the_pinned_version() -> None:
    lib = resolve_jars()
    assert (lib / f"kafka_2.13-{KAFKA_VERSION}.jar").exists()
    assert (lib / f"kafka-clients-{KAFKA_VERSION}.jar").exists()
    assert len(cluster_id()) == 22
    assert not any(cluster_id().startswith("-") for _ in range(2000))  # 1 in 64 random ids would: the tool refuses


async def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(count):
            await producer.send(topic, f"record-{i}".encode(), key=f"k{i % 5}".encode())
        await producer.flush()
    finally:
        await producer.stop()


async def _consume(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    """Read `count` records as `group` and commit them."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(got) < count:
                for records in (await consumer.getmany(timeout_ms=500, max_records=count - len(got))).values():
                    got += [r.value for r in records if r.value is not None]
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


async def _committed(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    """The group's committed offsets; after a restart the coordinator answers empty until it has loaded them."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(60):
            offsets = await admin.list_consumer_group_offsets(group)
            if offsets:
                break
            await asyncio.sleep(0.5)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


def test_a_restart_on_the_same_folder_keeps_topics_records_and_committed_offsets(tmp_path: Path) -> None:
    broker = ApacheKafka(tmp_path / "kafka", port=free_port())
    kafka = KafkaSettings(engine="kafka", bootstrap_servers=broker.bootstrap_servers, topics=Topics(prefix="keep."))
    with broker:
        asyncio.run(ensure_topics(kafka))
        asyncio.run(_produce(broker.bootstrap_servers, kafka.topics.received, 30))
        first = asyncio.run(_consume(broker.bootstrap_servers, kafka.topics.received, "keep-group", 20))
        before = asyncio.run(_committed(broker.bootstrap_servers, "keep-group"))
    assert len(first) == 20 and sum(before.values()) == 20
    with broker:  # the same data folder and port
        admin_topics = asyncio.run(_topics(broker.bootstrap_servers))
        assert set(kafka.topics.all()) <= admin_topics
        assert asyncio.run(_committed(broker.bootstrap_servers, "keep-group")) == before
        rest = asyncio.run(_consume(broker.bootstrap_servers, kafka.topics.received, "keep-group", 10))
    # The group resumes after its 20 committed records: the other 10, none of the first 20 again.
    assert len(rest) == 10 and not set(rest) & set(first)
    assert {v.decode() for v in first + rest} == {f"record-{i}" for i in range(30)}


async def _topics(bootstrap: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
