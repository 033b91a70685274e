"""The ingest service as a real process on the real broker: 202 means the record is on the topic."""

from __future__ import annotations

import asyncio
import copy
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import orjson
import pytest

from services.ingest.examples import EXAMPLES
from shared.cloudevents import CloudEvent, decode
from shared.kafka import make_consumer
from shared.settings import KafkaSettings
from tests.ingest.conftest import ADMIN_TOKEN, Ingest
from tests.ingest.test_adapters import TWILIO_FORM
from tests.support import ROOT

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


async def consume(kafka: KafkaSettings, ids: set[str], timeout: float = 30.0) -> dict[str, tuple[bytes, CloudEvent]]:
    """Read the received topic until every id in `ids` was seen; return key and decoded event per id."""
    consumer = make_consumer(kafka, group=f"test-{uuid.uuid4().hex[:8]}", topics=[kafka.topics.received], client_id="t")
    await consumer.start()
    found: dict[str, tuple[bytes, CloudEvent]] = {}
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not ids <= set(found) and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = decode(record.headers, record.value)
                    found.setdefault(event.id, (record.key, event))
    finally:
        await consumer.stop()
    return found


def post(ingest: Ingest, body: Any, key: str | None = None, source: str = "chat-tool", **kwargs: Any) -> httpx.Response:
    headers = {"X-API-Key": key if key is not None else ingest.keys[source], **kwargs.pop("headers", {})}
    if isinstance(body, bytes) or hasattr(body, "__next__"):  # bytes, or an iterator of them (a chunked body)
        return httpx.post(ingest.url + "/v1/events", content=body, headers=headers, timeout=10, **kwargs)
    return httpx.post(ingest.url + "/v1/events", json=body, headers=headers, timeout=10, **kwargs)


async def test_202_means_the_event_is_on_the_topic_as_a_cloudevent(ingest: Ingest) -> None:
    single = post(ingest, {"external_id": "CHAT-1", "customer_id": "CUS-7", "text": "The refund never came."})
    assert single.status_code == 202, single.text
    event_id = single.json()["id"]
    batch = post(ingest, [{"external_id": f"CHAT-B{i}", "text": f"item {i}"} for i in range(20)])
    assert batch.status_code == 202 and batch.json()["status"] == "accepted"
    batch_ids = {r["id"] for r in batch.json()["results"]}
    contact = post(ingest, EXAMPLES["amazon_connect"]["value"], source="callcentre")
    assert contact.status_code == 202, contact.text

    found = await consume(ingest.kafka, {event_id, contact.json()["id"], *batch_ids})
    assert {event_id, contact.json()["id"], *batch_ids} <= set(found)
    key, event = found[event_id]
    assert key == b"CUS-7" and event.subject == "CUS-7"
    assert event.type == "io.journeyline.feedback.received" and event.source == "/sources/chat-tool"
    assert event.data["text"] == "The refund never came." and event.data["channel"] == "chat"
    _, call = found[contact.json()["id"]]
    assert call.data["channel"] == "call" and call.data["metadata"]["disposition"] == "REFUND_ISSUED"


async def test_a_body_that_arrives_in_pieces_is_read_whole(ingest: Ingest) -> None:
    """A chunked body, its pieces apart in time, reaches the server as several messages: the event is all of them."""
    text = "Part one of the complaint; " * 20 + "and the end."
    body = orjson.dumps({"external_id": "CHUNKED-1", "customer_id": "CUS-8", "text": text})

    def pieces() -> Any:
        for start in range(0, len(body), 100):
            time.sleep(0.02)  # each piece its own TCP segment, so its own ASGI message
            yield body[start : start + 100]

    answer = post(ingest, pieces(), headers={"Content-Type": "application/json"})
    assert answer.status_code == 202, answer.text
    found = await consume(ingest.kafka, {answer.json()["id"]})
    assert found[answer.json()["id"]][1].data["text"] == text


async def test_a_retry_keeps_the_same_event_id(ingest: Ingest) -> None:
    body = {"external_id": "ZD-48213", "text": "Still no refund after 10 days."}
    first, second = post(ingest, body), post(ingest, body)
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    in_batch = post(ingest, [body]).json()["results"][0]["id"]
    assert in_batch == first.json()["id"]
    found = await consume(ingest.kafka, {first.json()["id"]})
    assert found[first.json()["id"]][1].data["external_id"] == "ZD-48213"


