"""Evidence lists: feedback search against an oracle, triage, bulk relabel, a customer's timeline - SQLite and PostgreSQL."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability.service import process_batch
from shared.journey import JourneyMap
from shared.models import ClassifiedFeedback
from shared.settings import KafkaSettings
from tests.accountability.factories import T0, MovableClock, classified, journey_event
from tests.accountability.harness import OPERATOR, READ, read_topic, running, settings_for

STAGES = ["buy", "pay", "use", "get_help", "unassigned"]
CHANNELS = ["chat", "call", "email", "review"]
SOURCES = ["zendesk", "twitter", "survey-tool"]
SEVERITIES = ["normal", "high", "critical"]
LABELS = ["negative", "neutral", "positive"]
WORDS = ["refund", "late", "delivery", "invoice", "charged", "twice", "app", "crash", "login", "agent", "rude", "slow"]


def _store(engine: Engine, journey: JourneyMap, items: list[ClassifiedFeedback]) -> None:
    with Session(engine, expire_on_commit=False) as session:
        process_batch(session=session, journey=journey, items=items, now=T0 + timedelta(days=1), alerts_topic="t.a")
        session.commit()


def _generated(n: int, seed_value: int = 7) -> list[ClassifiedFeedback]:
    rnd = random.Random(seed_value)
    items = []
    for i in range(n):
        # Ten distinct times only: many items share a time, so the id must break ties in the keyset.
        at = T0 - timedelta(minutes=rnd.randrange(10) * 30)
        items.append(
            classified(
                stage=rnd.choice(STAGES),
                label=rnd.choice(LABELS),
                severity=rnd.choice(SEVERITIES),
                customer=rnd.choice(["c-1", "c-2", "c-3", None]),
                at=at,
                text=" ".join(rnd.sample(WORDS, 3)) + f" item{i}",
                source=rnd.choice(SOURCES),
                channel=rnd.choice(CHANNELS),
                confidence=round(rnd.random(), 3),
                method=rnd.choice(["rule", "model"]),
            )
        )
    return items


def _oracle(items: list[ClassifiedFeedback], f: dict[str, Any], order: str) -> list[str]:
    def keep(it: ClassifiedFeedback) -> bool:
        c = it.classification
        checks = {
            "stage": c.stage,
            "channel": it.channel.value,
            "source": it.source,
            "severity": c.severity.value,
            "sentiment": c.sentiment.label.value,
            "customer": it.customer.id,
            "method": c.method.value,
        }
        if any(f[k] != v for k, v in checks.items() if k in f):
            return False
        if "since" in f and not it.occurred_at > f["since"]:
            return False
        if "until" in f and not it.occurred_at <= f["until"]:
            return False
        if "min_confidence" in f and c.confidence < f["min_confidence"]:
            return False
        if "max_confidence" in f and c.confidence > f["max_confidence"]:
            return False
        if "q" in f:
            have = set(re.findall(r"\w+", (it.text or "").lower()))
            return all(w in have for w in f["q"].lower().split())
        return True

    found = sorted((it for it in items if keep(it)), key=lambda it: (it.occurred_at, it.id))
    return [it.id for it in (reversed(found) if order == "newest" else found)]


def _random_filters(rnd: random.Random) -> dict[str, Any]:
    choices: dict[str, Any] = {
        "stage": lambda: rnd.choice(STAGES),
        "channel": lambda: rnd.choice(CHANNELS),
        "source": lambda: rnd.choice(SOURCES),
        "severity": lambda: rnd.choice(SEVERITIES),
        "sentiment": lambda: rnd.choice(LABELS),
        "customer": lambda: rnd.choice(["c-1", "c-2", "c-3"]),
        "method": lambda: rnd.choice(["rule", "model"]),
        "since": lambda: T0 - timedelta(minutes=rnd.randrange(10) * 30),
        "min_confidence": lambda: round(rnd.random() / 2, 2),
        "max_confidence": lambda: round(0.5 + rnd.random() / 2, 2),
        "q": lambda: " ".join(rnd.sample(WORDS, rnd.choice([1, 2]))).upper(),
    }
    picked = rnd.sample(sorted(choices), rnd.choice([0, 1, 2, 3]))
    filters = {k: choices[k]() for k in picked}
    if "since" in filters and rnd.random() < 0.5:
        filters["until"] = filters["since"] + timedelta(minutes=90)
    return filters


def _params(f: dict[str, Any]) -> dict[str, str]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else str(v)) for k, v in f.items()}


async def _all_pages(client: httpx.AsyncClient, path: str, params: dict[str, str], limit: int) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(500):
        answer = await client.get(
            path, params={**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}, headers=READ
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert len(body["items"]) <= limit
        ids += [i["id"] for i in body["items"]]
        cursor = body["next"]
        if cursor is None:
            return ids
    raise AssertionError("the pages never ended")


async def test_search_filters_and_pages_agree_with_an_oracle(
    kafka: KafkaSettings, database_url: str, engine: Engine, journey: JourneyMap
) -> None:
    items = _generated(240)
    _store(engine, journey, items)
    rnd = random.Random(11)
    async with running(settings_for(kafka, database_url), MovableClock(), engine=engine) as (_, client):
        everything = await _all_pages(client, "/v1/feedback", {}, limit=50)
        assert everything == _oracle(items, {}, "newest")
        checked = 0
        for _ in range(40):
            filters = _random_filters(rnd)
            order = rnd.choice(["newest", "oldest"])
            want = _oracle(items, filters, order)
            got = await _all_pages(client, "/v1/feedback", {**_params(filters), "order": order}, limit=7)
            assert got == want, (filters, order)
            checked += bool(want)
        assert checked >= 20  # most combinations matched something: the oracle is not comparing empty lists


async def test_full_text_ignores_case_and_accents_and_any_query_syntax(
    kafka: KafkaSettings, database_url: str, engine: Engine, journey: JourneyMap
) -> None:
    french = classified(text="Remboursé deux fois, le café était froid", at=T0)
    english = classified(text="Refund NEAR the AND OR operators * please", at=T0 - timedelta(minutes=1))
    _store(engine, journey, [french, english])
    async with running(settings_for(kafka, database_url), MovableClock(), engine=engine) as (_, client):

        async def ids(q: str) -> list[str]:
            answer = await client.get("/v1/feedback", params={"q": q}, headers=READ)
            assert answer.status_code == 200, answer.text
            return [i["id"] for i in answer.json()["items"]]

        assert await ids("rembourse CAFE") == [french.id]
        assert await ids("refund") == [english.id]
        # Words of the query languages are only words: no operator, prefix or phrase syntax reaches the engine.
        for crafted in ["NEAR(refund", '"refund', "refund*", "-refund", "refund OR café", "operators & !please", "a:b"]:
            answer = await client.get("/v1/feedback", params={"q": crafted}, headers=READ)
            assert answer.status_code == 200, (crafted, answer.text)
        assert await ids("refund OR café") == []  # every word must occur; "or" is a word here
        assert await ids("near AND operators") == [english.id]
        answer = await client.get("/v1/feedback", params={"q": "!!! ---"}, headers=READ)
        assert answer.status_code == 422
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert "no words" in answer.json()["detail"]


async def test_bad_filters_and_cursors_are_explained(
    kafka: KafkaSettings, sqlite_url: str, journey: JourneyMap
) -> None:
    async with running(settings_for(kafka, sqlite_url), MovableClock()) as (_, client):
        cases = {
            "cursor": {"cursor": "not-a-cursor"},
            "since": {"since": "2026-11-02T12:00:00Z", "until": "2026-11-02T11:00:00Z"},
            "since ": {"since": "2026-11-02T12:00:00"},  # no time zone
            "min_confidence": {"min_confidence": "0.9", "max_confidence": "0.1"},
            "stag": {"stag": "pay"},  # a misspelt filter is refused, not ignored
            "stage": {"stage": "nowhere"},
            "limit": {"limit": "100000"},
        }
        for name, params in cases.items():
            answer = await client.get("/v1/feedback", params=params, headers=READ)
            assert answer.status_code == 422, (name, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json"), name
        # A cursor of one list is not a cursor of another order.
        triage_cursor = "WyJsZWFzdF9jb25maWRlbnQiLDAuMSwiYSJd"  # ["least_confident",0.1,"a"]
        answer = await client.get("/v1/feedback", params={"cursor": triage_cursor}, headers=READ)
        assert answer.status_code == 422
        assert (await client.get("/v1/feedback")).status_code == 401


async def test_triage_lists_unassigned_and_least_confident_until_a_person_relabels_them(
    kafka: KafkaSettings, database_url: str, engine: Engine, journey: JourneyMap
) -> None:
    sure = classified(stage="pay", confidence=0.95)
    doubtful = classified(stage="pay", confidence=0.41)
    unsure = classified(stage="unassigned", confidence=0.2)
    fairly = classified(stage="unassigned", confidence=0.7)
    _store(engine, journey, [sure, doubtful, unsure, fairly])
    async with running(settings_for(kafka, database_url), MovableClock(), engine=engine) as (_, client):
        queue = await _all_pages(client, "/v1/triage", {}, limit=1)
        assert queue == [unsure.id, doubtful.id, fairly.id]
        assert await _all_pages(client, "/v1/triage", {"stage": "pay"}, limit=5) == [doubtful.id]

        answer = await client.post(
            "/v1/feedback/relabel", json={"ids": [unsure.id, doubtful.id], "stage": "pay"}, headers=OPERATOR
        )
        assert answer.status_code == 200, answer.text
        assert await _all_pages(client, "/v1/triage", {}, limit=5) == [fairly.id]


async def test_bulk_relabel_audits_and_emits_each_item(
    kafka: KafkaSettings, database_url: str, engine: Engine, journey: JourneyMap
) -> None:
    items = [classified(stage="unassigned", confidence=0.3, text=f"cannot log in {i}") for i in range(3)]
    _store(engine, journey, items)
    ids = [i.id for i in items]
    async with running(settings_for(kafka, database_url), MovableClock(), engine=engine) as (runtime, client):
        body = {"ids": [*ids, ids[0], "no-such-item"], "stage": "onboard"}
        answer = await client.post("/v1/feedback/relabel", json=body, headers={**READ})
        assert answer.status_code == 403
        answer = await client.post(
            "/v1/feedback/relabel", json=body, headers={**OPERATOR, "X-Journeyline-Actor": "Ana"}
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert [r["id"] for r in result["relabelled"]] == ids  # each once, in the order given
        assert {r["previous_stage"] for r in result["relabelled"]} == {"unassigned"}
        assert result["unknown"] == ["no-such-item"]

        audit = (await client.get("/v1/audit", params={"limit": 50}, headers=OPERATOR)).json()
        relabels = {e["subject"]: e for e in audit if e["action"] == "feedback.relabel"}
        assert set(relabels) == {f"feedback:{i}" for i in ids}
        assert all(e["actor"] == "Ana (operator)" and e["after"]["stage"] == "onboard" for e in relabels.values())

        events = await read_topic(kafka, runtime.topics.corrections, want=3)
        assert sorted(e.data["id"] for e in events) == sorted(ids)
        assert {e.data["stage"] for e in events} == {"onboard"}
        assert {e.data["text"] for e in events} == {i.text for i in items}

        stored = (await client.get("/v1/feedback", params={"stage": "onboard"}, headers=READ)).json()["items"]
        assert sorted(i["id"] for i in stored) == sorted(ids)

        for bad in ({"ids": [], "stage": "pay"}, {"ids": ids, "stage": "nowhere"}, {"ids": ["x" * 65], "stage": "pay"}):
            answer = await client.post("/v1/feedback/relabel", json=bad, headers=OPERATOR)
            assert answer.status_code == 422, bad


async def test_a_customers_timeline_is_in_time_order_with_moments(
    kafka: KafkaSettings, database_url: str, engine: Engine, journey: JourneyMap
) -> None:
    complaint = classified(customer="c-9", stage="pay", at=T0, severity="high", text="charged twice")
    order = journey_event(customer="c-9", at=T0 - timedelta(hours=2))  # completes the "first order" moment
    earlier = classified(customer="c-9", stage="buy", label="positive", at=T0 - timedelta(days=1))
    later = classified(customer="c-9", stage="leave", at=T0 + timedelta(hours=1), text="x" * 400)
    other = classified(customer="c-10", at=T0)
    _store(engine, journey, [complaint, order, later, other])
    _store(engine, journey, [earlier])  # stored last, happened first
    async with running(settings_for(kafka, database_url), MovableClock(), engine=engine) as (_, client):
        answer = await client.get("/v1/customers/c-9/timeline", headers=READ)
        assert answer.status_code == 200, answer.text
        entries = answer.json()["entries"]
        assert [(e["type"], e.get("feedback_id") or e["id"]) for e in entries] == [
            ("feedback", earlier.id),
            ("moment", earlier.id),  # stored fourth: the customer's third contact in 30 days
            ("feedback", order.id),
            ("moment", order.id),
            ("feedback", complaint.id),
            ("feedback", later.id),
        ]
        assert entries[4]["stage"] == "pay" and entries[4]["severity"] == "high"
        assert entries[4]["sentiment"] == "negative"
        assert [e["moment_id"] for e in entries if e["type"] == "moment"] == ["third_contact_30d", "first_order"]
        assert len(entries[5]["text"]) == 280

        paged: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            body = (await client.get("/v1/customers/c-9/timeline", params=params, headers=READ)).json()
            paged += body["entries"]
            cursor = body["next"]
            if not cursor:
                break
        assert paged == entries

        empty = (await client.get("/v1/customers/nobody/timeline", headers=READ)).json()
        assert empty["entries"] == [] and empty["next"] is None
