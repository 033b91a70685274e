from datetime import UTC, datetime

import pytest

from shared.cloudevents import CloudEvent, CloudEventError, decode, encode


def test_round_trip_keeps_every_attribute() -> None:
    event = CloudEvent(
        id="e-1",
        source="/sources/demo",
        type="io.journeyline.feedback.received",
        data={"text": "héllo", "n": 3},
        time=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        subject="CUS-1",
        extensions={"partitionkey": "CUS-1"},
    )
    headers, value = encode(event)
    names = [name for name, _ in headers]
    assert names[:5] == ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"]
    assert decode(headers, value) == event


@pytest.mark.parametrize(
    ("headers", "value", "message"),
    [
        ([], b"{}", "missing CloudEvents headers"),
        ([("ce_specversion", b"0.3"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t")], b"{}", "specversion"),
        ([("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t")], b"{nope", "not JSON"),
        ([("ce_specversion", b"1.0"), ("ce_id", b"\xff"), ("ce_source", b"s"), ("ce_type", b"t")], b"{}", "UTF-8"),
        ([("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t")], None, "no value"),
        (
            [("ce_specversion", b"1.0"), ("ce_id", b"1"), ("ce_source", b"s"), ("ce_type", b"t"), ("ce_time", b"x")],
            b"{}",
            "ce_time",
        ),
    ],
)
def test_decode_rejects_what_is_not_a_cloudevent(headers: list, value: bytes | None, message: str) -> None:
    with pytest.raises(CloudEventError, match=message):
        decode(headers, value)
