"""One source's flood cannot make ingest answer 503 (or 429) to another source, under real load.

Ingest runs as a process against the test's real broker (Tansu or Apache Kafka, `JOURNEYLINE_BROKER`). Two sources
with their own keys: `flood` posts from 64 concurrent connections for ~12 s (JSON batches, NDJSON, single events,
and envelopes that expand to many records: a Facebook Page feed webhook with many `changes`, a Trustpilot webhook
with many `events`); `quiet` posts one event at a time, steadily. The test proves:

- every one of the quiet source's requests is answered 202 (never 503, never 429), and every event it was told
  was accepted is on the topic (read back from the broker by its CloudEvent id);
- the flood is only ever answered 202 or 429 (`source_busy`: over its in-flight cap, or over its fair share of
  what the broker absorbs, services/ingest/admission.py), never 5xx, and some of it does get through;
- ingest's resident memory stays bounded while the flood lasts (see RSS_GROWTH_BOUND).

No timing is asserted: on a loaded two-core machine latency says nothing; the statuses and the topic do. With fair
admission switched off (the budget fixed at the cap, a late acknowledgement marking the broker down) this test
fails: the quiet source gets 503s (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.cli.brokers import Broker
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings, Topics
from tests.faults.stack import Stack, add_source, stack_env, wait_for_key
from tests.support import ENGINE

pytestmark = pytest.mark.integration

FLOOD_SECONDS = 12.0
CONNECTIONS = 64
# The flood offers ~20 000 records at once (64 connections, 200-500 records a request). With INGEST_PRODUCE_TIMEOUT
# _SECONDS raised from 1.5 to 5 s: on this 2-core machine shared with other test runs (load average 4-6), the
# embedded broker alone has taken 1.6 s to acknowledge one record with 20 others in flight, and the default would
# make the test measure the machine, not fairness. The in-flight cap is raised with it (from 10 000 to 20 000), so
# that, as with the defaults, a source's cap alone is more than the broker drains within the timeout (here ~2 000-
# 4 000 records/s): without fair admission the quiet source's events time out behind the flood (checked).
PRODUCE_TIMEOUT = "5"
INFLIGHT_CAP = 20_000
# Fair admission holds the records waiting for the broker to a budget that grows, while acknowledgements come in
# time, up to the cap: each record holds its parsed payload, canonical event and encoded value (~3 KiB all told); at
# most 4 of the flood's requests wait for room holding their parsed bodies (~1 MiB each); uvicorn reads the bodies of
# the 64 requests (at most ~130 KiB each: ~8 MiB); plus what the allocator keeps. Measured: 11-19 MiB on a machine
# busy with other runs (a late broker kept the budget at a few thousand records), 62-70 MiB with the machine to
# itself (the budget reached the cap; growth levels off within 4 s). So the bound follows the cap: 4 KiB a record
# plus 16 MiB. An unbounded queue would hold the flood's whole offer, well over 100 000 records (hundreds of MiB).
RSS_GROWTH_BOUND = INFLIGHT_CAP * 4 * 1024 + 16 * 1024 * 1024


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _generic_batch(tag: str, n: int) -> bytes:
    return orjson.dumps(
        [
            {
                "external_id": f"{tag}-{i}",
                "customer_id": f"CUS-{i % 400}",
                "text": f"Flood event {i}: my parcel is late again and nobody answers the chat",
            }
            for i in range(n)
        ]  # fmt: skip
    )


def _ndjson(tag: str, n: int) -> bytes:
    return b"\n".join(
        orjson.dumps({"external_id": f"{tag}-{i}", "customer_id": f"CUS-{i % 300}", "text": f"NDJSON line {i}"})
        for i in range(n)
    )


def _meta_feed(tag: str, n: int) -> bytes:
    """A Facebook Page `feed` webhook with `n` comment changes (the shape of Meta's Webhooks for Pages docs)."""
    changes = [
        {
            "field": "feed",
            "value": {
                "item": "comment",
                "verb": "add",
                "post_id": "1234567890_111",
                "comment_id": f"111_{tag}{i}",
                "parent_id": "1234567890_111",
                "created_time": 1741163500 + i,
                "from": {"id": f"{7000 + i % 90}", "name": "A Customer"},
                "message": f"Comment {i}: still waiting for my refund",
            },
        }  # fmt: skip
        for i in range(n)
    ]
    return orjson.dumps({"object": "page", "entry": [{"id": "1234567890", "time": 1741163600, "changes": changes}]})


def _trustpilot(tag: str, n: int) -> bytes:
    """A Trustpilot webhook with `n` service-review-created events."""
    events = [
        {
            "eventName": "service-review-created",
            "version": "1",
            "eventData": {
                "id": f"{tag}{i:020d}",
                "stars": 1 + i % 5,
                "title": "Flood review",
                "text": f"Review {i}",
                "language": "en",
                "createdAt": "2025-03-05T12:00:00.000Z",
                "consumer": {"id": f"c{i % 50}"},
            },
        }  # fmt: skip
        for i in range(n)
    ]
    return orjson.dumps({"events": events})


JSON = {"Content-Type": "application/json"}
NDJSON = {"Content-Type": "application/x-ndjson"}


def _flood_requests() -> list[tuple[str, dict[str, str], bytes]]:
    """(query, headers, body) the flood cycles through, encoded once so the client spends its CPU on sending."""
    out: list[tuple[str, dict[str, str], bytes]] = []
    for k in range(4):
        tag = f"f{k}"
        out += [
            ("", JSON, _generic_batch(tag + "b", 500)),
            ("", JSON, orjson.dumps({"external_id": f"{tag}-single", "text": "One more complaint"})),
            ("", NDJSON, _ndjson(tag + "n", 300)),
            ("?adapter=social", JSON, _meta_feed(tag, 400)),
            ("?adapter=review", JSON, _trustpilot(tag, 200)),
            ("", JSON, orjson.dumps({"external_id": f"{tag}-single2", "text": "Still broken"})),
        ]
    return out


class Flood(threading.Thread):
    """CONNECTIONS concurrent connections posting as fast as ingest answers; counts every status."""

    def __init__(self, url: str, key: str) -> None:
        super().__init__(daemon=True, name="flood")
        self.url, self.key = url, key
        self.statuses: Counter[int | str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.samples: dict[int | str, str] = {}  # one body of each unexpected status or error
        self.halt = threading.Event()

    def run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        requests = _flood_requests()
        # Idle connections are dropped before uvicorn's 5 s keep-alive closes them (httpx's default expiry is the
        # same 5 s: a request sent on a connection the server is closing fails with ReadError, a client artefact).
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS, keepalive_expiry=2.0)
        async with httpx.AsyncClient(limits=limits, timeout=60, headers={"X-API-Key": self.key}) as client:

            async def worker(n: int) -> None:
                i = n
                while not self.halt.is_set():
                    query, headers, body = requests[i % len(requests)]
                    i += 7
                    try:
                        reply = await client.post(self.url + "/v1/events" + query, content=body, headers=headers)
                    except httpx.HTTPError as exc:
                        self.statuses[type(exc).__name__] += 1
                        self.samples.setdefault(type(exc).__name__, repr(exc))
                        continue
                    self.statuses[reply.status_code] += 1
                    if reply.status_code == 429:
                        self.reasons[reply.json().get("reason", "?")] += 1
                    elif reply.status_code != 202:
                        self.samples.setdefault(reply.status_code, reply.text[:500])

            await asyncio.gather(*(worker(n) for n in range(CONNECTIONS)))


class Quiet(threading.Thread):
    """One connection posting single events steadily; remembers the id of every event answered 202."""

    def __init__(self, url: str, key: str, rate: float = 20.0) -> None:
        super().__init__(daemon=True, name="quiet")
        self.url, self.key, self.interval = url, key, 1.0 / rate
        self.accepted: list[str] = []
        self.statuses: Counter[int | str] = Counter()
        self.samples: dict[int | str, str] = {}
        self.halt = threading.Event()

    def run(self) -> None:
        tag = uuid.uuid4().hex[:8]
        limits = httpx.Limits(keepalive_expiry=2.0)  # see Flood
        with httpx.Client(timeout=60, headers={"X-API-Key": self.key}, limits=limits) as client:
            n = 0
            while not self.halt.is_set():
                event = {"external_id": f"quiet-{tag}-{n}", "customer_id": f"Q-{n % 7}", "text": "Bill is wrong"}
                n += 1
                try:
                    reply = client.post(self.url + "/v1/events", json=event)
                except httpx.HTTPError as exc:
                    self.statuses[type(exc).__name__] += 1
                    self.samples.setdefault(type(exc).__name__, repr(exc))
                    continue
                self.statuses[reply.status_code] += 1
                if reply.status_code == 202:
                    self.accepted.append(reply.json()["id"])
                else:
                    self.samples.setdefault(reply.status_code, reply.text[:500])
                self.halt.wait(self.interval)


async def _ids_on_topic(bootstrap: str, topic: str, source: str) -> set[str]:
    """The CloudEvent ids (`ce_id`) of `source`'s records on `topic`, read from the beginning to the end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"topic {topic} has no partitions"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        wanted = f"/sources/{source}".encode()
        ids: set[str] = set()
        deadline = time.monotonic() + 120
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert time.monotonic() < deadline, "could not read the topic to its end"
            for records in (await consumer.getmany(timeout_ms=500, max_records=10000)).values():
                for record in records:
                    headers: dict[str, bytes] = dict(record.headers)
                    if headers.get("ce_source") == wanted:
                        ids.add(headers["ce_id"].decode())
        return ids
    finally:
        await consumer.stop()


def test_a_flooding_source_never_makes_ingest_refuse_a_quiet_one(broker: Broker, tmp_path: Path) -> None:
    prefix = f"fl{uuid.uuid4().hex[:10]}."
    kafka = KafkaSettings(engine=ENGINE, bootstrap_servers=broker.bootstrap_servers, topics=Topics(prefix=prefix))
    asyncio.run(ensure_topics(kafka))
    env = stack_env(
        broker.bootstrap_servers, prefix, f"sqlite:///{tmp_path / 'ingest.db'}",
        INGEST_MAX_INFLIGHT_PER_SOURCE=str(INFLIGHT_CAP), INGEST_PRODUCE_TIMEOUT_SECONDS=PRODUCE_TIMEOUT,
    )  # fmt: skip
    stack = Stack(env, tmp_path, names=("ingest",), kafka=kafka)
    ingest = stack["ingest"]
    try:
        ingest.start(timeout=120)
        keys = {name: add_source(ingest.env, name) for name in ("flood", "quiet")}
        for key in keys.values():
            wait_for_key(ingest.url, key)
        assert ingest.process is not None
        pid = ingest.process.pid
        # Warm up (imports, producer batches, the first requests' allocations) before taking the baseline.
        with httpx.Client(headers={"X-API-Key": keys["flood"]}, timeout=60) as client:
            for query, headers, body in _flood_requests()[:6]:
                assert client.post(ingest.url + "/v1/events" + query, content=body, headers=headers).status_code == 202
        baseline = _rss(pid)

        flood, quiet = Flood(ingest.url, keys["flood"]), Quiet(ingest.url, keys["quiet"])
        flood.start()
        time.sleep(1.0)  # the flood is under way before the quiet source starts
        quiet.start()
        peak = baseline
        ends = time.monotonic() + FLOOD_SECONDS
        while time.monotonic() < ends:
            peak = max(peak, _rss(pid))
            time.sleep(0.2)
        quiet.halt.set()
        quiet.join(90)
        flood.halt.set()
        flood.join(90)
        assert not quiet.is_alive() and not flood.is_alive(), "a client did not finish"
        assert ingest.process is not None and ingest.process.poll() is None, f"ingest died:\n{ingest.log_tail()}"

        report = f"quiet {dict(quiet.statuses)} {quiet.samples}; flood {dict(flood.statuses)} {dict(flood.reasons)}"
        assert set(quiet.statuses) == {202}, report
        assert len(quiet.accepted) >= 10, report
        assert set(flood.statuses) <= {202, 429}, f"{report} {flood.samples}"
        assert flood.statuses[202] > 0, report
        assert set(flood.reasons) <= {"source_busy"}, report
        growth = peak - baseline
        assert growth < RSS_GROWTH_BOUND, f"ingest's RSS grew by {growth / 2**20:.0f} MiB ({report})"

        on_topic = asyncio.run(_ids_on_topic(broker.bootstrap_servers, kafka.topics.received, "quiet"))
        missing = set(quiet.accepted) - on_topic
        assert not missing, f"{len(missing)} of {len(quiet.accepted)} acknowledged quiet events are not on the topic"
        print(f"\n{report}; RSS {baseline / 2**20:.0f} -> peak {peak / 2**20:.0f} MiB")  # noqa: T201
    finally:
        stack.stop()
