"""Faults only a real broker allows (Apache Kafka; skipped on the embedded Tansu, which has neither disk storage
nor transactions):

- SIGKILL of the broker under steady load, restart on the same log folder: ingest answers 503 with Retry-After
  while it is down, never 202; afterwards every accepted event is stored exactly once, and the consumers carry on
  from their committed offsets without any service being restarted.
- Exactly once through classify (`CLASSIFY_EXACTLY_ONCE=true`): SIGKILL classify mid-transaction; the classified
  topic itself, read as accountability reads it (`read_committed`), holds every event once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.cli.brokers import Broker
from tests.faults.stack import Load, assert_stored_exactly_once, own_stack, running, wait_until
from tests.support import BROKER_KIND

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(BROKER_KIND != "kafka", reason="needs Apache Kafka (JOURNEYLINE_BROKER=kafka)"),
]


async def read_topic(bootstrap: str, topic: str, *, isolation_level: str) -> Counter[str]:
    """Every record of `topic` from the beginning, counted by its CloudEvent id (`ce_id`)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation_level, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)  # the last stable offset under read_committed
        seen: Counter[str] = Counter()
        deadline = time.monotonic() + 60
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, "could not read the topic to its end"
            for records in (await consumer.getmany(timeout_ms=500, max_records=5000)).values():
                for record in records:
                    ids = [value.decode() for key, value in record.headers if key == "ce_id"]
                    seen[ids[0] if ids else "?"] += 1
        return seen
    finally:
        await consumer.stop()


def test_broker_sigkill_under_load_503_never_202_then_every_event_once_without_restarting_a_service(
    own_broker: Broker, topic_prefix: str, tmp_path: Path, model_dir: Path
) -> None:
    prepared = own_stack(
        own_broker.bootstrap_servers, topic_prefix, tmp_path, model_dir, INGEST_HEALTH_INTERVAL_SECONDS="0.5"
    )
    kafka = prepared.kafka
    with running(prepared) as stack:
        pids = {name: service.process.pid for name, service in stack.services.items() if service.process}
        before = Load(stack["ingest"].url, stack.key, rate=40, batch=4, tag="before")
        before.start()
        time.sleep(2.0)
        before.stop()
        assert set(before.statuses) == {202}, before.statuses
        assert_stored_exactly_once(stack.database_url, before.accepted, timeout=60)

        load = Load(stack["ingest"].url, stack.key, rate=40, batch=4, tag="steady")  # runs through kill and restart
        load.start()
        time.sleep(1.5)
        own_broker.kill()
        down_since = time.monotonic()
        with httpx.Client(headers={"X-API-Key": stack.key}, timeout=30) as client:
            time.sleep(1.0)  # let requests in flight at the kill get their answer
            while time.monotonic() - down_since < 6.0:
                reply = client.post(stack["ingest"].url + "/v1/events", json={"text": "Is anyone there?"})
                assert reply.status_code == 503, reply.text
                assert reply.headers["content-type"].startswith("application/problem+json")
                assert int(reply.headers["Retry-After"]) >= 1
        for name in ("ingest", "classify", "accountability"):
            assert httpx.get(stack[name].url + "/readyz", timeout=10).status_code == 503, f"{name} says ready"

        own_broker.start()  # the same log folder: topics, records and committed offsets are all still there
        wait_until(
            lambda: all(httpx.get(s.url + "/readyz", timeout=10).status_code == 200 for s in stack.services.values()),
            timeout=90,
            what="every service to be ready again",
        )
        time.sleep(3.0)
        load.stop()
        assert 503 in load.statuses and load.statuses.get(202, 0) > 0, load.statuses
        assert set(load.statuses) <= {202, 503}, f"ingest answered {load.statuses}"
        # Every 202 (before, during and after the outage) is stored, once: no 202 was given for an event the
        # broker did not have.
        assert_stored_exactly_once(stack.database_url, before.accepted + load.accepted, timeout=120)
        for name, service in stack.services.items():
            assert service.process is not None and service.process.pid == pids[name], f"{name} was restarted"
        # The consumers resumed from their committed offsets: what classify had finished before the outage was
        # not classified a second time.
        classified = asyncio.run(
            read_topic(own_broker.bootstrap_servers, kafka.topics.classified, isolation_level="read_committed")
        )
        assert {event_id: classified[event_id] for event_id in before.accepted} == dict.fromkeys(before.accepted, 1)


def test_exactly_once_classify_killed_mid_transaction_leaves_each_event_once_on_the_classified_topic(
    broker: Broker, topic_prefix: str, tmp_path: Path, model_dir: Path
) -> None:
    prepared = own_stack(
        broker.bootstrap_servers, topic_prefix, tmp_path, model_dir,
        CLASSIFY_EXACTLY_ONCE="true", CLASSIFY_INSTANCE_ID="eos-test",
    )  # fmt: skip
    kafka = prepared.kafka
    topic = kafka.topics.classified

    def read(isolation_level: str) -> Counter[str]:
        return asyncio.run(read_topic(broker.bootstrap_servers, topic, isolation_level=isolation_level))

    with running(prepared) as stack:
        loads: list[Load] = []
        aborted = 0
        for attempt in range(9):  # kill under load until a transaction was cut mid-way
            load = Load(stack["ingest"].url, stack.key, rate=300, batch=10, tag=f"eos{attempt}")
            loads.append(load)
            load.start()
            try:
                time.sleep(2.0)
                # A kill lands inside a transaction only by chance: classify opens one per poll, and between
                # them it waits for records (or, just after a restart, for its group to form). Each kill after
                # the first waits a different time, as the first one at 2 s once missed six attempts in a row
                # when classify got faster; several kills per attempt make a miss of all of them unlikely.
                for wait in (2.5, 1.0, 2.0, 0.5):
                    stack["classify"].kill()
                    stack["classify"].start(timeout=120)
                    time.sleep(wait)
            finally:
                load.stop()
            # Quiet now: once classify has committed every accepted event, no transaction is open, so what the
            # topic holds beyond the committed records are exactly the aborted ones. (Two reads taken while the
            # load ran could differ by what was committed in between, either way.)
            accepted = {event_id for each in loads for event_id in each.accepted}
            deadline = time.monotonic() + 120
            while not accepted <= set(committed := read("read_committed")) and time.monotonic() < deadline:
                time.sleep(1.0)
            aborted = sum(read("read_uncommitted").values()) - sum(committed.values())
            if aborted > 0:
                break
        statuses = [status for each in loads for status in each.statuses]
        assert set(statuses) == {202}, statuses
        assert aborted > 0, "no kill landed inside a transaction"
        every_accepted = [event_id for each in loads for event_id in each.accepted]
        assert_stored_exactly_once(stack.database_url, every_accepted, timeout=120)
        committed = read("read_committed")
        assert set(committed) == set(every_accepted)
        twice = {event_id: n for event_id, n in committed.items() if n != 1}
        assert not twice, f"{len(twice)} events on the classified topic more than once: {list(twice.items())[:5]}"
        print(
            f"exactly once: {len(every_accepted)} events, {aborted} aborted records hidden by read_committed, attempt {attempt + 1}"
        )