def test_batches_answer_per_item_and_say_all_some_or_none(ingest: Ingest) -> None:
    partial = post(ingest, [{"text": "fine"}, {"text": "bad", "scores": {"nps": 42}}, {"text": "ok", "colour": "red"}])
    assert partial.status_code == 207
    body = partial.json()
    assert (body["status"], body["accepted"], body["rejected"]) == ("partial", 1, 2)
    assert [(r["index"], r["status"], r.get("reason")) for r in body["results"]] == [
        (0, "accepted", None), (1, "rejected", "score_out_of_range"), (2, "rejected", "unknown_field"),
    ]  # fmt: skip
    none = post(ingest, [{"text": 5}, {"scores": {"csat": 9}}])
    assert none.status_code == 422 and none.headers["content-type"] == PROBLEM
    assert none.json()["outcome"] == "rejected" and len(none.json()["results"]) == 2
    ndjson = post(ingest, b'{"text":"a"}\n{"text":\n{"text":"c"}\n', headers={"Content-Type": "application/x-ndjson"})
    assert ndjson.status_code == 207
    assert [r["status"] for r in ndjson.json()["results"]] == ["accepted", "rejected", "accepted"]


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("missing_key", 401),
        ("wrong_key", 401),
        ("text_plain", 415),
        ("xml", 415),
        ("body_too_large", 413),
        ("batch_too_large", 413),
        ("malformed_json", 400),
        ("invalid_utf8", 400),
        ("unknown_adapter", 400),
        ("other_source", 403),
        ("unknown_field", 422),
        ("impossible_time", 422),
        ("text_too_long", 422),
    ],
)
def test_bad_input_gets_problem_json(ingest: Ingest, case: str, status: int) -> None:
    json_type = {"Content-Type": "application/json"}
    requests: dict[str, Any] = {
        "missing_key": lambda: post(ingest, {"text": "hi"}, key=""),
        "wrong_key": lambda: post(ingest, {"text": "hi"}, key="jl_not-a-real-key"),
        "text_plain": lambda: post(ingest, b"hello", headers={"Content-Type": "text/plain"}),
        "xml": lambda: post(ingest, b"<event/>", headers={"Content-Type": "application/xml"}),
        "body_too_large": lambda: post(ingest, b"[" + b" " * 300_000 + b"]", headers=json_type),
        "batch_too_large": lambda: post(ingest, [{"text": "x"}] * 101),
        "malformed_json": lambda: post(ingest, b'{"text": "unterminated', headers=json_type),
        "invalid_utf8": lambda: post(ingest, b'{"text": "\xc3\x28"}', headers=json_type),
        "unknown_adapter": lambda: post(ingest, {"text": "hi"}, params={"adapter": "fax"}),
        "other_source": lambda: post(ingest, {"text": "hi", "source": "callcentre"}),
        "unknown_field": lambda: post(ingest, {"text": "hi", "sentiment": "angry"}),
        "impossible_time": lambda: post(ingest, {"text": "hi", "occurred_at": "2025-13-45T99:00:00Z"}),
        "text_too_long": lambda: post(ingest, {"text": "x" * 10_001}),
    }
    response = requests[case]()
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]


def test_a_source_over_its_rate_limit_gets_429_with_retry_after(ingest: Ingest) -> None:
    # 5 events/s with a bucket of one full batch (100): the first batch empties it, the next needs 10 s.
    assert post(ingest, [{"text": "x"}] * 100, source="limited").status_code == 202
    limited = post(ingest, [{"text": "x"}] * 50, source="limited")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["content-type"] == PROBLEM


