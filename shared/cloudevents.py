"""CloudEvents 1.0, Kafka protocol binding, binary content mode: attributes in `ce_*` headers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED = ("ce_specversion", "ce_id", "ce_source", "ce_type")

Headers = list[tuple[str, bytes]]
_SPECVERSION_HEADER = ("ce_specversion", SPECVERSION.encode())
_CONTENT_TYPE_HEADER = ("content-type", CONTENT_TYPE.encode())


class CloudEventError(ValueError):
    """A Kafka record that is not a valid binary-mode CloudEvent."""


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs 3 µs, on every event ingest takes in
class CloudEvent:
    id: str
    source: str
    type: str
    data: Any
    time: datetime | None = None
    subject: str | None = None
    extensions: dict[str, str] = field(default_factory=dict)


def encode(event: CloudEvent) -> tuple[Headers, bytes]:
    """Turn an event into Kafka record headers and a JSON value."""
    headers: Headers = [
        _SPECVERSION_HEADER,
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
        _CONTENT_TYPE_HEADER,
    ]
    if event.time is not None:
        when = event.time if event.time.tzinfo is UTC else event.time.astimezone(UTC)
        headers.append(("ce_time", when.isoformat().replace("+00:00", "Z").encode()))
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    for name, value in event.extensions.items():
        headers.append((f"ce_{name}", value.encode()))
    return headers, orjson.dumps(event.data)


def decode(headers: Sequence[tuple[str, bytes]] | None, value: bytes | None) -> CloudEvent:
    """Read a binary-mode CloudEvent from a Kafka record; raise CloudEventError when it is not one."""
    attrs: dict[str, str] = {}
    for name, raw in headers or ():
        try:
            attrs[name] = raw.decode("utf-8") if raw is not None else ""
        except UnicodeDecodeError as exc:
            raise CloudEventError(f"header {name} is not UTF-8") from exc
    missing = [name for name in REQUIRED if not attrs.get(name)]
    if missing:
        raise CloudEventError(f"missing CloudEvents headers: {', '.join(missing)}")
    if attrs["ce_specversion"] != SPECVERSION:
        raise CloudEventError(f"unsupported specversion {attrs['ce_specversion']!r}")
    content_type = attrs.get("content-type", CONTENT_TYPE)
    if not content_type.startswith(CONTENT_TYPE):
        raise CloudEventError(f"unsupported content-type {content_type!r}")
    if value is None:
        raise CloudEventError("record has no value")
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise CloudEventError(f"value is not JSON: {exc}") from exc
    time = None
    if attrs.get("ce_time"):
        try:
            time = datetime.fromisoformat(attrs["ce_time"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise CloudEventError(f"ce_time is not RFC 3339: {attrs['ce_time']!r}") from exc
    known = {*REQUIRED, "ce_time", "ce_subject"}
    extensions = {k[3:]: v for k, v in attrs.items() if k.startswith("ce_") and k not in known}
    return CloudEvent(
        id=attrs["ce_id"],
        source=attrs["ce_source"],
        type=attrs["ce_type"],
        data=data,
        time=time,
        subject=attrs.get("ce_subject"),
        extensions=extensions,
    )
