"""Alerts that say who and why: owners and evidence on every alert, the items behind it, its delivery history.

Domain tests run on a real database (SQLite and PostgreSQL); the service test runs the app on the real broker with
webhook receivers, one of them down."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability import evidence
from services.accountability.messages import slack_message
from services.accountability.models import Alert, FeedbackItem, OutboxEntry, columns
from services.accountability.outbox import alert_payload, delivery_states
from services.accountability.service import process_batch
from services.cli.embedded import free_port
from shared.journey import JourneyMap
from shared.models import Channel, ClassifiedFeedback
from shared.settings import KafkaSettings
from tests.accountability.factories import T0, MovableClock, classified, journey_event
from tests.accountability.harness import ADMIN, READ, eventually, produce, read_topic, running, settings_for
from tests.accountability.receiver import WebhookReceiver

TOPIC = "t.cx.alerts"
_F = columns(FeedbackItem)
SECRET = "hook-secret"


def item(
    *,
    stage: str = "pay",
    at: datetime = T0,
    text: str = "refund still missing after two weeks",
    source: str = "zendesk",
    channel: Channel = Channel.chat,
    **kw: Any,
) -> ClassifiedFeedback:
    return classified(stage=stage, at=at, text=text, **kw).model_copy(update={"source": source, "channel": channel})


def burst(end: datetime, n: int = 24) -> list[ClassifiedFeedback]:
    """`n` negative pay items in the half hour before `end`: two thirds by chat from zendesk, the rest by email."""
    texts = ["refund still missing after two weeks", "charged twice for the refund", "Rückerstattung fehlt noch"]
    return [
        item(
            at=end - timedelta(minutes=1 + i),
            text=texts[i % 3],
            source="zendesk" if i % 3 else "trustpilot",
            channel=Channel.chat if i % 3 else Channel.email,
        )
        for i in range(n)
    ]


# -- the summary's parts -------------------------------------------------------------------------------------------


def test_top_terms_count_each_text_once_skip_stopwords_and_keep_any_script() -> None:
    texts = ["Refund refund REFUND missing", "the refund is late", "Zahlung fehlgeschlagen, Rückerstattung", None, ""]
    terms = {t["term"]: t["count"] for t in evidence.top_terms(texts)}
    assert terms["refund"] == 2  # once per text, case folded
    assert "the" not in terms and "is" not in terms  # stopwords
    assert terms["rückerstattung"] == 1 and terms["fehlgeschlagen"] == 1
    assert evidence.tokens("支付失败 了 12345 ok a_b") == ["支付失败", "了"]  # numbers, short ASCII, `_` dropped
    assert evidence.top_terms(["x " * 10_000]) == []  # one letter: nothing to count


def test_examples_are_shortened_and_slack_text_is_escaped() -> None:
    assert evidence.shorten("a  b\n c") == "a b c"
    long = evidence.shorten("word " * 100)
    assert long is not None and len(long) <= evidence.EXAMPLE_CHARS and long.endswith("…")
    payload = {
        "transition": "opened",
        "title": "Negative share 90% on pay",
        "stage": "pay",
        "rule_id": "negative_share",
        "count": 30,
        "owners": {"accountable": "billing", "contributing": ["customer-care", "product"]},
        "evidence": {
            "total": 30,
            "top_terms": [{"term": "refund", "count": 20}, {"term": "missing", "count": 12}],
            "examples": [{"id": "x", "text": "<!channel> refund & more", "channel": "chat", "severity": "high"}],
        },
    }
    text = slack_message(payload)["text"]
    assert "Accountable: billing; contributing: customer-care, product" in text
    assert "Top terms: refund, missing (30 items)" in text
    assert "&lt;!channel&gt; refund &amp; more" in text and "<!channel>" not in text
    assert "Accountable: nobody" in slack_message({"title": "t"})["text"]  # an alert without owners or evidence


def test_a_rules_window_is_its_parameter_or_its_kinds_default() -> None:
    assert evidence.rule_window("negative_share", {}) == timedelta(hours=1)
    assert evidence.rule_window("volume_spike", {"window": "2h"}) == timedelta(hours=2)
    assert evidence.rule_window("negative_share", {"window": 600}) == timedelta(minutes=10)
    assert evidence.rule_window("emerging_theme", {}) == timedelta(days=1)  # that kind's own default
    assert evidence.window_bounds("negative_share", {}, T0) == (T0 - timedelta(hours=1), T0)


# -- on a real database ---------------------------------------------------------------------------------------------


def _process(engine: Engine, journey: JourneyMap, items: list[ClassifiedFeedback], now: datetime = T0) -> None:
    with Session(engine, expire_on_commit=False) as session:
        process_batch(session=session, journey=journey, items=items, now=now, alerts_topic=TOPIC)
        session.commit()


def _alert(engine: Engine, rule_id: str) -> Alert:
    with Session(engine, expire_on_commit=False) as session:
        return session.execute(select(Alert).where(columns(Alert).rule_id == rule_id)).scalars().one()


def _evidence_ids(engine: Engine, alert: Alert) -> list[str]:
    from services.accountability import search

    start, end, _ = evidence.scope(alert)
    query = search.FeedbackQuery(since=start, until=end)
    found: list[str] = []
    cursor = None
    with Session(engine) as session:
        while True:
            rows, cursor = search.page(
                session=session, query=query, limit=4, cursor=cursor, extra=evidence.clauses(alert)
            )
            found += [r.id for r in rows]
            if cursor is None:
                return found


def test_window_alert_records_its_window_and_a_summary_of_only_its_stages_items(
    engine: Engine, journey: JourneyMap
) -> None:
    old = [item(at=T0 - timedelta(days=3), text="ancient complaint about invoices") for _ in range(5)]
    other_stage = [item(stage="use", at=T0 - timedelta(minutes=5), text="app crashes on start") for _ in range(6)]
    future = [item(at=T0 + timedelta(minutes=30), text="from the future")]
    event = [
        classified(stage="pay", kind="journey_event", label="neutral", customer="c-1", at=T0 - timedelta(minutes=3))
    ]
    severe = item(at=T0 - timedelta(minutes=2), text="They took my money " * 30, severity="high", score=-0.95)
    inside = burst(T0)
    _process(engine, journey, old + other_stage + future + event)
    _process(engine, journey, [*inside, severe])

    alert = _alert(engine, "negative_share")
    assert (
        alert.details["window_start"] == "2026-11-02T11:00:00Z"
        and alert.details["window_end"] == "2026-11-02T12:00:00Z"
    )
    summary = alert.details["evidence"]
    assert summary["total"] == 25
    assert summary["by_source"] == {"zendesk": 17, "trustpilot": 8}
    assert summary["by_channel"] == {"chat": 17, "email": 8}
    terms = [t["term"] for t in summary["top_terms"]]
    assert terms[0] == "refund" and "rückerstattung" in terms and "app" not in terms and "ancient" not in terms
    examples = summary["examples"]
    assert len(examples) == 5 and examples[0]["id"] == severe.id and examples[0]["severity"] == "high"
    assert len(examples[0]["text"]) <= evidence.EXAMPLE_CHARS and {e["channel"] for e in examples} <= {"chat", "email"}
    in_window = {i.id for i in inside} | {severe.id}
    assert {e["id"] for e in examples} <= in_window

    listed = _evidence_ids(engine, alert)
    assert len(listed) == len(set(listed)) == 25 and set(listed) == in_window  # no other stage, nothing outside

    # the opened notification carries owners and evidence; `details` does not repeat the evidence
    with Session(engine) as session:
        opened = select(OutboxEntry).where(columns(OutboxEntry).transition == "opened")
        row = session.execute(opened).scalars().first()
        assert row is not None
        assert row.payload["owners"] == {"accountable": "billing", "contributing": ["customer-care", "product"]}
        assert row.payload["evidence"]["total"] == 25 and "evidence" not in row.payload["details"]


def test_a_window_summary_reads_its_newest_items_and_counts_from_the_index_alone(
    engine: Engine, journey: JourneyMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its cost does not grow with the window: the examples are the most severe of the newest `MAX_TEXTS` items
    (the ones the top terms come from), and the counts by source and channel are read from the stage index."""
    monkeypatch.setattr(evidence, "MAX_TEXTS", 20)
    older_and_worse = item(at=T0 - timedelta(minutes=50), text="the worst of the hour", severity="critical", score=-1)
    newest = burst(T0)  # 24 items in the last half hour
    worst_newest = item(at=T0 - timedelta(seconds=30), text="bad and recent", severity="high", score=-0.9)
    _process(engine, journey, [older_and_worse, *newest, worst_newest])
    summary = _alert(engine, "negative_share").details["evidence"]
    assert summary["total"] == 26  # every item of the window counted
    examples = [e["id"] for e in summary["examples"]]
    assert examples[0] == worst_newest.id and older_and_worse.id not in examples
    assert all(t["term"] != "worst" for t in summary["top_terms"])

    with Session(engine) as session:
        start, end = T0 - timedelta(hours=1), T0
        counts = (
            select(_F.source, _F.channel, func.count())
            .where(_F.stage == "pay", _F.kind != "journey_event", _F.occurred_at > start, _F.occurred_at <= end)
            .group_by(_F.source, _F.channel)
        )
        if engine.dialect.name == "sqlite":
            compiled = counts.compile(engine, compile_kwargs={"literal_binds": True})
            plan = " ".join(str(r[-1]) for r in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert "COVERING INDEX ix_acct_feedback_stage_occurred" in plan, plan
        else:
            definition = session.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_acct_feedback_stage_occurred'")
            ).scalar_one()
            assert "(stage, occurred_at, kind, source, channel)" in definition, definition


