"""The whole pipeline on the real embedded broker: ingest → classify → accountability, as three processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.cli.brokers import Broker
from tests.support import ROOT, ServiceProcess

pytestmark = pytest.mark.integration

READ = {"Authorization": "Bearer " + os.environ.get("ACCOUNTABILITY_READ_TOKEN", "change-me-read")}
STAGES = {"discover", "buy", "onboard", "use", "pay", "get_help", "leave", "unassigned"}
TEXTS = [
    "Charged twice for my bill this month, still waiting for the refund",
    "Parcel never delivered and tracking hasn't moved in a week",
    "App crashes every time I open it since the update",
    "On hold for an hour then the call dropped, awful customer service",
    "I want to cancel my contract, switching to another provider",
    "Checkout failed three times, could not place my order",
    "Your website doesn't explain the difference between the plans",
]


def _add_source(env: dict[str, str], name: str, channel: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "sources", "add", name, "--channel", channel],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    """The three services as processes, shared by this module's tests (each test uses its own source)."""
    tmp_path = tmp_path_factory.mktemp("pipeline")
    topic_prefix = f"t{uuid.uuid4().hex[:10]}."
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "JOURNEYLINE_TOPIC_PREFIX": topic_prefix,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'journeyline.db'}",
        "JOURNEYLINE_ENV": "development",
    }
    services = {name: ServiceProcess(name, env, tmp_path) for name in ("ingest", "classify", "accountability")}
    try:
        for service in services.values():
            service.start()
        yield services
    finally:
        for service in services.values():
            service.stop()


def _wait_stored(url: str, ids: list[str], timeout: float = 60.0) -> dict[str, dict]:
    stored: dict[str, dict] = {}
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, headers=READ, timeout=5) as client:
        while len(stored) < len(ids) and time.monotonic() < deadline:
            for event_id in ids:
                if event_id not in stored:
                    reply = client.get(f"/v1/feedback/{event_id}")
                    if reply.status_code == 200:
                        stored[event_id] = reply.json()
            time.sleep(0.2)
    return stored


def test_events_posted_over_http_arrive_in_accountability_exactly_once_with_a_stage(
    stack: dict[str, ServiceProcess],
) -> None:
    ingest, accountability = stack["ingest"], stack["accountability"]
    key = _add_source(ingest.env, "callcentre", "call")
    headers = {"X-API-Key": key}

    single = httpx.post(
        ingest.url + "/v1/events",
        headers=headers,
        json={"external_id": "single-1", "customer_id": "CUS-1", "text": TEXTS[0]},
    )
    assert single.status_code == 202, single.text
    ids = [single.json()["id"]]

    batch = [{"external_id": f"b-{i}", "customer_id": f"CUS-{i % 3}", "text": text} for i, text in enumerate(TEXTS)]
    reply = httpx.post(ingest.url + "/v1/events", headers=headers, json=batch)
    assert reply.status_code == 202, reply.text
    ids += [item["id"] for item in reply.json()["results"]]
    assert len(set(ids)) == 1 + len(TEXTS)

    # A retry of the same batch (the same external ids) is the same events, not new ones.
    again = httpx.post(ingest.url + "/v1/events", headers=headers, json=batch)
    assert again.status_code == 202
    assert [item["id"] for item in again.json()["results"]] == ids[1:]

    stored = _wait_stored(accountability.url, ids)
    assert set(stored) == set(ids), f"missing: {set(ids) - set(stored)}"
    for item in stored.values():
        assert item["classification"]["stage"] in STAGES
        assert 0.0 <= item["classification"]["confidence"] <= 1.0
    assert stored[ids[0]]["classification"]["stage"] == "pay"

    # Exactly once: the stages' volumes add up to the number of distinct events, even after the replay.
    time.sleep(2.0)
    with httpx.Client(base_url=accountability.url, headers=READ, timeout=5) as client:
        total = 0
        for stage in STAGES:
            card = client.get(f"/v1/stages/{stage}/scorecard", params={"window": "24h"})
            assert card.status_code == 200, card.text
            total += card.json()["volume"]
    assert total == len(ids)


def test_a_wrong_key_is_refused_with_problem_json(stack: dict[str, ServiceProcess]) -> None:
    reply = httpx.post(stack["ingest"].url + "/v1/events", headers={"X-API-Key": "nope"}, json={"text": "hi"})
    assert reply.status_code == 401
    assert reply.headers["content-type"].startswith("application/problem+json")
    assert reply.json()["detail"]
