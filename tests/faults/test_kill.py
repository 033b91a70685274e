"""SIGKILL under a steady load: every event ingest accepted (202) is stored exactly once after the restart.

The three services run as separate processes on the real embedded broker; a background thread posts small
batches at a steady rate throughout, so the kill lands mid-stream (records read but not yet committed)."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from tests.faults.stack import Load, Stack, assert_stored_exactly_once, wait_until

pytestmark = pytest.mark.integration


def test_sigkill_of_each_service_mid_stream_then_restart_stores_every_accepted_event_exactly_once(
    stack: Stack,
) -> None:
    load = Load(stack["ingest"].url, stack.key, rate=60, batch=4)
    load.start()
    try:
        for victim in ("ingest", "classify", "accountability"):
            time.sleep(2.5)  # records in flight: read, maybe produced or stored, not yet committed
            stack[victim].kill()
            stack[victim].start(timeout=120)
        time.sleep(2.5)
    finally:
        load.stop()
    # Every HTTP answer was a 202; while ingest itself was dead the client saw only transport errors.
    answers = {status for status in load.statuses if isinstance(status, int)}
    assert answers == {202}, f"ingest answered {load.statuses}"
    assert len(load.accepted) >= 300
    stack.expected.update(load.accepted + load.unanswered)  # a request cut off by the kill may have reached Kafka
    assert_stored_exactly_once(stack.database_url, load.accepted, expected=stack.expected)


def _partitions(url: str, group: str, topic: str) -> set[int]:
    """Partitions this process's consumer has been assigned (it exports lag for each one it has held)."""
    text = httpx.get(url + "/metrics", timeout=5).text
    pattern = rf'journeyline_consumer_lag\{{group="{re.escape(group)}",partition="(\d+)",topic="{re.escape(topic)}"\}}'
    return {int(p) for p in re.findall(pattern, text)}


def test_two_classify_processes_one_killed_the_other_takes_over_its_partitions(stack: Stack) -> None:
    kafka = stack.kafka
    group, topic = kafka.topics.group("classify"), kafka.topics.received
    second = stack.process("classify").start(timeout=90)
    try:
        load = Load(stack["ingest"].url, stack.key, rate=60, batch=4)
        load.start()
        try:
            # The group splits the partitions between the two processes before one of them dies.
            wait_until(
                lambda: 0 < len(_partitions(second.url, group, topic)) < kafka.partitions,
                timeout=40,
                what="the second classify process to get a share of the partitions",
            )
            stack["classify"].kill()
            wait_until(
                lambda: len(_partitions(second.url, group, topic)) == kafka.partitions,
                timeout=40,
                what="the surviving classify process to take over every partition",
            )
            time.sleep(2.0)
        finally:
            load.stop()
        assert set(load.statuses) == {202}, load.statuses
        stack.expected.update(load.accepted)
        assert_stored_exactly_once(stack.database_url, load.accepted, expected=stack.expected)
    finally:
        second.stop()
