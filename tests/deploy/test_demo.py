"""`journeyline demo`'s traffic, without a network: realistic, varied, and with a stage that goes bad."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.traffic import SOURCES, STAGE_WEIGHTS, TEXTS, Plan, Traffic
from services.cli.main import build_parser
from services.ingest.adapters.generic import GenericEvent


def _events(n: int = 4000, **plan: object) -> tuple[Plan, list[tuple[str, dict[str, object]]]]:
    settings: dict[str, object] = {
        "total": n, "rate": 100.0, "bad_stage": "pay", "incident": (n // 4, n * 13 // 20),
        "invalid_share": 0.0, "customers": 300,
    }  # fmt: skip
    settings.update(plan)
    built = Plan(**settings)  # type: ignore[arg-type]
    traffic = Traffic(built, seed=11)
    return built, [traffic.event(i) for i in range(n)]


def _stage_of(body: dict[str, object]) -> str | None:
    text = str(body.get("text") or "").lower()
    for stage, (neg, pos, neu) in TEXTS.items():
        for template in (*neg, *pos, *neu):
            head = template.split("{")[0].lower()[:18]
            if head and head in text:
                return stage
    return None


def test_every_event_is_a_valid_generic_payload() -> None:
    _, events = _events(600)
    for _, body in events:
        GenericEvent.model_validate(body)
        assert body["external_id"] and body["customer_id"]


def test_several_sources_and_channels_and_all_seven_stages() -> None:
    _, events = _events()
    assert {source for source, _ in events} == {name for name, _, _ in SOURCES}
    assert {body["channel"] for _, body in events} >= {"call", "chat", "social", "review", "survey", "email"}
    stages = Counter(_stage_of(body) for _, body in events if body.get("text"))
    assert set(STAGE_WEIGHTS) <= set(stages)
    kinds = Counter(body.get("kind", "feedback") for _, body in events)
    assert kinds["contact"] and kinds["survey_response"] and kinds["journey_event"]


def test_customers_come_back() -> None:
    _, events = _events()
    per_customer = Counter(body["customer_id"] for _, body in events)
    assert max(per_customer.values()) >= 10
    assert len(per_customer) > 200


def test_the_bad_stage_goes_bad_during_the_incident_only() -> None:
    plan, events = _events()

    def negative_share(rows: list[tuple[str, dict[str, object]]]) -> float:
        texts = [str(b.get("text") or "") for _, b in rows if _stage_of(b) == "pay"]
        negative = {t.split("{")[0][:18].lower() for t in TEXTS["pay"][0]}
        return sum(any(n in t.lower() for n in negative) for t in texts) / max(len(texts), 1)

    before = events[: plan.incident[0]]
    during = events[plan.incident[0] : plan.incident[1]]
    assert negative_share(during) > 0.75 > 0.5 > negative_share(before)
    pay_share_before = sum(_stage_of(b) == "pay" for _, b in before) / len(before)
    pay_share_during = sum(_stage_of(b) == "pay" for _, b in during) / len(during)
    assert pay_share_during > 1.8 * pay_share_before


def test_a_calm_run_and_deliberate_invalid_events() -> None:
    plan, events = _events(2000, bad_stage=None, invalid_share=0.05)
    assert not plan.in_incident(plan.incident[0])
    invalid = 0
    for _, body in events:
        try:
            GenericEvent.model_validate(body)
        except ValueError:
            invalid += 1
    assert 40 <= invalid <= 160


def test_same_seed_same_traffic() -> None:
    plan, _ = _events(10)
    first = [Traffic(plan, seed=3).event(i) for i in range(50)]
    second = [Traffic(plan, seed=3).event(i) for i in range(50)]
    assert first == second


def test_the_command_line() -> None:
    args = build_parser().parse_args(["demo", "--rate", "5", "--count", "10", "--bad-stage", "none", "--api-key", "k"])
    assert args.rate == 5 and args.count == 10 and args.api_key == "k" and callable(args.func)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--rate", "fast"])


def test_calls_carry_wait_handle_and_hold_times_and_transfers() -> None:
    _, events = _events(600)
    contacts = [body for _, body in events if body.get("kind") == "contact"]
    assert contacts
    for body in contacts:
        metadata = body["metadata"]
        assert isinstance(metadata, dict)
        figures = [float(metadata[k]) for k in ("wait_seconds", "handle_seconds", "hold_seconds", "transfers")]
        assert all(0 <= f <= 86_400 for f in figures), metadata
