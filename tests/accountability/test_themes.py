"""Themes within a stage and drivers across the journey: phrases, impact arithmetic, the job on SQLite and
PostgreSQL (planted themes, pinned identity, emerging alerts, erasure, corrections) and the endpoints."""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import event, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.accountability import theme_figures, theme_hours, theme_phrases, theme_process, theme_reads, themes
from services.accountability.migrate import upgrade
from services.accountability.models import Alert, FeedbackItem, OutboxEntry, ThemeHour, columns
from services.accountability.privacy import erase_customer, expire_text
from services.accountability.service import process_batch, relabel
from services.accountability.theme_figures import impact, leave_impact
from services.accountability.theme_phrases import item_themes, key_phrases, merge_phrases, pinned_of
from services.accountability.themes import JobOutcome, run_job
from shared.db import make_engine
from shared.journey import JourneyMap, load_journey_map
from shared.settings import DEFAULT_JOURNEY_MAP, KafkaSettings
from tests.accountability.factories import T0, MovableClock, classified, journey_event
from tests.accountability.harness import READ, eventually, produce, read_topic, running, settings_for

TOPIC = "t.cx.alerts"


# -- phrases ----------------------------------------------------------------------------------------------------


def test_key_phrases_prefer_two_content_words_then_single_words_and_ignore_stopwords_numbers_and_punctuation() -> None:
    assert key_phrases("The parcel never arrived, late delivery AGAIN!") == [
        "parcel never",
        "never arrived",
        "late delivery",  # not "arrived late": a comma ends a phrase
        "parcel",
        "never",
        "arrived",
        "late",
        "delivery",
    ]
    assert key_phrases("Order #48213 was charged twice") == ["charged twice", "order", "charged", "twice"]
    assert key_phrases("it is what it is") == []
    assert key_phrases("") == []


def test_key_phrases_are_unicode_aware_lower_case_and_bounded() -> None:
    assert key_phrases("Überweisung DOPPELT abgebucht")[:2] == ["überweisung doppelt", "doppelt abgebucht"]
    assert "überweisung" in key_phrases("ÜBERWEISUNG")
    assert key_phrases("Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ") == ["fullwidth text", "fullwidth", "text"]  # NFKC
    long = " ".join(f"word{chr(97 + i)}x alpha{chr(97 + i)}y" for i in range(26))
    phrases = key_phrases(long + " " + "z" * 200)
    assert len(phrases) <= theme_phrases.MAX_BIGRAMS + theme_phrases.MAX_UNIGRAMS
    assert all(len(p) <= theme_phrases.MAX_PHRASE_CHARS for p in phrases)


