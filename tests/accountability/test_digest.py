"""Weekly digests and shout-outs: composition from plain figures, reading a week from the store, and an e-mail
delivered through the outbox and the dispatcher to a local SMTP server."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability import digest
from services.accountability.delivery import Dispatcher
from services.accountability.digest_figures import (
    AlertFigures,
    DigestFigures,
    ShoutOut,
    StageFigures,
    ThemeFigure,
    alert_figures,
    find_shoutouts,
)
from services.accountability.digest_text import compose
from services.accountability.messages import email_message
from services.accountability.migrate import upgrade
from services.accountability.models import Alert, DigestRun, OutboxEntry
from services.accountability.ownership import seed, upsert_team
from services.accountability.service import process_batch
from services.accountability.settings import AccountabilitySettings
from services.accountability.themes import run_job
from services.cli.embedded import free_port
from shared.db import make_engine
from shared.journey import JourneyMap, load_journey_map
from shared.settings import DEFAULT_JOURNEY_MAP
from tests.accountability.factories import T0, classified
from tests.accountability.receiver import WebhookReceiver

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
END = START + timedelta(days=7)


@pytest.fixture
def journey() -> JourneyMap:
    return load_journey_map(DEFAULT_JOURNEY_MAP)


def _figures(**overrides: Any) -> DigestFigures:
    base: dict[str, Any] = {
        "audience": "billing",
        "title": "Billing & finance operations",
        "week": "2026-W46",
        "start": START,
        "end": END,
        "stages": [
            StageFigures(
                stage="pay",
                name="Pay",
                role="accountable",
                health="red",
                health_reason="negative share 40% above 25%",
                volume=120,
                negative_share=0.4,
                previous_volume=80,
                previous_negative_share=0.2,
                direction="worsening",
                nps=-12.0,
            ),
            StageFigures(stage="buy", name="Buy", role="contributing", health="green", volume=30),
        ],
        "alerts": AlertFigures(
            open=2, opened=3, acknowledged=2, reopened=1, verified=4, median_time_to_ack_s=750, titles=("Refunds",)
        ),
        "themes": [ThemeFigure(stage="pay", label="double charge", volume=42, quotes=("charged twice <b>again</b>",))],
        "shoutouts": [
            ShoutOut("i1", "pay", "agent", "Maria", "billing", "Thanks to Maria the refund came in a day"),
        ],
    }
    return DigestFigures(**{**base, **overrides})


# ----------------------------------------------------------------------------------------------------------------
# Composition


def test_the_digest_shows_stages_health_changes_alerts_ack_time_themes_and_shoutouts() -> None:
    out = compose(_figures())
    assert out.subject.startswith("[Journeyline] Weekly digest 2026-W46 - Billing & finance operations")
    assert "2 stages (1 red), 2 open alerts" in out.subject
    text = out.text
    assert "Pay [RED, accountable] - negative share 40% above 25%" in text
    assert "volume 80 -> 120 (+50%)" in text
    assert "negative share 20% -> 40% (worsening)" in text
    assert "NPS -12" in text
    assert "Buy [GREEN, contributing]: volume 30 (none the week before)" in text
    assert "Open now: 2; opened this week: 3; acknowledged: 2" in text
    assert "Reopened (fix did not hold): 1; verified (fix held): 4" in text
    assert "Median time to acknowledge: 12m" in text
    assert "double charge (pay, 42 items)" in text
    assert "\u201ccharged twice <b>again</b>\u201d" in text
    assert "Maria (agent, routed to billing): \u201cThanks to Maria the refund came in a day\u201d" in text
    # HTML: the same, escaped (a customer's words are never markup)
    assert "<h2>Shout-outs</h2>" in out.html and "charged twice &lt;b&gt;again&lt;/b&gt;" in out.html
    assert "<b>again</b>" not in out.html
    # Slack: a header and one section per part, escaped for Slack
    kinds = [b["type"] for b in out.slack["blocks"]]
    assert kinds == ["header", "section", "section", "section", "section"]
    themes_block = out.slack["blocks"][3]["text"]["text"]
    assert themes_block.startswith("*Top themes*") and "&lt;b&gt;again&lt;/b&gt;" in themes_block


def test_an_empty_week_says_so() -> None:
    out = compose(_figures(stages=[], alerts=AlertFigures(), themes=[], shoutouts=[]))
    assert "No themes this week." in out.text and "No shout-outs this week." in out.text
    assert "Median time to acknowledge: n/a" in out.text


def test_leadership_sees_shoutouts_per_team() -> None:
    out = compose(_figures(audience="leadership", title="Leadership", shoutout_counts={"billing": 3, "sales": 5}))
    assert "Per team: sales: 5, billing: 3" in out.text


def test_alert_figures_count_the_week_only() -> None:
    inside, before = START + timedelta(days=1), START - timedelta(days=3)
    rows = [
        {"status": "open", "title": "A", "opened_at": inside, "acknowledged_at": None, "details": {}},
        {  # acknowledged after 10 minutes
            "status": "acknowledged",
            "title": "B",
            "opened_at": inside,
            "acknowledged_at": inside + timedelta(minutes=10),
            "details": {},
        },
        {  # opened last week, acknowledged this week after 30 minutes... of last week: 3 days
            "status": "resolved_pending_verification",
            "title": "C",
            "opened_at": before,
            "acknowledged_at": START + timedelta(minutes=1),
            "details": {},
        },
        {  # reopened twice, once this week
            "status": "open",
            "title": "D",
            "opened_at": before,
            "acknowledged_at": None,
            "details": {"reopened": [{"at": before.isoformat()}, {"at": (inside + timedelta(hours=2)).isoformat()}]},
        },
        {  # verified this week; another verified last week
            "status": "verified",
            "title": "E",
            "opened_at": before,
            "acknowledged_at": before,
            "details": {"verification": {"verdict": "held", "at": inside.isoformat()}},
        },
        {
            "status": "verified",
            "title": "F",
            "opened_at": before,
            "acknowledged_at": before,
            "details": {"verification": {"verdict": "held", "at": before.isoformat()}},
        },
    ]
    figures = alert_figures(rows, start=START, end=END)
    assert (figures.open, figures.opened, figures.acknowledged) == (3, 2, 2)
    assert (figures.reopened, figures.verified) == (1, 1)
    ack_c = (START + timedelta(minutes=1) - before).total_seconds()
    assert figures.median_time_to_ack_s == round((600 + ack_c) / 2, 1)
    assert figures.titles[0] in ("A", "B") and set(figures.titles) == {"A", "B", "D"}


def _item(text: str, *, stage: str = "pay", label: str = "positive", **metadata: str) -> dict[str, Any]:
    return {"id": text[:20], "stage": stage, "text": text, "sentiment_label": label, "metadata": metadata}


def test_shoutouts_name_an_agent_a_team_or_a_touchpoint_and_go_to_that_team(journey: JourneyMap) -> None:
    teams = {t.id: t.name for t in journey.teams}
    accountable = {o.stage: o.accountable for o in journey.ownership}
    items = [
        _item("Lovely chat, sorted in minutes", stage="get_help", agent_name="Priya Shah"),
        _item("Thanks to Tom the refund was quick", stage="pay"),
        _item("Kudos to the Retention team for the fair offer", stage="pay"),
        _item("The Customer care people were brilliant", stage="use"),
        _item("Courier was early and polite", stage="unassigned"),
        _item("Great app, no crashes since the update", stage="use"),
        _item("Thanks to Tom", stage="pay", label="negative"),  # not positive: no shout-out
        _item("Good stuff overall", stage="pay"),  # names nobody
        _item("Great product, love it", stage="discover"),  # "product" is a word here, not the team
        _item("Agent Sam helped", stage="get_help", agent_id="a-77", team="billing"),
    ]
    found = {s.item_id: s for s in find_shoutouts(items, journey=journey, teams=teams, accountable=accountable)}
    assert len(found) == 7
    priya = found["Lovely chat, sorted "]
    assert (priya.kind, priya.named, priya.team) == ("agent", "Priya Shah", "customer-care")
    tom = found["Thanks to Tom the re"]
    assert (tom.kind, tom.named, tom.team) == ("agent", "Tom", "billing")
    retention = found["Kudos to the Retenti"]
    assert (retention.kind, retention.named, retention.team) == ("team", "Retention", "retention")
    care = found["The Customer care pe"]
    assert (care.kind, care.team) == ("team", "customer-care")
    courier = found["Courier was early an"]
    assert (courier.kind, courier.named, courier.team) == ("touchpoint", "Onboard", "fulfilment")
    app = found["Great app, no crashe"]
    assert (app.kind, app.named, app.team) == ("touchpoint", "Use", "product")
    sam = found["Agent Sam helped"]
    assert (sam.kind, sam.named, sam.team) == ("agent", "a-77", "billing")


def test_digest_time_and_week_follow_the_timezone() -> None:
    monday_7_utc = datetime(2026, 11, 9, 7, 30, tzinfo=UTC)  # 08:30 in Berlin
    assert not digest.due(monday_7_utc, weekday=1, hour=8, tz="UTC")
    assert digest.due(monday_7_utc, weekday=1, hour=8, tz="Europe/Berlin")
    assert digest.due(monday_7_utc + timedelta(days=2), weekday=1, hour=8, tz="UTC")  # missed Monday: later is fine
    sunday_late = datetime(2026, 11, 8, 23, 30, tzinfo=UTC)
    assert digest.iso_week(sunday_late) == "2026-W45"
    assert digest.iso_week(sunday_late, "Europe/Berlin") == "2026-W46"


# ----------------------------------------------------------------------------------------------------------------
# From the store, through the outbox, to an SMTP server

NOW = T0 + timedelta(hours=2)


@pytest.fixture
def engine(sqlite_url: str, journey: JourneyMap) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    with Session(engine) as session:
        seed(session=session, journey=journey, now=T0)
        upsert_team(
            session=session,
            team_id="billing",
            name=None,
            escalation=None,
            receivers=[
                {"type": "email", "address": "billing-leads@example.test"},
                {"type": "webhook", "url": "http://127.0.0.1:9/hook"},  # alerts only: no digest
            ],
            by="test",
            at=T0,
        )
        session.commit()
    yield engine
    engine.dispose()


def _fill(engine: Engine, journey: JourneyMap) -> None:
    items = [classified(stage="pay", text=f"charged twice for order {i}") for i in range(25)]
    items += [
        classified(stage="pay", label="positive", text="Thanks to Maria the refund came back in a day"),
        classified(stage="get_help", label="positive", text="The billing team fixed my invoice <quickly>"),
        classified(stage="buy", label="positive", text="Checkout was smooth", metadata={"agent_name": "Lee"}),
    ]
    with Session(engine, expire_on_commit=False) as session:
        process_batch(session=session, journey=journey, items=items, now=T0, alerts_topic="t.alerts")
        session.commit()
        alert = session.execute(select(Alert).where(Alert.stage == "pay")).scalars().one()  # type: ignore[arg-type]
        alert.status, alert.acknowledged_at, alert.acknowledged_by = "acknowledged", T0 + timedelta(minutes=5), "x"
        session.add(alert)
        session.commit()
        run_job(session=session, journey=journey, now=NOW, alerts_topic="t.alerts", windows=("7d",))
        session.execute(delete(OutboxEntry))  # the alerts' own notifications are not under test here
        session.commit()


def _enqueue(engine: Engine, journey: JourneyMap, **kw: Any) -> dict[str, int]:
    with Session(engine) as session:
        added = digest.enqueue_digests(
            session=session, journey=journey, now=NOW, leadership_emails="cx-board@example.test", **kw
        )
        session.commit()
        return added


def test_digests_are_queued_once_a_week_per_audience(engine: Engine, journey: JourneyMap) -> None:
    _fill(engine, journey)
    first = _enqueue(engine, journey)
    assert first == {"billing": 1, "leadership": 1}  # other teams have no e-mail or Slack receiver
    assert _enqueue(engine, journey) == {"billing": 0, "leadership": 0}  # a restart sends nothing twice
    assert _enqueue(engine, journey, only="billing", force=True) == {"billing": 1}  # "send now" does
    with Session(engine) as session:
        rows = list(session.execute(select(OutboxEntry).where(OutboxEntry.transition == "digest")).scalars())  # type: ignore[arg-type]
        runs = {(r.audience, r.week): r.rows for r in session.execute(select(DigestRun)).scalars()}
    assert runs == {("billing", "2026-W45"): 2, ("leadership", "2026-W45"): 1}
    billing = [r for r in rows if r.team == "billing"]
    assert {r.receiver for r in rows} == {"email"} and len(billing) == 2
    payload = billing[0].payload
    assert billing[0].target == "billing-leads@example.test" and payload["to"] == ["billing-leads@example.test"]
    assert "Pay [" in payload["text"] and "accountable" in payload["text"]
    # the negative-share alert (acknowledged after 5 minutes) and the theme job's emerging theme on pay
    assert "Open now: 2; opened this week: 2; acknowledged: 1" in payload["text"]
    assert "Charged twice (pay, 25 items)\n    \u201ccharged twice for order" in payload["text"]
    assert "Median time to acknowledge: 5m" in payload["text"]
    assert "Maria (agent, routed to billing)" in payload["text"]
    assert "Billing & finance operations (team, routed to billing)" in payload["text"]
    assert "Lee" not in payload["text"]  # the buy stage's agent goes to sales, not billing
    leadership = next(r for r in rows if r.team == "leadership").payload["text"]
    assert "Lee (agent, routed to sales)" in leadership and "Per team:" in leadership


def test_once_the_weeks_digests_are_out_a_check_reads_nothing_of_the_week(
    engine: Engine, journey: JourneyMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(engine, journey)
    reads: list[datetime] = []
    read_week = digest.read_week

    def counted(**kw: Any) -> digest.WeekData:
        reads.append(kw["now"])
        return read_week(**kw)

    monkeypatch.setattr(digest, "read_week", counted)
    assert _enqueue(engine, journey, only="billing") == {"billing": 1}
    assert len(reads) == 1
    assert _enqueue(engine, journey) == {"billing": 0, "leadership": 1}  # leadership has not had it: read again
    assert len(reads) == 2
    assert _enqueue(engine, journey) == {"billing": 0, "leadership": 0}  # every audience has: nothing read
    assert _enqueue(engine, journey, only="leadership") == {"leadership": 0}
    assert len(reads) == 2
    assert _enqueue(engine, journey, only="billing", force=True) == {"billing": 1}  # "send now" reads the week
    assert len(reads) == 3


class _Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


async def test_the_digest_email_reaches_an_smtp_server_through_the_outbox(
    engine: Engine, journey: JourneyMap, smtp: tuple[_Inbox, int]
) -> None:
    inbox, port = smtp
    _fill(engine, journey)
    _enqueue(engine, journey, only="billing")
    settings = AccountabilitySettings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_from="journeyline@example.test", smtp_timeout_s=5
    )
    dispatcher = Dispatcher(engine=engine, producer=None, settings=settings, clock=lambda: NOW)  # type: ignore[arg-type]
    try:
        assert await dispatcher.dispatch_once() == 1
    finally:
        await dispatcher.http.aclose()
    with Session(engine) as session:
        row = session.execute(select(OutboxEntry).where(OutboxEntry.transition == "digest")).scalars().one()  # type: ignore[arg-type]
        assert (row.status, row.attempts, row.last_error) == ("delivered", 1, None)
    assert len(inbox.envelopes) == 1
    envelope = inbox.envelopes[0]
    assert envelope.mail_from == "journeyline@example.test"
    assert envelope.rcpt_tos == ["billing-leads@example.test"]
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"].startswith("[Journeyline] Weekly digest 2026-W45 - Billing & finance operations")
    assert message["To"] == "billing-leads@example.test" and message["Message-ID"].endswith("@journeyline>")
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = message.get_body(("plain",)), message.get_body(("html",))
    assert text_part is not None and html_part is not None
    text, html = text_part.get_content(), html_part.get_content()
    assert "Stages, health and what changed" in text and "Maria (agent, routed to billing)" in text
    assert "Median time to acknowledge: 5m" in text
    assert "<h2>Shout-outs</h2>" in html and "fixed my invoice &lt;quickly&gt;" in html


async def test_an_unreachable_smtp_server_is_retried_not_raised(engine: Engine, journey: JourneyMap) -> None:
    _fill(engine, journey)
    _enqueue(engine, journey, only="billing")
    settings = AccountabilitySettings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_timeout_s=1)
    dispatcher = Dispatcher(engine=engine, producer=None, settings=settings, clock=lambda: NOW)  # type: ignore[arg-type]
    try:
        assert await dispatcher.dispatch_once() == 1
    finally:
        await dispatcher.http.aclose()
    with Session(engine) as session:
        row = session.execute(select(OutboxEntry).where(OutboxEntry.transition == "digest")).scalars().one()  # type: ignore[arg-type]
    assert row.status == "pending" and row.attempts == 1 and row.next_attempt_at > NOW
    assert row.last_error and "Connection" in row.last_error


async def test_without_an_smtp_server_configured_email_is_refused_and_retried(
    engine: Engine, journey: JourneyMap
) -> None:
    _fill(engine, journey)
    _enqueue(engine, journey, only="billing")
    dispatcher = Dispatcher(engine=engine, producer=None, settings=AccountabilitySettings(), clock=lambda: NOW)  # type: ignore[arg-type]
    try:
        await dispatcher.dispatch_once()
    finally:
        await dispatcher.http.aclose()
    with Session(engine) as session:
        row = session.execute(select(OutboxEntry).where(OutboxEntry.transition == "digest")).scalars().one()  # type: ignore[arg-type]
    assert row.status == "pending" and "no SMTP server configured" in (row.last_error or "")


def test_an_alert_row_sent_by_email_reads_as_a_summary() -> None:
    payload = {
        "transition": "escalated",
        "title": "Refunds\r\nBcc: x@evil.test",
        "stage": "pay",
        "rule_id": "r1",
        "count": 3,
        "owners": {"accountable": "billing", "contributing": []},
        "evidence": {"examples": [{"channel": "chat", "severity": "high", "text": "where is my refund"}]},
    }
    message = email_message(payload, sender="j@example.test", to="oncall@example.test", key="alert:1:2:escalated")
    assert message["Subject"] == "[Journeyline] ESCALATED: Refunds Bcc: x@evil.test (stage pay)"
    assert message["To"] == "oncall@example.test" and message.get_content_type() == "text/plain"
    assert "Accountable: billing" in message.get_content() and "where is my refund" in message.get_content()


def test_send_now_queues_again_and_is_audited(engine: Engine, journey: JourneyMap) -> None:
    from types import SimpleNamespace

    from services.accountability.api import send_digests
    from services.accountability.ownership import audit_log
    from shared.http import Problem

    _fill(engine, journey)
    _enqueue(engine, journey)  # this week's digests went out already
    notified: list[bool] = []
    runtime = SimpleNamespace(
        settings=AccountabilitySettings(digest_leadership_emails="cx-board@example.test"),
        clock=lambda: NOW,
        journey=journey,
        dispatcher=SimpleNamespace(notify=lambda: notified.append(True)),
    )
    with Session(engine) as session:
        answer = send_digests(runtime=runtime, session=session, actor="sam (admin)", audience="billing")  # type: ignore[arg-type]
        assert answer == {"queued": {"billing": 1}} and notified == [True]
        entry = audit_log(session=session, subject="digest:billing", limit=1)[0]
        assert (entry.actor, entry.action, entry.after) == ("sam (admin)", "digest.send", {"queued": {"billing": 1}})
        with pytest.raises(Problem):
            send_digests(runtime=runtime, session=session, actor="sam (admin)", audience="nobody")  # type: ignore[arg-type]


async def test_the_leadership_digest_reaches_slack_through_the_outbox(engine: Engine, journey: JourneyMap) -> None:
    receiver = WebhookReceiver(free_port()).start()
    try:
        _fill(engine, journey)
        _enqueue(engine, journey, only="leadership", leadership_slack=receiver.url("/slack/leadership"))
        settings = AccountabilitySettings(
            receiver_allow_hosts="127.0.0.1", smtp_host="127.0.0.1", smtp_port=free_port()
        )
        dispatcher = Dispatcher(engine=engine, producer=None, settings=settings, clock=lambda: NOW)  # type: ignore[arg-type]
        try:
            assert await dispatcher.dispatch_once() == 2  # the leadership e-mail (no server: retried) and Slack
        finally:
            await dispatcher.http.aclose()
    finally:
        receiver.stop()
    assert len(receiver.received) == 1
    message = receiver.received[0].json
    assert message["text"].startswith("[Journeyline] Weekly digest 2026-W45 - Leadership")
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert sections[0].startswith("*Stages, health and what changed*") and "Pay [RED" in sections[0]
    assert "charged twice" in sections[2]  # a top theme with its quote
    assert "fixed my invoice &lt;quickly&gt;" in sections[3]  # customers' words cannot format or mention


def test_the_service_queues_the_digests_only_once_their_time_has_come(engine: Engine, journey: JourneyMap) -> None:
    from types import SimpleNamespace

    from services.accountability.runtime import Runtime

    _fill(engine, journey)
    clock = [datetime(2026, 11, 9, 7, 59, tzinfo=UTC)]  # Monday of 2026-W46, a minute early
    runtime = SimpleNamespace(
        settings=AccountabilitySettings(digest_leadership_emails="cx-board@example.test"),
        clock=lambda: clock[0],
        engine=engine,
        journey=journey,
    )
    assert Runtime._send_digests(runtime, False, None) == {}  # type: ignore[arg-type]
    clock[0] += timedelta(minutes=1)
    assert Runtime._send_digests(runtime, False, None) == {"billing": 1, "leadership": 1}  # type: ignore[arg-type]
    clock[0] += timedelta(hours=5)
    assert Runtime._send_digests(runtime, False, None) == {"billing": 0, "leadership": 0}  # type: ignore[arg-type]
    clock[0] += timedelta(days=7)  # the next week
    assert Runtime._send_digests(runtime, False, None) == {"billing": 1, "leadership": 1}  # type: ignore[arg-type]