def test_a_moment_of_truths_evidence_is_the_contacts_that_made_it_whatever_their_stage(
    engine: Engine, journey: JourneyMap
) -> None:
    """The third contact in 30 days is `get_help`'s moment; a customer's three contacts about a bill are `pay`
    items. They are the alert's evidence: in its summary and in the items its owners page through."""
    contacts = [
        item(customer="c-bill", at=T0 - timedelta(days=d), text=f"still no refund, contact {3 - d}") for d in (2, 1, 0)
    ]
    _process(engine, journey, contacts)
    alert = _alert(engine, "moment_of_truth")
    assert alert.stage == "get_help"
    summary = alert.details["evidence"]
    assert summary["total"] >= 1 and contacts[-1].id in {e["id"] for e in summary["examples"]}
    assert contacts[-1].id in _evidence_ids(engine, alert)


def test_a_hundredth_orders_evidence_is_the_order_that_made_it(engine: Engine, journey: JourneyMap) -> None:
    orders = [journey_event(customer="c-100", at=T0 - timedelta(minutes=200 - i)) for i in range(100)]
    _process(engine, journey, orders)
    alert = _alert(engine, "moment_of_truth")
    assert alert.stage == "buy" and alert.details["evidence"]["total"] == 1
    assert _evidence_ids(engine, alert) == [orders[-1].id]