def test_pinned_themes_match_seed_phrases_on_word_boundaries() -> None:
    journey = load_journey_map(DEFAULT_JOURNEY_MAP)
    pay = journey.stage("pay")
    assert pinned_of("I was CHARGED   twice!!", pay) == ["pin:double_charge"]
    assert pinned_of("charged, and then twice more", pay) == []  # not the phrase
    assert pinned_of("I was charged twicefold", pay) == []  # not on a word boundary
    assert item_themes("charged twice", pay)[0] == "pin:double_charge"
    assert item_themes(None, pay) == []


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda m: m["alert_rules"].append({"id": "e", "kind": "emerging_theme", "params": {"growth": 0.5}}), "growth"),
        (lambda m: m["alert_rules"].append({"id": "e", "kind": "emerging_theme", "params": {"windw": "1h"}}), "windw"),
        (lambda m: m["stages"][0].update(themes=[{"id": "x", "name": "X", "phrases": ["!!"]}]), "needs at least one"),
        (lambda m: m["stages"][0].update(themes=[{"id": "x", "name": "X", "phrases": []}]), "phrases"),
        (lambda m: m["stages"][0].update(themes=[{"id": "x", "name": "X", "phrases": ["a b"]}] * 2), "unique"),
        (lambda m: m["stages"][0].update(themes=[{"id": "no spaces", "name": "X", "phrases": ["a"]}]), "id"),
    ],
)
def test_malformed_themes_and_emerging_rules_are_refused_when_the_map_loads(mutate: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _journey(mutate)


def test_merging_drops_words_covered_by_phrases_and_phrases_of_pinned_themes() -> None:
    volumes = {"late delivery": 10, "delivery": 12, "refund": 5, "double charged": 4, "charged": 4}
    assert merge_phrases(volumes, seeds=["Double charged"]) == ["late delivery", "refund"]
    # a word said mostly on its own stays
    assert merge_phrases({"late delivery": 10, "delivery": 20}) == ["delivery", "late delivery"]
    assert merge_phrases({f"w{i:02}": 30 - i for i in range(30)}, top=5) == ["w00", "w01", "w02", "w03", "w04"]


# -- arithmetic -------------------------------------------------------------------------------------------------


def _sums(**kw: float) -> dict[str, float]:
    return {**theme_figures.empty(), **kw}


def test_impact_is_the_score_of_all_answers_minus_the_score_without_the_theme_by_hand() -> None:
    # Stage: 10 NPS answers, 5 promoters, 3 detractors -> NPS 20. CSAT 40 over 10 answers -> 4.0.
    total = _sums(volume=12, nps_n=10, promoters=5, detractors=3, csat_sum=40, csat_n=10)
    # Theme: 4 answers, all 3 detractors are here; CSAT 2+2+1+1.
    theme = _sums(volume=4, nps_n=4, promoters=0, detractors=3, csat_sum=6, csat_n=4)
    # Without it: 6 answers, 5 promoters, 0 detractors -> 83.33; CSAT 34 / 6 = 5.6667.
    assert impact(total, theme, "nps") == round(20 - 100 * 5 / 6, 2) == -63.33
    assert impact(total, theme, "csat") == round(4.0 - 34 / 6, 2) == -1.67
    # A theme of all the answers has no "without": no impact.
    assert impact(total, total, "nps") is None
    assert impact(_sums(), theme, "csat") is None


def test_leave_impact_by_hand() -> None:
    first = dict.fromkeys("abcd", T0)
    left = {"a": T0 + timedelta(days=1), "b": T0 + timedelta(days=2), "c": T0 - timedelta(days=1)}  # c left before
    assert theme_figures.leave_share(first, left) == 0.5
    # the theme's customers are a and b: without them nobody left -> 0.5 - 0 = +0.5 (they leave more)
    assert leave_impact(first, left, ["a", "b"]) == 0.5
    # without c and d (who stayed) the share is 1.0: -0.5
    assert leave_impact(first, left, ["c", "d"]) == -0.5


# -- on the databases --------------------------------------------------------------------------------------------


@pytest.fixture
def journey() -> JourneyMap:
    return _journey()


def _journey(mutate: Any = None) -> JourneyMap:
    raw = yaml.safe_load(DEFAULT_JOURNEY_MAP.read_text())
    if mutate is not None:
        mutate(raw)
    return JourneyMap.model_validate(raw)


def _store(engine: Engine, journey: JourneyMap, items: list[Any], now: datetime) -> None:
    with Session(engine, expire_on_commit=False) as session:
        process_batch(session=session, journey=journey, items=items, now=now, alerts_topic=TOPIC)
        session.commit()


def _job(engine: Engine, journey: JourneyMap, now: datetime) -> JobOutcome:
    with Session(engine, expire_on_commit=False) as session:
        outcome = run_job(session=session, journey=journey, now=now, alerts_topic=TOPIC)
        session.commit()
        return outcome


def _themes(engine: Engine, journey: JourneyMap, stage: str, window: str = "7d", **kw: Any) -> dict[str, Any]:
    with Session(engine) as session:
        return theme_reads.stage_themes(session=session, journey=journey, stage=stage, window=window, **kw)


CRASH = [
    "The app crashes every morning",
    "app crashes after the update",
    "why does the app crashes on login",
    "App crashes. Every. Time.",
    "my app crashes when paying",
    "honestly the app crashes constantly",
    "app crashes, lost my work",
    "App crashes whenever I rotate",
]
DARK = [
    "Love the dark mode",
    "dark mode is lovely",
    "thanks for dark mode!",
    "the new dark mode rocks",
    "dark mode at night, perfect",
    "great dark mode",
]
BATTERY = [
    "noticeable battery drain lately",
    "battery drain since update",
    "some battery drain overnight",
    "battery drain, otherwise ok",
    "mild battery drain",
    "battery drain on older phones",
    "slight battery drain",
]
NOISE = ["fine", "works", "ok thanks", "all good here", "nothing to add"]


def _planted(at: datetime) -> list[Any]:
    """Three planted themes in `use`: crashes (detractors, CSAT 1), dark mode (promoters, CSAT 5), battery drain
    (passives, CSAT 3), plus noise (promoters, CSAT 4). Crash customers c0..c7; the first four later leave."""
    items = []
    for i, text in enumerate(CRASH):
        items.append(
            classified(
                stage="use", label="negative", text=text, customer=f"c{i}", at=at, scores={"nps": i % 3, "csat": 1}
            )
        )
    for i, text in enumerate(DARK):
        items.append(
            classified(stage="use", label="positive", text=text, customer=f"d{i}", at=at, scores={"nps": 10, "csat": 5})
        )
    for i, text in enumerate(BATTERY):
        items.append(
            classified(
                stage="use", label="neutral", text=text, customer=f"b{i}", at=at, scores={"nps": 7 + i % 2, "csat": 3}
            )
        )
    for i, text in enumerate(NOISE):
        items.append(
            classified(stage="use", label="positive", text=text, customer=f"n{i}", at=at, scores={"nps": 9, "csat": 4})
        )
    return items


def test_three_planted_themes_are_found_with_figures_trend_examples_and_the_skewed_one_ranks_most_negative(
    engine: Engine, journey: JourneyMap
) -> None:
    at = T0 - timedelta(hours=5)
    _store(engine, journey, _planted(at), now=T0 - timedelta(hours=4))
    leavers = [
        classified(stage="leave", text="closing my account", customer=f"c{i}", at=T0 - timedelta(hours=2))
        for i in range(4)
    ]
    _store(engine, journey, leavers, now=T0 - timedelta(hours=2))
    outcome = _job(engine, journey, T0)
    assert outcome.counted == 30

    found = _themes(engine, journey, "use")
    by_label = {t["label"]: t for t in found["themes"]}
    assert [t["label"] for t in found["themes"][:3]] == ["app crashes", "battery drain", "dark mode"]  # by volume
    assert "crashes" not in by_label and "drain" not in by_label and "mode" not in by_label  # covered by phrases
    crash, dark, battery = by_label["app crashes"], by_label["dark mode"], by_label["battery drain"]
    assert (crash["volume"], dark["volume"], battery["volume"]) == (8, 6, 7)
    assert crash["negative_share"] == 1.0 and dark["negative_share"] == 0.0
    assert crash["trend"] == {"previous_volume": 0, "volume_change": None, "status": "new"}
    assert len(crash["examples"]) == 3 and all(e["text"] in CRASH for e in crash["examples"])

    # By hand. Stage: 26 NPS answers: promoters 6 (dark) + 5 (noise) = 11; detractors 8 (crash) + 0 -> NPS 11.5.
    # Without crashes: 18 answers, 11 promoters, 0 detractors -> 61.1. Impact 11.54 - 61.11 = -49.57.
    stage = found["stage_figures"]
    assert (stage["volume"], stage["nps_answers"], stage["nps"]) == (26, 26, round(100 * 3 / 26, 1))
    assert crash["impact"]["nps"] == round(100 * 3 / 26 - 100 * 11 / 18, 2)
    # CSAT: all 8*1 + 6*5 + 7*3 + 5*4 = 79 over 26; without crashes 71 over 18.
    assert crash["impact"]["csat"] == round(79 / 26 - 71 / 18, 2)
    # Leave: 4 of 26 customers left later; all four had crashes -> without them 0 of 18.
    assert stage["leave_share"] == round(4 / 26, 4)
    assert crash["impact"]["leave"] == round(4 / 26, 4)
    assert dark["impact"]["leave"] == round(4 / 26 - 4 / 20, 4)

    ranked = _themes(engine, journey, "use", sort="nps_impact")["themes"]
    assert ranked[0]["label"] == "app crashes"
    assert [t["impact"]["nps"] for t in ranked] == sorted(t["impact"]["nps"] for t in ranked)
    assert _themes(engine, journey, "use", sort="leave_impact")["themes"][0]["label"] == "app crashes"
    assert _themes(engine, journey, "use", sort="csat_impact")["themes"][0]["label"] == "app crashes"

    # Counted once: a second run with nothing new changes no figure.
    assert _job(engine, journey, T0).counted == 0
    assert _themes(engine, journey, "use")["themes"][0]["volume"] == 8

    # A week later the same themes are the previous window: trend against it.
    later = T0 + timedelta(days=7)
    again = [classified(stage="use", text=f"app crashes again {i}", at=later - timedelta(hours=1)) for i in range(3)]
    _store(engine, journey, again, now=later)
    _job(engine, journey, later)
    crash = next(t for t in _themes(engine, journey, "use")["themes"] if t["label"] == "app crashes")
    assert crash["volume"] == 3 and crash["trend"]["previous_volume"] == 8 and crash["trend"]["status"] == "declining"
    assert crash["trend"]["volume_change"] == round((3 - 8) / 8, 4)


def test_drivers_rank_stages_and_themes_by_impact_on_the_overall_figures(engine: Engine, journey: JourneyMap) -> None:
    at = T0 - timedelta(hours=5)
    happy_pay = [
        classified(
            stage="pay",
            label="positive",
            text=f"smooth billing {i}",
            customer=f"p{i}",
            at=at,
            scores={"nps": 10, "csat": 5},
        )
        for i in range(10)
    ]
    _store(engine, journey, _planted(at) + happy_pay, now=T0 - timedelta(hours=4))
    leavers = [
        classified(stage="leave", text="closing my account", customer=f"c{i}", at=T0 - timedelta(hours=2))
        for i in range(4)
    ]
    _store(engine, journey, leavers, now=T0 - timedelta(hours=2))
    _job(engine, journey, T0)
    with Session(engine) as session:
        nps = theme_reads.drivers(session=session, window="30d", metric="nps")
        leave = theme_reads.drivers(session=session, window="30d", metric="leave")
        csat_stages = theme_reads.drivers(session=session, window="30d", metric="csat", kind="stage")
    rows = nps["rows"]
    impacts = [r["impact"]["nps"] for r in rows if r["impact"]["nps"] is not None]
    assert impacts == sorted(impacts)
    # Overall: 36 answers (26 use + 10 pay; leave items carry none), 21 promoters, 8 detractors.
    assert nps["overall"]["nps"] == round(100 * 13 / 36, 1)
    top = rows[0]
    assert (top["kind"], top["stage"], top["label"]) == ("stage", "use", "Use")
    assert top["impact"]["nps"] == round(100 * 13 / 36 - 100 * 10 / 10, 2)  # without use: all promoters
    assert top["target"] == journey.stage("use").health.model_dump()  # type: ignore[union-attr]
    assert top["actual"]["nps"] == round(100 * 3 / 26, 1) and top["volume"] == 26
    theme_rows = [r for r in rows if r["kind"] == "theme"]
    assert theme_rows[0]["label"] == "app crashes"
    assert theme_rows[0]["impact"]["nps"] == round(100 * 13 / 36 - 100 * 21 / 28, 2)
    pay = next(r for r in rows if r["kind"] == "stage" and r["stage"] == "pay")
    assert pay["impact"]["nps"] > 0 and pay["health"] == "green"
    # leave: the stage / theme whose customers leave most comes first (positive impact: removing them lowers it)
    # 4 of the 36 customers left, all of them from `use` and all with crashes: either way, without them nobody left
    assert (leave["rows"][0]["kind"], leave["rows"][0]["stage"]) == ("stage", "use")  # ties: the larger volume first
    assert leave["overall"]["leave_share"] == round(4 / 36, 4)
    assert leave["rows"][0]["impact"]["leave"] == round(4 / 36, 4)
    crash_leave = next(r for r in leave["rows"] if r["label"] == "app crashes")
    assert crash_leave["impact"]["leave"] == round(4 / 36, 4) and leave["rows"][1] == crash_leave
    assert {r["kind"] for r in csat_stages["rows"]} == {"stage"}


def test_pinned_themes_keep_their_identity_when_renamed_and_given_new_seeds(
    engine: Engine, journey: JourneyMap
) -> None:
    week1 = T0 - timedelta(days=8)
    items = [classified(stage="pay", text=f"I was charged twice, ref {i}", at=week1) for i in range(3)]
    _store(engine, journey, items, now=week1)
    _job(engine, journey, week1 + timedelta(hours=1))

    def rename(raw: dict[str, Any]) -> None:
        pay = next(s for s in raw["stages"] if s["id"] == "pay")
        pay["themes"] = [
            {"id": "double_charge", "name": "Duplicate charges", "phrases": ["charged twice", "billed twice"]}
        ]

    renamed = _journey(rename)
    items = [
        classified(stage="pay", text=f"billed twice for one order {i}", at=T0 - timedelta(hours=3)) for i in range(4)
    ]
    _store(engine, renamed, items, now=T0 - timedelta(hours=2))
    _job(engine, renamed, T0)
    found = _themes(engine, renamed, "pay")["themes"]
    pinned = [t for t in found if t["pinned"]]
    assert [(t["key"], t["label"], t["volume"]) for t in pinned] == [("pin:double_charge", "Duplicate charges", 4)]
    assert pinned[0]["trend"]["previous_volume"] == 3  # the same theme last week, under its old name and seeds
    labels = {t["label"] for t in found}
    assert "billed twice" not in labels and "charged twice" not in labels  # the pinned theme speaks for them


def test_an_emerging_theme_opens_one_alert_on_the_stage_and_updates_it_for_another(engine: Engine) -> None:
    def rule(raw: dict[str, Any]) -> None:
        raw["alert_rules"] = [
            {"id": "emerging", "kind": "emerging_theme", "params": {"window": "24h", "min_volume": 5, "growth": 3}}
        ]
        raw["inhibit"] = []  # the default map's inhibition names rules this map no longer has

    journey = _journey(rule)
    _store(
        engine,
        journey,
        [classified(stage="pay", text="refund delay", at=T0 - timedelta(hours=30))],
        now=T0 - timedelta(hours=30),
    )
    steady = [classified(stage="pay", text=f"statement layout {i}", at=T0 - timedelta(hours=30)) for i in range(5)]
    steady += [classified(stage="pay", text=f"statement layout {i}", at=T0 - timedelta(hours=3)) for i in range(5)]
    rising = [classified(stage="pay", text=f"refund delay again {i}", at=T0 - timedelta(hours=3)) for i in range(4)]
    _store(engine, journey, steady + rising, now=T0 - timedelta(hours=2))
    assert _job(engine, journey, T0).transitions == []  # 4 is below min_volume 5

    _store(engine, journey, [classified(stage="pay", text="refund delay", at=T0 - timedelta(hours=1))], now=T0)
    outcome = _job(engine, journey, T0)
    assert [(t.alert.stage, t.alert.rule_id, t.name) for t in outcome.transitions] == [("pay", "emerging", "opened")]
    alert = outcome.transitions[0].alert
    assert "refund delay" in alert.title and alert.rule_kind == "emerging_theme"
    assert alert.details["themes"][0] == {
        "key": "refund delay",
        "label": "refund delay",
        "volume": 5,
        "previous_volume": 1,
    }
    assert outcome.outbox_rows >= 1
    assert "statement layout" not in [t["key"] for t in alert.details["themes"]]  # steady, not emerging

    assert _job(engine, journey, T0 + timedelta(minutes=5)).transitions == []  # still emerging: same alert, active

    brand_new = [classified(stage="pay", text=f"surprise surcharge {i}", at=T0) for i in range(6)]
    _store(engine, journey, brand_new, now=T0 + timedelta(minutes=10))
    outcome = _job(engine, journey, T0 + timedelta(minutes=10))
    assert [t.name for t in outcome.transitions] == ["updated"]
    with Session(engine) as session:
        alerts = list(session.execute(select(Alert)).scalars())
        assert len(alerts) == 1 and alerts[0].count == 2
        assert alerts[0].details["themes"][0]["key"] == "surprise surcharge"
        sent = session.execute(select(func.count()).select_from(OutboxEntry)).scalar_one()
        assert sent >= 1


def test_erasure_and_text_expiry_leave_no_text_in_examples_and_erasure_no_counts(
    engine: Engine, journey: JourneyMap
) -> None:
    at = T0 - timedelta(hours=5)
    _store(engine, journey, _planted(at), now=at)
    _job(engine, journey, T0)
    crash = next(t for t in _themes(engine, journey, "use")["themes"] if t["label"] == "app crashes")
    victim = next(e for e in crash["examples"])
    with Session(engine) as session:
        customer = session.get(FeedbackItem, victim["id"]).customer_id  # type: ignore[union-attr]
        erase_customer(session=session, customer_id=customer, now=T0, corrections_topic="t.corrections")
        session.commit()
    crash = next(t for t in _themes(engine, journey, "use")["themes"] if t["label"] == "app crashes")
    assert victim["id"] not in [e["id"] for e in crash["examples"]]  # before the next run already
    with Session(engine) as session:
        h = columns(ThemeHour)
        left = session.execute(
            select(func.sum(h.volume)).where(h.stage == "use", h.theme == "app crashes")
        ).scalar_one()
        assert left == 7
    _job(engine, journey, T0 + timedelta(minutes=5))
    crash = next(t for t in _themes(engine, journey, "use")["themes"] if t["label"] == "app crashes")
    assert crash["volume"] == 7 and len(crash["examples"]) == 3

    with Session(engine) as session:
        assert expire_text(session=session, older_than=timedelta(hours=1), now=T0 + timedelta(days=1)) > 0
        session.commit()
    crash = next(t for t in _themes(engine, journey, "use")["themes"] if t["label"] == "app crashes")
    assert [e["text"] for e in crash["examples"]] == [None, None, None]


def test_a_corrected_item_moves_to_its_new_stage_themes(engine: Engine, journey: JourneyMap) -> None:
    at = T0 - timedelta(hours=5)
    items = _planted(at)
    _store(engine, journey, items, now=at)
    _job(engine, journey, T0 - timedelta(hours=1))
    with Session(engine) as session:
        relabel(
            session=session,
            feedback_id=items[0].id,
            stage="get_help",
            by="sam",
            now=T0 - timedelta(minutes=30),
            corrections_topic="t.c",
        )
        session.commit()
    _job(engine, journey, T0)
    crash = next(t for t in _themes(engine, journey, "use")["themes"] if t["label"] == "app crashes")
    assert crash["volume"] == 7
    assert _themes(engine, journey, "get_help")["stage_figures"]["volume"] == 1


def test_a_batch_committed_after_the_watermark_passed_it_is_still_counted_once(
    engine: Engine, journey: JourneyMap
) -> None:
    first = [classified(stage="use", text="app crashes", item_id=f"b{i}", at=T0 - timedelta(hours=1)) for i in range(3)]
    _store(engine, journey, first, now=T0)
    assert _job(engine, journey, T0).counted == 3  # the watermark is now (T0, "b2")
    # A batch that began at the same instant (so stamped T0) but committed later, with smaller ids; and a journey
    # event, which is in no theme.
    late = [classified(stage="use", text="app crashes", item_id=f"a{i}", at=T0 - timedelta(hours=1)) for i in range(2)]
    late.append(journey_event(customer="c1", at=T0 - timedelta(hours=1), item_id="a9"))
    _store(engine, journey, late, now=T0)
    assert _job(engine, journey, T0).counted == 3
    assert _job(engine, journey, T0).counted == 0  # counted once (the journey event is marked as read)
    assert _themes(engine, journey, "use")["stage_figures"]["volume"] == 5


def test_many_corrections_at_one_time_are_all_applied_in_batches_and_reset_recounts(
    engine: Engine, journey: JourneyMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = T0 - timedelta(hours=5)
    items = _planted(at)
    _store(engine, journey, items, now=at)
    _job(engine, journey, T0 - timedelta(hours=1))
    with Session(engine) as session:  # a bulk relabel: five items corrected at the same instant
        for item in items[:5]:
            relabel(
                session=session,
                feedback_id=item.id,
                stage="get_help",
                by="sam",
                now=T0 - timedelta(minutes=30),
                corrections_topic="t.c",
            )
        session.commit()
    monkeypatch.setattr(theme_hours, "BATCH", 2)
    moved = [_job(engine, journey, T0 + timedelta(minutes=i)).recounted for i in range(4)]
    assert moved == [2, 2, 1, 0]
    crash = next(t for t in _themes(engine, journey, "use")["themes"] if t["label"] == "app crashes")
    assert crash["volume"] == 3

    before = _themes(engine, journey, "use")
    with Session(engine) as session:
        theme_hours.reset(session=session)
        session.commit()
    monkeypatch.setattr(theme_hours, "BATCH", 2000)
    assert _job(engine, journey, T0 + timedelta(minutes=5)).counted == len(items)
    after = _themes(engine, journey, "use")
    assert after["themes"] == before["themes"] and after["stage_figures"] == before["stage_figures"]


def _pause_job_at(
    monkeypatch: pytest.MonkeyPatch, module: Any, name: str, *, call: int
) -> tuple[threading.Event, threading.Event]:
    """`module.name`'s `call`-th call from a thread other than the test's sets `paused` and waits for `resume`."""
    paused, resume = threading.Event(), threading.Event()
    real, calls = getattr(module, name), []

    def pausing(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread() is not threading.main_thread():
            calls.append(1)
            if len(calls) == call:
                paused.set()
                assert resume.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, pausing)
    return paused, resume


@pytest.mark.parametrize("pause_in", ["counting", "ranking"])
def test_the_service_stores_while_the_theme_job_counts_and_ranks_on_sqlite(
    tmp_path: Path, journey: JourneyMap, monkeypatch: pytest.MonkeyPatch, pause_in: str
) -> None:
    """SQLite has one write lock for the whole database: the job must hold it only to write. It is paused while
    it works out a second batch's themes, or while it ranks a window; meanwhile the service stores a batch with
    a short busy timeout (the service's is 30 s: behind a job holding the lock, storing would stall that long)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'themes.db'}")
    upgrade(engine)
    monkeypatch.setattr(theme_hours, "BATCH", 5)
    _store(engine, journey, _planted(T0 - timedelta(hours=2)), now=T0 - timedelta(hours=1))
    module, name = (theme_hours, "membership") if pause_in == "counting" else (themes, "theme_members")
    # its second call: counting, the first batch is committed; ranking, the first stage is done
    paused, resume = _pause_job_at(monkeypatch, module, name, call=2)
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(_job, engine, journey, T0)
        assert paused.wait(30)
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA busy_timeout=500")
                conn.commit()
                with Session(bind=conn) as session:
                    late = [classified(stage="pay", text="charged twice", at=T0 - timedelta(minutes=5))]
                    at = T0 + timedelta(seconds=1)  # after the job's `until`: not its to count
                    process_batch(session=session, journey=journey, items=late, now=at, alerts_topic=TOPIC)
                    session.commit()
        finally:
            resume.set()
        outcome = job.result(60)
    assert outcome.counted == len(_planted(T0))
    with Session(engine) as session:
        assert session.get(FeedbackItem, late[0].id) is not None
    engine.dispose()


def test_a_job_whose_batch_another_job_counted_meanwhile_writes_nothing(
    engine: Engine, journey: JourneyMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two jobs (two processes) read the same batch; the second counts it while the first works out its themes.
    The first sees the watermark moved when it takes the lock and writes nothing: every item counts once."""
    items = _planted(T0 - timedelta(hours=2))
    _store(engine, journey, items, now=T0 - timedelta(hours=1))
    paused, resume = _pause_job_at(monkeypatch, theme_hours, "membership", call=1)
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(_job, engine, journey, T0)
        assert paused.wait(30)
        try:
            assert _job(engine, journey, T0).counted == len(items)
        finally:
            resume.set()
        assert first.result(60).counted == 0
    with Session(engine) as session:
        volume = session.execute(select(func.sum(ThemeHour.volume)).where(ThemeHour.theme == "*")).scalar_one()
    assert volume == len(items)


# -- the job's own process ---------------------------------------------------------------------------------------


async def test_the_job_runs_in_a_process_of_its_own_and_reports_what_it_did(
    engine: Engine, journey: JourneyMap, database_url: str
) -> None:
    surcharge = [
        classified(stage="pay", text=f"surprise surcharge on bill {i}", at=T0 - timedelta(hours=1)) for i in range(20)
    ]
    items = _planted(T0 - timedelta(hours=2)) + surcharge
    _store(engine, journey, items, now=T0)
    outcome = await theme_process.run(
        database_url=database_url, journey_map=DEFAULT_JOURNEY_MAP, alerts_topic=TOPIC, now=T0, settle=timedelta(0)
    )
    assert outcome.counted == len(items) and outcome.snapshots > 0
    assert outcome.transitions == [("pay", "emerging_theme", "opened")] and outcome.outbox_rows >= 1
    assert outcome.peak_rss_mib > 0
    assert {"app crashes", "dark mode", "battery drain"} <= {
        t["label"] for t in _themes(engine, journey, "use")["themes"]
    }
    again = await theme_process.run(
        database_url=database_url, journey_map=DEFAULT_JOURNEY_MAP, alerts_topic=TOPIC, now=T0, settle=timedelta(0)
    )
    assert again.counted == 0  # its progress was committed


def test_the_jobs_reading_and_ranking_run_in_its_runner_and_its_writes_do_not(
    engine: Engine, journey: JourneyMap, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child gives its reading and ranking a thread of lower priority; its writes must stay in the caller's
    thread: one that holds SQLite's lock on the whole database must not wait for a core behind the service."""
    _store(engine, journey, _planted(T0 - timedelta(hours=2)), now=T0)
    inside = threading.local()
    where: dict[str, set[bool]] = {}

    def noting(module: Any, name: str) -> None:
        real = getattr(module, name)

        def noted(*args: Any, **kwargs: Any) -> Any:
            where.setdefault(name, set()).add(getattr(inside, "on", False))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, noted)

    for module, name in ((theme_hours, "membership"), (themes, "snapshot_window"), (theme_hours, "count_items")):
        noting(module, name)

    class Runner:
        def __init__(self) -> None:
            self.held: list[float] = []

        def __call__(self, work: Any) -> Any:
            inside.on = True
            try:
                return work()
            finally:
                inside.on = False

        def wrote(self, held: float) -> None:  # after each batch's commit, in the caller's thread
            assert not getattr(inside, "on", False)
            self.held.append(held)

    monkeypatch.setattr(theme_hours, "BATCH", 5)
    runner = Runner()
    with Session(engine, expire_on_commit=False) as session:
        outcome = run_job(session=session, journey=journey, now=T0, alerts_topic=TOPIC, compute=runner)
        session.commit()
    assert outcome.counted > 5 and outcome.snapshots > 0
    assert where == {"membership": {True}, "snapshot_window": {True}, "count_items": {False}}
    assert len(runner.held) == -(-outcome.counted // 5)  # one pause after each batch written, none after a read
    assert all(held > 0 for held in runner.held)


def test_the_job_pauses_after_each_write_for_the_rest_of_its_share(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(theme_process.time, "sleep", slept.append)
    with theme_process.lowered(0, write_share=0.2) as run:
        run.wrote(0.1)  # held the lock 0.1 s: 0.4 s more makes it a fifth of the time
    with theme_process.lowered(0) as run:
        run.wrote(0.1)  # a share of 1: no pause
    assert slept == [pytest.approx(0.4)]
    with pytest.raises(ValueError, match="write_share"), theme_process.lowered(0, write_share=0):
        pass


@pytest.mark.skipif(sys.platform != "linux", reason="a priority per thread is Linux's")
def test_the_lowered_runner_runs_work_below_the_callers_priority_and_leaves_the_caller_as_it_was() -> None:
    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    mine = nice()
    with theme_process.lowered(5) as run:
        assert run(nice) == min(19, mine + 5)
        assert run(threading.get_native_id) != threading.get_native_id()
    assert nice() == mine
    with theme_process.lowered(0) as run:
        assert run(nice) == mine


def test_each_batch_reads_the_stored_index_from_its_watermark_in_order(engine: Engine, journey: JourneyMap) -> None:
    """The batch's read starts at the watermark and stops at the batch's end: without the range first, SQLite read
    every item after the watermark and sorted them, for every batch (0.18 s each with 580,000 items left)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the plan checked is SQLite's")
    progress = {"stored_at": T0, "item_id": "m", "corrected_at": T0, "corrected_id": "m"}
    captured: list[str] = []

    def plan(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        explained = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, params)
        captured.append(" ".join(str(r[-1]) for r in explained))

    with Session(engine) as session:
        for rows in (theme_hours.new_rows, theme_hours.corrected_rows):
            event.listen(engine, "before_cursor_execute", plan)
            try:
                rows(session, progress, T0 + timedelta(days=1))
            finally:
                event.remove(engine, "before_cursor_execute", plan)
            assert captured and "TEMP B-TREE" not in captured[-1] and "MULTI-INDEX" not in captured[-1], captured


async def test_a_failing_job_process_is_an_error_not_an_outcome(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(theme_process.ThemeJobFailed, match="exited with 1"):
        await theme_process.run(
            database_url=database_url,
            journey_map=tmp_path / "missing.yaml",
            alerts_topic=TOPIC,
            now=T0,
            settle=timedelta(0),
        )


# -- the service -------------------------------------------------------------------------------------------------


@pytest.mark.integration
async def test_the_endpoints_serve_themes_and_drivers_from_the_running_job(
    kafka: KafkaSettings, database_url: str
) -> None:
    clock = MovableClock(T0)
    items = _planted(T0 - timedelta(hours=2))
    items += [classified(stage="pay", label="positive", text="easy", at=T0, scores={"nps": 10}) for _ in range(3)]
    # 20 about a new surcharge: the default map's `emerging_theme` rule (24h, min_volume 20) opens an alert on pay
    items += [
        classified(stage="pay", text=f"surprise surcharge on bill {i}", at=T0 - timedelta(hours=1)) for i in range(20)
    ]
    settings = settings_for(kafka, database_url, themes_interval_s=0.2, themes_settle_s=0)
    async with running(settings, clock) as (_, client):
        await produce(kafka, items)

        async def ranked() -> Any:
            body = (await client.get("/v1/stages/use/themes", params={"window": "24h"}, headers=READ)).json()
            return body if body.get("stage_figures") and body["stage_figures"]["volume"] == 26 else None

        body = await eventually(ranked, what="themes ranked by the job")
        assert body["computed_at"] is not None and body["window"] == "24h"
        assert {"app crashes", "dark mode", "battery drain"} <= {t["label"] for t in body["themes"]}
        worst = (
            await client.get("/v1/stages/use/themes", params={"sort": "nps_impact", "limit": 1}, headers=READ)
        ).json()
        assert [t["label"] for t in worst["themes"]] == ["app crashes"]
        assert worst["themes"][0]["examples"][0]["text"] in CRASH

        drivers = (
            await client.get("/v1/journey/drivers", params={"metric": "nps", "window": "30d"}, headers=READ)
        ).json()
        assert drivers["rows"][0]["stage"] == "use" and drivers["rows"][0]["target"]["red_csat_below"] == 3.2
        for response, status in [
            (await client.get("/v1/stages/use/themes"), 401),
            (await client.get("/v1/stages/nowhere/themes", headers=READ), 404),
            (await client.get("/v1/stages/use/themes", params={"window": "2h"}, headers=READ), 422),
            (await client.get("/v1/journey/drivers", params={"metric": "ces"}, headers=READ), 422),
        ]:
            assert response.status_code == status, response.text

        async def emerging() -> Any:  # the pay items may be stored after the run that ranked `use`
            return (await client.get("/v1/alerts", params={"stage": "pay"}, headers=READ)).json()

        alerts = await eventually(emerging, what="the emerging theme alert")
        assert [(a["rule_kind"], a["status"]) for a in alerts] == [("emerging_theme", "open")]
        assert "surprise surcharge" in alerts[0]["title"]
        events = await read_topic(kafka, kafka.topics.alerts, want=1)
        assert [(e.type, e.data["rule_kind"]) for e in events] == [("io.journeyline.alert.opened", "emerging_theme")]


def test_window_bounds_are_whole_hours() -> None:
    now = datetime(2026, 11, 2, 12, 30, tzinfo=UTC)
    assert theme_hours.hour_of(now) == datetime(2026, 11, 2, 13, 0, tzinfo=UTC)
    assert theme_hours.hour_of(datetime(2026, 11, 2, 12, 0, tzinfo=UTC)) == datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert theme_hours.window_bounds(now, timedelta(days=1)) == (
        datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 2, 13, 0, tzinfo=UTC),
    )
