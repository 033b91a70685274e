"""Validation at the front door: content types, UTF-8, JSON/NDJSON, reasons per bad item, idempotent ids."""

from __future__ import annotations

import pytest

from services.ingest.api import refusal
from services.ingest.auth import RateLimiter
from services.ingest.intake import IntakeError, media_type, parse_body
from services.ingest.models import Adapter
from shared.cloudevents import decode
from shared.models import Channel, stable_event_id
from tests.ingest.factories import one, rejected, run, source


@pytest.mark.parametrize(
    ("content_type", "fmt"),
    [
        ("application/json", "json"),
        ("application/json; charset=utf-8", "json"),
        ("Application/JSON;charset=UTF-8", "json"),
        ("application/x-ndjson", "ndjson"),
        ("application/jsonl", "ndjson"),
        ("application/x-www-form-urlencoded", "form"),
    ],
)
def test_accepted_content_types(content_type: str, fmt: str) -> None:
    assert media_type(content_type) == fmt


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",
        "text/plain",
        "application/xml",
        "application/json; charset=latin-1",
    ],
)
def test_other_content_types_are_415(content_type: str | None) -> None:
    with pytest.raises(IntakeError) as caught:
        media_type(content_type)
    assert refusal(caught.value).status == 415


@pytest.mark.parametrize(
    ("raw", "status", "reason"),
    [
        (b'{"text": ', 400, "invalid_json"),
        (b"\xff\xfe{}", 400, "invalid_utf8"),
        (b'{"text": "caf\xe9"}', 400, "invalid_utf8"),
        (b"[]", 422, "missing_field"),
        (b"", 400, "invalid_json"),
    ],
)
def test_unreadable_bodies_are_problems_with_a_reason(raw: bytes, status: int, reason: str) -> None:
    with pytest.raises(IntakeError) as caught:
        parse_body(raw, "json", channel="other")
    problem = refusal(caught.value)
    assert (problem.status, problem.extra["reason"]) == (status, reason)


def test_ndjson_skips_blank_lines_and_rejects_only_the_broken_line() -> None:
    records, rejections = run(b'{"text":"one"}\n\n{broken\n{"text":"three"}\n', fmt="ndjson")
    assert [r.index for r in records] == [0, 2]
    assert [(r.index, r.reason) for r in rejections] == [(1, "invalid_json")]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"text": "hi", "colour": "blue"}, "unknown_field"),
        ({"text": "hi", "id": "mine"}, "unknown_field"),
        ({"text": "hi", "received_at": "2025-01-01T00:00:00Z"}, "unknown_field"),
        ({"text": "hi", "customer": {"id": "c", "email": "a@b.c"}}, "unknown_field"),
        ({"text": "x" * 10_001}, "text_too_long"),
        ({"text": "hi", "scores": {"nps": 11}}, "score_out_of_range"),
        ({"text": "hi", "scores": {"csat": 0}}, "score_out_of_range"),
        ({"text": "hi", "scores": {"ces": 8}}, "score_out_of_range"),
        ({"text": "hi", "scores": {"csat": "great"}}, "invalid_field"),
        ({"text": "hi", "occurred_at": "2025-02-30T10:00:00Z"}, "invalid_timestamp"),
        ({"text": "hi", "occurred_at": "yesterday"}, "invalid_timestamp"),
        ({"text": "hi", "occurred_at": "2999-01-01T00:00:00Z"}, "invalid_timestamp"),
        ({"text": "hi", "occurred_at": "1970-01-01T00:00:00Z"}, "invalid_timestamp"),
        ({"text": "hi", "channel": "pigeon"}, "invalid_field"),
        ({"text": "hi", "metadata": {"n": 1}}, "invalid_field"),
        ({"text": "hi", "external_id": ""}, "invalid_field"),
        ({"text": "hi", "external_id": 42}, "invalid_field"),
        ("just a string", "unsupported_payload"),
        ([1, 2], "unsupported_payload"),
    ],
)
def test_each_bad_event_is_rejected_with_a_bounded_reason(payload: object, reason: str) -> None:
    if isinstance(payload, list):
        records, rejections = run(payload)
        assert not records and {r.reason for r in rejections} == {reason}
        return
    assert rejected(payload).reason == reason


def test_an_unpaired_surrogate_escape_is_refused_as_malformed_json() -> None:
    with pytest.raises(IntakeError) as caught:
        parse_body(b'{"text": "a\\ud800b"}', "json", channel="other")
    assert refusal(caught.value).status == 400


def test_a_source_cannot_post_for_another_source() -> None:
    with pytest.raises(IntakeError) as caught:
        run([{"text": "ok"}, {"text": "sneaky", "source": "someone-else"}])
    assert refusal(caught.value).status == 403
    assert one({"text": "mine", "source": "acme-tools"})["source"] == "acme-tools"


def test_the_same_external_id_gives_the_same_event_id_and_none_gives_a_fresh_one() -> None:
    first = one({"external_id": "T-1", "text": "a"})
    again = one({"external_id": "T-1", "text": "a, edited"})
    assert first["id"] == again["id"] == stable_event_id("acme-tools", "T-1")
    other_source = one({"external_id": "T-1", "text": "a"}, src=source("other-tool"))
    assert other_source["id"] != first["id"]
    assert one({"text": "no id"})["id"] != one({"text": "no id"})["id"]


def test_the_record_is_a_cloudevent_keyed_by_customer_or_event_id() -> None:
    records, _ = run([{"external_id": "e1", "customer_id": "CUS-1", "text": "a"}, {"external_id": "e2", "text": "b"}])
    with_customer, without = records
    event = decode(with_customer.headers, with_customer.value)
    assert event.type == "io.journeyline.feedback.received" and event.source == "/sources/acme-tools"
    assert event.subject == "CUS-1" and with_customer.key == b"CUS-1"
    assert without.key == without.id.encode() and decode(without.headers, without.value).subject is None


def test_defaults_come_from_the_source() -> None:
    event = one({"text": "hello"}, src=source(channel=Channel.call))
    assert event["channel"] == "call" and event["kind"] == "feedback"
    assert event["occurred_at"] == event["received_at"]


def test_adapter_can_be_chosen_per_request() -> None:
    assert one({"post_id": "1", "platform": "x", "text": "hi"}, Adapter.social)["channel"] == "social"


def test_rate_limiter_counts_events_and_says_when_to_retry() -> None:
    limiter = RateLimiter(default_rate=10, min_burst=50)
    src = source()
    assert limiter.take(src, 50) == 0
    wait = limiter.take(src, 20)
    assert wait >= 1
    unlimited = RateLimiter(default_rate=0, min_burst=1)
    assert all(unlimited.take(src, 10_000) == 0 for _ in range(5))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(b"text=%ff%fe", "invalid_utf8"), (b"text=caf%e9", "invalid_utf8"), (b"a=1&&=&", "invalid_form")],
)
def test_broken_forms_are_refused_not_mangled(raw: bytes, reason: str) -> None:
    with pytest.raises(IntakeError) as caught:
        parse_body(raw, "form", channel="call")
    problem = refusal(caught.value)
    assert (problem.status, problem.extra["reason"]) == (400, reason)


def test_a_utf8_form_keeps_its_text() -> None:
    body = parse_body(b"text=caf%C3%A9+ok", "form", channel="call")
    assert body.items[0][1] == {"text": "café ok"}