def test_the_summary_is_refreshed_at_most_once_a_minute_and_its_window_moves_with_it(
    engine: Engine, journey: JourneyMap
) -> None:
    _process(engine, journey, burst(T0))
    first = _alert(engine, "negative_share").details["evidence"]
    soon = T0 + timedelta(seconds=20)
    _process(engine, journey, [item(at=T0)], now=soon)  # 24 -> 25: not announced
    assert evidence.refresh_due(engine=engine, journey=journey, now=soon) == 0  # too soon
    alert = _alert(engine, "negative_share")
    assert alert.details["evidence"] == first and alert.details["window_end"] == "2026-11-02T12:00:00Z"
    later = T0 + timedelta(minutes=2)
    _process(engine, journey, [item(at=later)], now=later)
    # the consumer's batch does not read the window again (it would hold the store's write lock meanwhile)
    assert _alert(engine, "negative_share").details["evidence"] == first
    assert evidence.refresh_due(engine=engine, journey=journey, now=later) == 1  # the alert evaluator's job
    alert = _alert(engine, "negative_share")
    assert alert.details["evidence"]["total"] == 26 and alert.details["window_end"] == "2026-11-02T12:02:00Z"
    assert len(_evidence_ids(engine, alert)) == 26
    # not fired since its summary: nothing to refresh, however late
    assert evidence.refresh_due(engine=engine, journey=journey, now=later + timedelta(hours=1)) == 0