def test_admin_api_adds_rotates_and_revokes_sources(ingest: Ingest) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url = ingest.url + "/v1/sources"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    created = httpx.post(url, json={"name": "typeform-eu", "channel": "survey", "adapter": "survey"}, headers=admin)
    assert created.status_code == 201, created.text
    key = created.json()["api_key"]
    assert httpx.post(url, json={"name": "typeform-eu", "channel": "survey"}, headers=admin).status_code == 409
    assert httpx.post(url, json={"name": "Bad Name!", "channel": "survey"}, headers=admin).status_code == 422
    response = post(ingest, {"response_id": "R1", "nps": 9, "verbatim": "Easy set-up"}, key=key)
    assert response.status_code == 202, response.text  # usable at once: the admin API updates the cache
    listed = httpx.get(url, headers=admin).json()
    assert "typeform-eu" in {s["name"] for s in listed} and all("api_key" not in s for s in listed)
    rotated = httpx.post(f"{url}/typeform-eu/rotate", headers=admin).json()["api_key"]
    assert post(ingest, {"response_id": "R2", "nps": 9}, key=key).status_code == 401
    assert post(ingest, {"response_id": "R2", "nps": 9}, key=rotated).status_code == 202
    assert httpx.post(f"{url}/typeform-eu/revoke", headers=admin).json()["active"] is False
    assert post(ingest, {"response_id": "R3", "nps": 9}, key=rotated).status_code == 401
    assert httpx.post(f"{url}/nobody/revoke", headers=admin).status_code == 404


