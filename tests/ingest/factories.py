"""Small helpers for ingest tests: a source, and running payloads through the whole intake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from services.ingest.auth import SourceInfo
from services.ingest.intake import Record, Rejection, parse_body, prepare
from services.ingest.models import Adapter
from shared.cloudevents import decode
from shared.models import Channel

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def source(
    name: str = "acme-tools", channel: Channel = Channel.other, adapter: Adapter = Adapter.generic
) -> SourceInfo:
    return SourceInfo(name=name, channel=channel, adapter=adapter, rate_limit=None)


def run(
    payload: Any, adapter: Adapter = Adapter.generic, src: SourceInfo | None = None, fmt: str = "json"
) -> tuple[list[Record], list[Rejection]]:
    raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
    body = parse_body(raw, fmt, channel="other")
    return prepare(body, source=src or source(), adapter=adapter, received_at=NOW, max_future=timedelta(minutes=10))


def one(payload: Any, adapter: Adapter = Adapter.generic, src: SourceInfo | None = None) -> dict[str, Any]:
    """The canonical event (CloudEvent data) for a payload that must be accepted."""
    records, rejections = run(payload, adapter, src)
    assert not rejections, rejections
    assert len(records) == 1, records
    return data(records[0])


def data(record: Record) -> dict[str, Any]:
    event = decode(record.headers, record.value)
    assert event.id == record.id
    result: dict[str, Any] = event.data
    return result


def rejected(payload: Any, adapter: Adapter = Adapter.generic) -> Rejection:
    records, rejections = run(payload, adapter)
    assert not records, records
    assert len(rejections) == 1, rejections
    return rejections[0]
