"""The broker goes away under load: ingest answers 503 quickly and never 202; when a broker is back on the same
address with its topics recreated, new events flow end to end again without restarting any service.

Uses a broker of its own (the session broker stays up for every other test). The embedded broker is memory-only,
so the one that comes back is empty, like a fresh cluster: offsets and undelivered records are gone."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from services.cli.brokers import Broker
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings, Topics
from tests.faults.stack import Load, assert_stored_exactly_once, own_stack, running, wait_until
from tests.support import ENGINE

pytestmark = pytest.mark.integration


def _create_topics(bootstrap: str, prefix: str) -> None:
    asyncio.run(ensure_topics(KafkaSettings(engine=ENGINE, bootstrap_servers=bootstrap, topics=Topics(prefix=prefix))))


def test_broker_stop_gives_fast_503s_never_202_and_new_events_flow_after_it_returns(
    own_broker: Broker, topic_prefix: str, tmp_path: Path, model_dir: Path
) -> None:
    prepared = own_stack(
        own_broker.bootstrap_servers, topic_prefix, tmp_path, model_dir, INGEST_HEALTH_INTERVAL_SECONDS="0.5"
    )
    env = prepared.env
    with running(prepared) as stack:
        pids = {name: service.process.pid for name, service in stack.services.items() if service.process}
        before = Load(stack["ingest"].url, stack.key, rate=40, batch=4, tag="before")
        before.start()
        time.sleep(1.5)
        before.stop()
        assert set(before.statuses) == {202}
        assert_stored_exactly_once(env["DATABASE_URL"], before.accepted, timeout=60)

        own_broker.stop()
        during = Load(stack["ingest"].url, stack.key, rate=20, batch=2, tag="during")
        during.start()
        started = time.monotonic()
        slowest = 0.0
        with httpx.Client(headers={"X-API-Key": stack.key}, timeout=30) as client:
            while time.monotonic() - started < 4.0:
                sent = time.monotonic()
                reply = client.post(stack["ingest"].url + "/v1/events", json={"text": "Is anyone there?"})
                slowest = max(slowest, time.monotonic() - sent)
                assert reply.status_code == 503, reply.text
                assert reply.headers["content-type"].startswith("application/problem+json")
                assert int(reply.headers["Retry-After"]) >= 1
        during.stop()
        assert slowest < 5.0, f"a 503 took {slowest:.1f}s"
        assert set(during.statuses) == {503}, f"while the broker was down ingest answered {during.statuses}"
        for name in ("ingest", "classify", "accountability"):
            assert httpx.get(stack[name].url + "/readyz", timeout=10).status_code == 503, f"{name} says ready"

        own_broker.start()  # the same address, empty: topics are recreated as an operator would
        _create_topics(own_broker.bootstrap_servers, topic_prefix)
        wait_until(
            lambda: (
                httpx.post(
                    stack["ingest"].url + "/v1/events", headers={"X-API-Key": stack.key}, json={"text": "Back?"}
                ).status_code
                == 202
            ),
            timeout=60,
            what="ingest to accept events again",
        )
        after = Load(stack["ingest"].url, stack.key, rate=40, batch=4, tag="after")
        after.start()
        time.sleep(2.0)
        after.stop()
        assert set(after.statuses) == {202}, after.statuses
        assert_stored_exactly_once(env["DATABASE_URL"], after.accepted, timeout=90)
        for name, service in stack.services.items():
            assert service.process is not None and service.process.pid == pids[name], f"{name} was restarted"
            assert service.process.poll() is None, f"{name} exited"
        wait_until(
            lambda: all(httpx.get(s.url + "/readyz", timeout=10).status_code == 200 for s in stack.services.values()),
            timeout=30,
            what="every service to be ready again",
        )
