import uuid
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from shared.models import EVENT_ID_NAMESPACE, Feedback, Scores, stable_event_id
from shared.settings import CommonSettings, refuse_placeholder_secrets


def test_environment_names_reach_kafka_and_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("KAFKA_ENABLE_IDEMPOTENCE", "true")
    monkeypatch.setenv("JOURNEYLINE_TOPIC_PREFIX", "acme.")
    settings = CommonSettings()
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.kafka.enable_idempotence is True
    assert settings.topics.received == "acme.cx.feedback.received"
    assert settings.topics.group("classify") == "acme.classify"


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYLINE_ENV", "production")
    with pytest.raises(ValueError, match="ADMIN_TOKEN"):
        refuse_placeholder_secrets(CommonSettings(), ADMIN_TOKEN="change-me")
    refuse_placeholder_secrets(CommonSettings(), ADMIN_TOKEN="s3cr3t-and-long")


def test_event_id_is_stable_per_source_and_external_id() -> None:
    assert stable_event_id("zendesk", "42") == stable_event_id("zendesk", "42")
    assert stable_event_id("zendesk", "42") != stable_event_id("intercom", "42")
    assert stable_event_id("a", "b\x1fc") != stable_event_id("a\x1fb", "c")


@pytest.mark.parametrize(("source", "external_id"), [("zendesk", "42"), ("é-shop", "ticket/ü 7"), ("s", "x" * 300)])
def test_event_ids_are_rfc4122_uuid5_of_the_length_prefixed_name(source: str, external_id: str) -> None:
    expected = uuid.uuid5(EVENT_ID_NAMESPACE, f"{len(source)}:{source}:{external_id}")
    assert stable_event_id(source, external_id) == str(expected)


def test_feedback_times_are_normalised_to_utc_and_text_is_bounded() -> None:
    plus_two = timezone(timedelta(hours=2))
    item = Feedback(
        id="1",
        source="s",
        channel="call",
        occurred_at=datetime(2026, 5, 1, 12, 0, tzinfo=plus_two),
        received_at=datetime(2026, 5, 1, 10, 0),
    )
    assert item.occurred_at.utcoffset() == timedelta(0) and item.occurred_at.hour == 10
    assert item.received_at.tzinfo is not None
    with pytest.raises(ValidationError):
        Feedback(
            id="1",
            source="s",
            channel="call",
            occurred_at=item.occurred_at,
            received_at=item.received_at,
            text="x" * 10_001,
        )
    with pytest.raises(ValidationError):
        Feedback.model_validate({**item.model_dump(), "scores": {"nps": 11}})


@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_not_a_score(value: bool) -> None:
    with pytest.raises(ValidationError, match="whole number"):
        Scores(nps=value)
    assert Scores(nps=0, csat=5, ces=1).nps == 0