def _firing_since_its_summary(engine: Engine, journey: JourneyMap) -> datetime:
    _process(engine, journey, burst(T0))
    later = T0 + timedelta(minutes=2)
    _process(engine, journey, [item(at=later)], now=later)
    return later


def test_a_refresh_keeps_what_the_consumer_stored_while_it_read(
    engine: Engine, journey: JourneyMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = _firing_since_its_summary(engine, journey)
    before = _alert(engine, "negative_share")
    real, stored = evidence.summarize, later + timedelta(seconds=1)

    def summarize_while_the_consumer_stores(**kw: Any) -> dict[str, Any]:
        found = real(**kw)
        _process(engine, journey, [item(at=stored, text="refund gone")], now=stored)  # between read and write
        return found

    monkeypatch.setattr(evidence, "summarize", summarize_while_the_consumer_stores)
    assert evidence.refresh_due(engine=engine, journey=journey, now=later) == 1
    alert = _alert(engine, "negative_share")
    # the consumer's update stayed: its count, its time, its figures
    assert alert.count == before.count + 1 and alert.last_seen_at == stored
    assert before.details["volume"] == 25 and alert.details["volume"] == 26
    summary = alert.details["evidence"]
    assert summary["total"] == 25 and summary["computed_at"] == "2026-11-02T12:02:00Z"  # read before that item


def test_a_refresh_skips_an_alert_another_evaluator_refreshed_while_it_read(
    engine: Engine, journey: JourneyMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = _firing_since_its_summary(engine, journey)
    real, other = evidence.summarize, later + timedelta(seconds=5)

    def summarize_while_another_replica_refreshes(**kw: Any) -> dict[str, Any]:
        monkeypatch.setattr(evidence, "summarize", real)
        assert evidence.refresh_due(engine=engine, journey=journey, now=other) == 1
        return real(**kw)

    monkeypatch.setattr(evidence, "summarize", summarize_while_another_replica_refreshes)
    assert evidence.refresh_due(engine=engine, journey=journey, now=later) == 0
    assert _alert(engine, "negative_share").details["evidence"]["computed_at"] == "2026-11-02T12:02:05Z"


def test_item_alert_evidence_is_the_items_that_triggered_it(engine: Engine, journey: JourneyMap) -> None:
    calm = [item(label="positive", text="all good", at=T0 - timedelta(minutes=1)) for _ in range(3)]
    first = item(severity="critical", text="card charged five times", at=T0 - timedelta(minutes=1))
    _process(engine, journey, [*calm, first])
    second = item(severity="critical", text="fraud on my account", at=T0, channel=Channel.call, source="genesys")
    _process(engine, journey, [second, item(stage="use", severity="critical")], now=T0 + timedelta(seconds=5))
    alerts = {a.stage: a for a in _all(engine) if a.rule_id == "critical_item"}
    pay = alerts["pay"]
    assert pay.details["evidence_ids"] == [first.id, second.id]
    assert set(_evidence_ids(engine, pay)) == {first.id, second.id}
    # the summary was computed when it opened (one item); the count doubled (1 -> 2): recomputed with both
    assert pay.details["evidence"]["total"] == 2 and pay.details["evidence"]["by_channel"] == {"chat": 1, "call": 1}
    assert "window_start" not in pay.details["evidence"]


def test_forgetting_items_takes_them_out_of_recorded_evidence(engine: Engine, journey: JourneyMap) -> None:
    secret = item(severity="critical", text="my card 4111 was charged", customer="erase-me")
    other = item(severity="critical", text="double charge", at=T0 - timedelta(minutes=1))
    _process(engine, journey, [other, secret, *burst(T0)])
    with Session(engine) as session:
        assert evidence.forget_items(session=session, item_ids=[other.id], text_only=True) == 2
        session.commit()
    with Session(engine) as session:
        assert evidence.forget_items(session=session, item_ids=[secret.id]) == 2  # both alerts showed it
        session.commit()
        assert evidence.forget_items(session=session, item_ids=["nobody"]) == 0
    crit, share = _alert(engine, "critical_item"), _alert(engine, "negative_share")
    assert crit.details["evidence_ids"] == [other.id]
    for alert in (crit, share):
        examples = alert.details["evidence"]["examples"]
        assert secret.id not in {e["id"] for e in examples} and "4111" not in str(alert.details)
        assert next(e for e in examples if e["id"] == other.id)["text"] is None


def _all(engine: Engine) -> list[Alert]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.execute(select(Alert)).scalars())


def test_delivery_states_per_team_and_receiver_mask_slack_and_keep_the_last_result(engine: Engine) -> None:
    with Session(engine) as session:
        common = {"alert_id": "a-1", "event_type": "io.journeyline.alert.opened", "next_attempt_at": T0}
        rows = [
            OutboxEntry(dedupe_key="1", transition="opened", team="*", receiver="kafka", target=TOPIC, **common),
            OutboxEntry(
                dedupe_key="2",
                transition="opened",
                team="billing",
                receiver="slack",
                target="https://hooks.slack.com/services/T/B/secret",
                status="delivered",
                attempts=1,
                delivered_at=T0,
                created_at=T0,
                **common,
            ),
            OutboxEntry(
                dedupe_key="3",
                transition="opened",
                team="product",
                receiver="webhook",
                target="http://127.0.0.1:9/p",
                secret="s",
                attempts=3,
                last_error="HTTP 503",
                created_at=T0,
                **common,
            ),
        ]
        for row in rows:
            row.created_at = T0
        session.add_all(rows)
        session.commit()
        states = delivery_states(session=session, alert_id="a-1")
    assert [(s["team"], s["receiver"]) for s in states] == [
        ("*", "kafka"),
        ("billing", "slack"),
        ("product", "webhook"),
    ]
    slack, hook = states[1], states[2]
    assert slack["target"] == "https://hooks.slack.com/***" and slack["delivered_at"] == T0
    assert hook["attempts"] == 3 and hook["last_error"] == "HTTP 503" and hook["status"] == "pending"
    assert "secret" not in str(states)


def test_payload_of_an_alert_without_evidence_still_names_its_owners() -> None:
    alert = Alert(
        id="a",
        stage="pay",
        rule_id="r",
        rule_kind="negative_share",
        status="open",
        title="t",
        opened_at=T0,
        last_seen_at=T0,
        last_active_at=T0,
        details={"volume": 3},
    )
    payload = alert_payload(alert, "opened", accountable="billing", contributing=["product"])
    assert payload["owners"]["accountable"] == "billing" and payload["evidence"] is None
    assert payload["details"] == {"volume": 3}
    start, end, ids = evidence.scope(alert)  # recorded before evidence existed: the default window, last seen
    assert ids is None and end == T0 and start == T0 - timedelta(hours=1)


# -- the service: API, webhooks, Slack, cx.alerts, delivery history ------------------------------------------------


@pytest.mark.integration
async def test_alert_names_owners_and_evidence_everywhere_and_keeps_its_delivery_history(
    kafka: KafkaSettings, database_url: str
) -> None:
    receiver = WebhookReceiver(free_port()).start()
    dead = f"http://127.0.0.1:{free_port()}/care"  # nothing listens: deliveries fail and back off
    clock = MovableClock()
    try:
        async with running(settings_for(kafka, database_url), clock) as (_, client):
            receivers = {
                "billing": [
                    {"type": "webhook", "url": receiver.url("billing"), "secret": SECRET},
                    {"type": "slack", "url": receiver.url("slack/billing")},
                ],
                "customer-care": [{"type": "webhook", "url": dead, "secret": SECRET}],
                "product": [],
            }
            for team, hooks in receivers.items():
                response = await client.put(f"/v1/teams/{team}", json={"receivers": hooks}, headers=ADMIN)
                assert response.status_code == 200, response.text

            noise = [item(at=T0 - timedelta(days=3), text="ancient invoice") for _ in range(4)]
            noise += [item(stage="use", at=T0 - timedelta(minutes=5), text="app crashes") for _ in range(5)]
            noise += [item(at=T0 + timedelta(minutes=30), text="from the future")]
            critical = item(at=T0 - timedelta(minutes=3), severity="critical", text="charged five times")
            inside = burst(T0)
            await produce(kafka, noise)
            await eventually(lambda: _stored(client, noise[-1].id), what="the noise stored")
            await produce(kafka, [critical, *inside])

            def opened(rule: str) -> list[Any]:
                return [r for r in receiver.of(path="/billing", transition="opened") if r.json["rule_id"] == rule]

            await eventually(lambda: _truthy(opened("negative_share")), what="negative share alert at billing")
            hook = opened("negative_share")[0]
            assert hook.signed_with(SECRET)
            payload = hook.json
            assert payload["owners"] == {"accountable": "billing", "contributing": ["customer-care", "product"]}
            assert payload["role"] == "accountable" and payload["evidence"]["total"] >= 20
            assert payload["evidence"]["top_terms"] and 1 <= len(payload["evidence"]["examples"]) <= 5
            assert {"id", "text", "channel", "severity"} <= set(payload["evidence"]["examples"][0])
            alert_id = payload["id"]

            def slack_lines() -> list[str]:  # the critical alert's message may arrive first
                return [
                    r.json["text"] for r in receiver.of(path="/slack/billing") if "negative_share" in r.json["text"]
                ]

            await eventually(lambda: _truthy(slack_lines()), what="the Slack message of the negative share alert")
            line = slack_lines()[0]
            assert "Accountable: billing; contributing: customer-care, product" in line and "Top terms:" in line

            events = await read_topic(
                kafka, kafka.topics.alerts, want=2, until=lambda got: any(e.data["id"] == alert_id for e in got)
            )
            topic = next(e for e in events if e.data["id"] == alert_id)
            assert topic.data["owners"]["accountable"] == "billing" and topic.data["evidence"]["total"] >= 20

            async def history_shows_failure_and_success() -> dict[str, Any] | None:
                clock.advance(seconds=1)  # back-off runs on the service clock
                body = (await client.get(f"/v1/alerts/{alert_id}", headers=READ)).json()
                states = {(d["team"], d["receiver"]): d for d in body["deliveries"]}
                care, billing = states.get(("customer-care", "webhook")), states.get(("billing", "webhook"))
                if care and care["attempts"] >= 2 and billing and billing["delivered_at"]:
                    return body
                return None

            body = await eventually(history_shows_failure_and_success, what="a failing and a delivered receiver")
            states = {(d["team"], d["receiver"]): d for d in body["deliveries"]}
            care = states[("customer-care", "webhook")]
            assert care["status"] == "pending" and care["last_error"] and care["delivered_at"] is None
            assert states[("billing", "slack")]["target"] == f"http://127.0.0.1:{receiver.port}/***"
            assert states[("*", "kafka")]["target"] == kafka.topics.alerts
            assert body["owners"]["accountable"] == "billing" and body["evidence"]["by_channel"]
            assert "evidence" not in body["details"] and SECRET not in str(body)

            history = (await client.get(f"/v1/alerts/{alert_id}/deliveries", headers=READ)).json()
            assert {(d["transition"], d["team"], d["receiver"]) for d in history["items"]} >= {
                ("opened", "*", "kafka"),
                ("opened", "billing", "webhook"),
                ("opened", "billing", "slack"),
                ("opened", "customer-care", "webhook"),
            }
            delivered = next(d for d in history["items"] if d["team"] == "billing" and d["receiver"] == "webhook")
            assert delivered["status"] == "delivered" and delivered["delivered_at"] and delivered["attempts"] == 1
            first = (await client.get(f"/v1/alerts/{alert_id}/deliveries?limit=1", headers=READ)).json()
            assert len(first["items"]) == 1 and first["next_after"] == first["items"][0]["id"]
            rest = (
                await client.get(f"/v1/alerts/{alert_id}/deliveries?after={first['next_after']}", headers=READ)
            ).json()
            assert [d["id"] for d in first["items"] + rest["items"]] == [d["id"] for d in history["items"]]

            # a new item more than a minute later moves the window and refreshes the summary with every item
            clock.now = T0 + timedelta(minutes=2)
            late = item(at=clock.now - timedelta(seconds=1), text="refund missing again")
            await produce(kafka, [late])
            in_window = {i.id for i in inside} | {critical.id, late.id}

            async def refreshed() -> dict[str, Any] | None:
                found = (await client.get(f"/v1/alerts/{alert_id}", headers=READ)).json()
                return found if found["evidence"]["total"] == len(in_window) else None

            alert = await eventually(refreshed, what="the evidence refreshed")
            assert alert["evidence"]["window_end"].startswith("2026-11-02T12:02:00")
            assert alert["evidence"]["examples"][0]["id"] == critical.id  # most severe first

            listed, cursor, pages = [], None, 0
            while True:
                params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
                page = await client.get(f"/v1/alerts/{alert_id}/evidence", params=params, headers=READ)
                assert page.status_code == 200, page.text
                pages += 1
                assert all(i["stage"] == "pay" for i in page.json()["items"])
                listed += [i["id"] for i in page.json()["items"]]
                cursor = page.json()["next_cursor"]
                if cursor is None:
                    break
            assert pages == 4 and len(listed) == len(set(listed)) and set(listed) == in_window

            for params, status in [
                ({"cursor": "not-a-cursor"}, 422),
                ({"cursor": "W10"}, 422),
                ({"limit": 0}, 422),
                ({"limit": 501}, 422),
                ({"cursor": "c" * 201}, 422),
            ]:
                bad = await client.get(f"/v1/alerts/{alert_id}/evidence", params=params, headers=READ)
                assert bad.status_code == status, bad.text
                assert bad.headers["content-type"].startswith("application/problem+json")
            missing = await client.get("/v1/alerts/00000000-0000-0000-0000-000000000000/evidence", headers=READ)
            assert missing.status_code == 404
            assert (await client.get(f"/v1/alerts/{alert_id}/evidence")).status_code == 401

            listed_alerts = (await client.get("/v1/alerts", params={"stage": "pay"}, headers=READ)).json()
            by_rule = {a["rule_id"]: a for a in listed_alerts}
            assert by_rule["critical_item"]["owners"]["accountable"] == "billing"
            assert by_rule["critical_item"]["deliveries"] is None  # on the single alert only
            crit = await client.get(f"/v1/alerts/{by_rule['critical_item']['id']}/evidence", headers=READ)
            assert [i["id"] for i in crit.json()["items"]] == [critical.id]
    finally:
        receiver.stop()


async def _stored(client: Any, feedback_id: str) -> bool:
    return (await client.get(f"/v1/feedback/{feedback_id}", headers=READ)).status_code == 200


async def _truthy(value: Any) -> Any:
    return value


def test_an_announced_update_of_a_window_alert_carries_its_last_summary(engine: Engine, journey: JourneyMap) -> None:
    _process(engine, journey, burst(T0))
    first = _alert(engine, "negative_share").details["evidence"]
    later = T0 + timedelta(seconds=20)
    _process(engine, journey, [item(at=later) for _ in range(8)], now=later)  # count 24 -> 32: announced
    alert = _alert(engine, "negative_share")
    with Session(engine) as session:
        query = select(OutboxEntry).where(columns(OutboxEntry).alert_id == alert.id)
        updated = [r for r in session.execute(query).scalars() if r.transition == "updated"]
    # the store's batch did not read the window again: the announcement carries the summary it had
    assert alert.count == 32 and updated and all(r.payload["evidence"] == first for r in updated)
    assert alert.details["evidence"] == first
    assert evidence.refresh_due(engine=engine, journey=journey, now=T0 + timedelta(minutes=2)) == 1
    assert _alert(engine, "negative_share").details["evidence"]["total"] == 32
