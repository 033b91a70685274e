"""Ask the customer: follow-ups after a resolution, and replies that raise (or not) the alert's agreed share."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability.models import Alert, FeedbackItem, FollowUp, OutboxEntry
from services.accountability.service import change_alert, process_batch
from shared.journey import JourneyMap
from shared.models import ClassifiedFeedback
from shared.settings import KafkaSettings
from tests.accountability.factories import MovableClock, classified
from tests.accountability.harness import OPERATOR, READ, eventually, produce, read_topic, running, settings_for

TOPIC = "t.cx.alerts"
FOLLOWUPS = "t.cx.followups"


def _store(engine: Engine, journey: JourneyMap, items: list[ClassifiedFeedback], clock: MovableClock) -> None:
    with Session(engine, expire_on_commit=False) as session:
        process_batch(session=session, journey=journey, items=items, now=clock(), alerts_topic=TOPIC)
        session.commit()


def _alert(engine: Engine) -> Alert:
    with Session(engine) as session:
        return session.execute(select(Alert).where(Alert.rule_id == "negative_share")).scalars().one()  # type: ignore[arg-type]


def _complaints(clock: MovableClock) -> list[ClassifiedFeedback]:
    at = clock() - timedelta(minutes=5)
    # c-1 complained three times (asked once, about the worst), c-2 once, and 18 complaints carry no customer id
    items = [classified(stage="pay", customer="c-1", score=s, at=at, text=f"charged {s}") for s in (-0.3, -0.9, -0.5)]
    items.append(classified(stage="pay", customer="c-2", at=at))
    items += [classified(stage="pay", at=at) for _ in range(18)]
    return items


def test_a_resolution_asks_each_customer_behind_the_alert_once(engine: Engine, journey: JourneyMap) -> None:
    clock = MovableClock()
    _store(engine, journey, _complaints(clock), clock)
    alert = _alert(engine)
    with Session(engine, expire_on_commit=False) as session:
        change_alert(
            session=session, journey=journey, alert_id=alert.id, action="resolve", by="ann", now=clock(),
            alerts_topic=TOPIC, code="fixed", note="refunds reversed", followups_topic=FOLLOWUPS,
        )  # fmt: skip
        session.commit()
        asked = {f.customer_id: f for f in session.execute(select(FollowUp)).scalars()}
        rows = [r for r in session.execute(select(OutboxEntry)).scalars() if r.transition == "followup"]
    assert set(asked) == {"c-1", "c-2"}
    with Session(engine) as session:  # c-1 is asked about their most negative complaint
        assert session.get(FeedbackItem, asked["c-1"].feedback_id).text == "charged -0.9"  # type: ignore[union-attr]
    assert {r.target for r in rows} == {FOLLOWUPS} and len(rows) == 2
    assert all(r.event_type == "io.journeyline.followup.requested" for r in rows)
    assert {r.payload["reply_with"]["metadata"]["followup_of"] for r in rows} == {f.id for f in asked.values()}
    assert _alert(engine).details["followups"] == {"requested": 2, "answered": 0, "agreed": 0, "agreed_share": None}


def test_replies_count_toward_the_agreed_share(engine: Engine, journey: JourneyMap) -> None:
    clock = MovableClock()
    _store(engine, journey, _complaints(clock), clock)
    alert = _alert(engine)
    with Session(engine, expire_on_commit=False) as session:
        change_alert(
            session=session, journey=journey, alert_id=alert.id, action="resolve", by="ann", now=clock(),
            alerts_topic=TOPIC, code="fixed", note="refunds reversed", followups_topic=FOLLOWUPS,
        )  # fmt: skip
        session.commit()
        asked = {f.customer_id: f.id for f in session.execute(select(FollowUp)).scalars()}
    clock.advance(hours=1)

    def reply(customer: str, ref: str, label: str, **kw: object) -> ClassifiedFeedback:
        return classified(
            stage="pay",
            customer=customer,
            label=label,
            at=clock(),
            metadata={"followup_of": ref},
            **kw,  # type: ignore[arg-type]
        )

    _store(
        engine,
        journey,
        [
            reply("c-3", asked["c-1"], "positive"),  # someone else answering c-1's question: not counted
            reply("c-1", asked["c-1"], "positive"),
            reply("c-1", asked["c-1"], "negative"),  # a second answer to the same question: not counted
            reply("c-2", "no-such-followup", "negative"),
        ],
        clock,
    )
    assert _alert(engine).details["followups"] == {"requested": 2, "answered": 1, "agreed": 1, "agreed_share": 1.0}
    _store(engine, journey, [reply("c-2", asked["c-2"], "neutral", scores={"csat": 2})], clock)  # CSAT 2: not fixed
    assert _alert(engine).details["followups"] == {"requested": 2, "answered": 2, "agreed": 1, "agreed_share": 0.5}


async def test_followups_reach_the_topic_and_a_reply_through_the_stream_is_counted(
    kafka: KafkaSettings, sqlite_url: str
) -> None:
    clock = MovableClock()
    async with running(settings_for(kafka, sqlite_url), clock) as (runtime, client):
        await produce(kafka, _complaints(clock))

        async def opened() -> list[dict[str, object]]:
            return (await client.get("/v1/alerts", params={"rule": "negative_share"}, headers=READ)).json()  # type: ignore[no-any-return]

        (alert,) = await eventually(opened, what="negative-share alert")
        refused = await client.post(f"/v1/alerts/{alert['id']}/resolve", json={"note": "x"}, headers=OPERATOR)
        assert refused.status_code == 422 and "code" in refused.json()["detail"]
        done = await client.post(
            f"/v1/alerts/{alert['id']}/resolve", json={"code": "fixed", "note": "refunds reversed"}, headers=OPERATOR
        )
        assert done.status_code == 200 and done.json()["status"] == "resolved_pending_verification"
        asked = await read_topic(kafka, runtime.topics.followups, want=2)
        assert {e.type for e in asked} == {"io.journeyline.followup.requested"}
        question = next(e.data for e in asked if e.data["customer_id"] == "c-2")
        answer = classified(
            stage="pay", customer="c-2", label="positive", at=clock(), metadata={"followup_of": question["id"]}
        )
        await produce(kafka, [answer])

        async def agreed() -> bool:
            body = (await client.get(f"/v1/alerts/{alert['id']}", headers=READ)).json()
            return body["details"].get("followups", {}).get("agreed") == 1

        await eventually(agreed, what="the reply counted")
        team = (await client.get("/v1/teams/billing/accountability", params={"window": "24h"}, headers=READ)).json()
        assert "pay" in team["accountable_for"]
        assert team["resolutions"]["followups_answered"] == 1 and team["resolutions"]["agreed_share"] == 1.0
        assert (await client.get("/v1/teams/nobody/accountability", headers=READ)).status_code == 404