def test_a_key_revoked_from_the_cli_stops_working_within_seconds(ingest: Ingest) -> None:
    env = {**os.environ, "DATABASE_URL": ingest.database_url}
    cmd = [sys.executable, "-m", "services.cli.main", "sources"]
    added = subprocess.run(
        [*cmd, "add", "revoke-me", "--channel", "chat"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    key = added.stdout.strip().splitlines()[-1]
    deadline = time.monotonic() + 20
    while post(ingest, {"text": "hi"}, key=key).status_code != 202:
        assert time.monotonic() < deadline, "a key added from the CLI was never accepted"
        time.sleep(0.2)
    subprocess.run([*cmd, "revoke", "revoke-me"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=60)
    deadline = time.monotonic() + 20
    while post(ingest, {"text": "hi"}, key=key).status_code != 401:
        assert time.monotonic() < deadline, "a revoked key kept working"
        time.sleep(0.2)


def test_ops_endpoints_and_openapi_examples(ingest: Ingest) -> None:
    assert httpx.get(ingest.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(ingest.url + "/readyz").json()
    assert ready["checks"] == {"broker": "ok", "database": "ok"}
    metrics = httpx.get(ingest.url + "/metrics").text
    for name in (
        "journeyline_ingest_events_total", "journeyline_ingest_request_duration_seconds",
        "journeyline_ingest_batch_size", "journeyline_ingest_produce_duration_seconds", "journeyline_ingest_broker_up 1.0",
    ):  # fmt: skip
        assert name in metrics
    assert 'journeyline_ingest_events_total{channel="email",outcome="accepted",reason="",source="limited"}' in metrics
    spec = httpx.get(ingest.url + "/openapi.json").json()
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert set(EXAMPLES) <= set(body["application/json"]["examples"]) and "application/x-ndjson" in body
    assert httpx.get(ingest.url + "/docs").status_code == 200


async def test_a_form_encoded_twilio_callback_is_accepted_and_published(ingest: Ingest) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    response = post(ingest, TWILIO_FORM, source="callcentre", headers=form)
    assert response.status_code == 202, response.text
    found = await consume(ingest.kafka, {response.json()["id"]})
    assert found[response.json()["id"]][1].data["metadata"]["vendor"] == "twilio"


def test_the_adapter_can_be_chosen_per_request_by_header_or_query(ingest: Ingest) -> None:
    review = EXAMPLES["google_play"]["value"]
    by_header = post(ingest, review, headers={"X-Journeyline-Adapter": "review"})
    by_query = post(ingest, review, params={"adapter": "review"})
    assert by_header.status_code == by_query.status_code == 202
    assert by_header.json()["id"] == by_query.json()["id"]  # same vendor id: the same event
    assert post(ingest, review).status_code == 422  # the source's default (generic) does not know this shape


def test_an_envelope_with_a_bad_part_gets_the_per_item_answer(ingest: Ingest) -> None:
    envelope = {
        "events": [
            {"eventName": "service-review-created", "eventData": {"id": "tp-1", "stars": 4, "text": "Quick delivery"}},
            {"eventName": "service-review-created", "eventData": {"id": "tp-2", "stars": 7, "text": "Seven stars?"}},
        ]
    }
    response = post(ingest, envelope, params={"adapter": "review"})
    assert response.status_code == 207, response.text
    results = response.json()["results"]
    assert [(r["index"], r["part"], r["status"]) for r in results] == [(0, 0, "accepted"), (0, 1, "rejected")]
    assert results[1]["reason"] == "score_out_of_range"


def _meta_envelope(comments: int, tag: str) -> dict[str, object]:
    """A Facebook Page feed webhook carrying `comments` comments in one entry (one request, many events)."""
    change = copy.deepcopy(EXAMPLES["facebook"]["value"]["entry"][0]["changes"][0])
    changes = []
    for i in range(comments):
        one = copy.deepcopy(change)
        one["value"]["comment_id"] = f"{tag}_{i}"
        changes.append(one)
    return {"object": "page", "entry": [{"id": "1029384756", "time": 1741163000, "changes": changes}]}


def test_an_envelope_counts_each_record_against_the_batch_limit(ingest: Ingest) -> None:
    """INGEST_MAX_BATCH_ITEMS is 100 here: one request whose envelope expands to 101 comments is a 413."""
    headers = {"X-API-Key": ingest.keys["chat-tool"]}
    url = ingest.url + "/v1/events?adapter=social"
    assert httpx.post(url, json=_meta_envelope(100, "fits"), headers=headers).status_code == 202
    over = httpx.post(url, json=_meta_envelope(101, "over"), headers=headers)
    assert over.status_code == 413, over.text
    assert over.headers["content-type"] == "application/problem+json"
    assert "expands to 101 events" in over.json()["detail"]


def test_an_envelope_counts_each_record_against_the_source_rate_limit(ingest: Ingest) -> None:
    """The `limited` source has 5 events/s and a burst of 100: three 60-comment envelopes in a row are 180 events,
    so the last is refused whatever the bucket held (counted as one posted item each, all three would pass)."""
    headers = {"X-API-Key": ingest.keys["limited"]}
    url = ingest.url + "/v1/events?adapter=social"
    replies = [httpx.post(url, json=_meta_envelope(60, f"rate{i}"), headers=headers) for i in range(3)]
    assert [r.status_code for r in replies][-1] == 429, [r.status_code for r in replies]
    assert "Retry-After" in replies[-1].headers


async def test_no_planted_card_number_or_email_reaches_the_topic(ingest: Ingest) -> None:
    text = "Refund card 4111 1111 1111 1111 please, write to jo.bloggs@example.com or call +44 7700 900123"
    reply = post(ingest, {"external_id": f"pii-{uuid.uuid4().hex[:8]}", "text": text})
    assert reply.status_code == 202, reply.text
    event_id = reply.json()["id"]
    key, event = (await consume(ingest.kafka, {event_id}))[event_id]
    published = key + orjson.dumps(event.data)
    for planted in (b"4111", b"jo.bloggs", b"example.com", b"7700"):
        assert planted not in published, planted
    assert event.data["text"] == "Refund card [card] please, write to [email] or call [phone]"
    metrics = httpx.get(ingest.url + "/metrics").text
    assert 'journeyline_ingest_redacted_total{kind="card",source="chat-tool"} 1.0' in metrics


async def test_a_signed_vendor_webhook_needs_no_key_and_a_changed_byte_is_refused(ingest: Ingest) -> None:
    import hashlib
    import hmac

    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    hook = {"vendor": "meta", "secrets": ["meta-app-secret-1"], "verify_token": "vt-42"}
    assert httpx.put(ingest.url + "/v1/sources/callcentre/hook", json=hook, headers=admin).status_code == 200
    url = ingest.url + "/v1/hooks/callcentre"
    body = orjson.dumps(_meta_envelope(2, f"hook{uuid.uuid4().hex[:6]}"))
    signature = "sha256=" + hmac.new(b"meta-app-secret-1", body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": signature, "Content-Type": "application/json"}

    accepted = httpx.post(url, content=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    ids = {row["id"] for row in accepted.json()["results"]}
    assert ids <= set(await consume(ingest.kafka, ids))

    tampered = body.replace(b"Delivery", b"Dflivery")
    refused = httpx.post(url, content=tampered, headers=headers)
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
    assert httpx.post(url, content=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert httpx.post(ingest.url + "/v1/hooks/chat-tool", content=body, headers=headers).status_code == 404

    challenge = {"hub.mode": "subscribe", "hub.verify_token": "vt-42", "hub.challenge": "8391"}
    assert httpx.get(url, params=challenge).text == "8391"
    assert httpx.get(url, params={**challenge, "hub.verify_token": "nope"}).status_code == 401
