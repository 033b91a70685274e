"""Broker down: 503 + Retry-After fast, never 202, /readyz says so, and recovery without a restart.

Uses a broker of its own (the session broker stays up for everyone else)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from services.cli.brokers import Broker, make_broker
from services.cli.embedded import free_port
from shared.kafka import ensure_topics
from tests.ingest.conftest import Ingest, start_ingest, start_ingest_without_broker
from tests.ingest.test_service import consume
from tests.support import BROKER_KIND

pytestmark = pytest.mark.integration


def _post(ingest: Ingest, external_id: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.post(
        ingest.url + "/v1/events",
        json={"external_id": external_id, "text": "Engineer never arrived"},
        headers={"X-API-Key": ingest.keys["chat-tool"]},
        timeout=30,
    )
    return response, time.monotonic() - started


async def test_broker_down_gives_503_fast_and_recovery_needs_no_restart(own_broker: Broker, tmp_path: Path) -> None:
    ingest = await asyncio.to_thread(
        start_ingest, own_broker.bootstrap_servers, tmp_path, INGEST_HEALTH_INTERVAL_SECONDS="0.5"
    )
    try:
        ok, _ = _post(ingest, "before")
        assert ok.status_code == 202

        own_broker.stop()
        for attempt in range(5):  # the first after the loss waits for the produce deadline, later ones fail at once
            down, elapsed = _post(ingest, f"during-{attempt}")
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == "application/problem+json"
            assert int(down.headers["Retry-After"]) >= 1
            assert elapsed < 5.0, f"503 took {elapsed:.1f}s"
            print(f"broker down: attempt {attempt} answered 503 in {elapsed:.2f}s")
        assert httpx.get(ingest.url + "/readyz").status_code == 503
        metrics = httpx.get(ingest.url + "/metrics").text
        assert "journeyline_ingest_broker_up 0.0" in metrics
        assert 'reason="broker_unavailable",source="chat-tool"} 0.0' not in metrics

        own_broker.start()  # memory-only broker: its topics come back empty, as a fresh cluster would
        await ensure_topics(ingest.kafka)
        deadline = time.monotonic() + 60
        while True:
            back, _ = _post(ingest, "after")
            if back.status_code == 202:
                break
            assert back.status_code == 503, back.text
            assert time.monotonic() < deadline, "ingest did not recover after the broker came back"
            await asyncio.sleep(0.5)
        assert httpx.get(ingest.url + "/readyz").status_code == 200
        found = await consume(ingest.kafka, {back.json()["id"]})
        assert found[back.json()["id"]][1].data["external_id"] == "after"
    finally:
        ingest.process.stop()


async def test_started_before_the_broker_it_answers_503_then_becomes_ready(tmp_path: Path) -> None:
    port = free_port()
    broker = make_broker(BROKER_KIND, tmp_path / "late-broker", port=port)
    ingest = await asyncio.to_thread(
        start_ingest_without_broker, f"127.0.0.1:{port}", tmp_path, INGEST_HEALTH_INTERVAL_SECONDS="0.5"
    )
    try:
        assert httpx.get(ingest.url + "/readyz").status_code == 503
        down, elapsed = _post(ingest, "early")
        assert down.status_code == 503 and "Retry-After" in down.headers and elapsed < 5.0
        broker.start()
        await ensure_topics(ingest.kafka)
        ingest.process.wait("/readyz", 60)
        up, _ = _post(ingest, "late")
        assert up.status_code == 202, up.text
    finally:
        ingest.process.stop()
        broker.stop()
