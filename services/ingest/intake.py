"""From request bytes to records ready to produce: content type, UTF-8, JSON/NDJSON, adapter, validation."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import orjson
from pydantic import ValidationError

from services.ingest import metrics
from services.ingest.adapters import mapping
from services.ingest.adapters.common import AdapterError, Canonical, Json
from services.ingest.adapters.registry import ADAPTERS, AdaptFn
from services.ingest.auth import SourceInfo
from services.ingest.models import Adapter
from services.ingest.redact import redact
from shared.cloudevents import CloudEvent, Headers, encode
from shared.models import EventType, Feedback, stable_event_id

JSON_TYPES = frozenset({"application/json"})
NDJSON_TYPES = frozenset({"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"})
FORM_TYPE = "application/x-www-form-urlencoded"  # Twilio and Qualtrics callbacks: one event per request
MAX_FORM_FIELDS = 200
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_METADATA_ENTRIES, MAX_METADATA_KEY, MAX_METADATA_VALUE = 64, 100, 2000
MAX_ID_CHARS = 200
_RANGE_ERRORS = frozenset({"greater_than_equal", "less_than_equal", "greater_than", "less_than"})


_RECEIVED = EventType.feedback_received.value


class IntakeError(ValueError):
    """A request refused as a whole: its content type, encoding or syntax, the adapter it asks for, or an event
    posted for another source. `reason` is a bounded code; how it is answered is the API layer's business
    (`services.ingest.api.refusal`). `index` is the item that caused it, when one did."""

    def __init__(self, reason: str, detail: str, *, index: int | None = None) -> None:
        super().__init__(detail)
        self.reason, self.detail, self.index = reason, detail, index


@dataclass(slots=True)
class Record:
    """One accepted event, encoded as a CloudEvent, waiting for the broker."""

    index: int
    part: int | None
    id: str
    channel: str
    key: bytes
    headers: Headers
    value: bytes


@dataclass(slots=True)
class Rejection:
    index: int
    part: int | None
    reason: str
    detail: str
    channel: str


@dataclass(slots=True)
class Body:
    """The parsed request: its items, whether it was a batch, and lines that were not JSON."""

    items: list[tuple[int, Json]]  # each item as decoded, before its adapter checks it
    batch: bool
    broken: list[Rejection]

    @property
    def count(self) -> int:
        return len(self.items) + len(self.broken)


def media_type(content_type: str | None) -> str:
    """The body's format ("json", "ndjson" or "form"); anything else is an `unsupported_media_type` refusal."""
    if not content_type:
        raise IntakeError("unsupported_media_type", "send Content-Type: application/json or application/x-ndjson")
    kind, _, params = content_type.partition(";")
    kind = kind.strip().lower()
    charset = params.lower().replace(" ", "").partition("charset=")[2].split(";")[0].strip('"')
    if charset and charset not in ("utf-8", "utf8"):
        raise IntakeError("unsupported_media_type", f"only UTF-8 bodies are accepted, not charset={charset}")
    if kind in JSON_TYPES:
        return "json"
    if kind in NDJSON_TYPES:
        return "ndjson"
    if kind == FORM_TYPE:
        return "form"
    raise IntakeError(
        "unsupported_media_type",
        f"{kind or 'this content type'} is not accepted; use application/json, application/x-ndjson "
        "or application/x-www-form-urlencoded",
    )


def parse_body(raw: bytes, fmt: str, *, channel: str) -> Body:
    """JSON (one object or an array) or NDJSON (one object per line; a broken line rejects only itself)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntakeError("invalid_utf8", f"the body is not valid UTF-8 (byte {exc.start})") from exc
    if fmt == "form":
        try:
            fields = parse_qsl(
                text,
                keep_blank_values=True,
                strict_parsing=bool(text),
                max_num_fields=MAX_FORM_FIELDS,
                errors="strict",  # a %-escape that is not UTF-8 is refused, as raw invalid UTF-8 is
            )
        except UnicodeDecodeError as exc:
            raise IntakeError("invalid_utf8", "a %-escaped value in the form is not valid UTF-8") from exc
        except ValueError as exc:
            raise IntakeError("invalid_form", f"the body is not a valid form: {exc}") from exc
        return Body([(0, dict(fields))], False, [])
    if fmt == "json":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise IntakeError("invalid_json", f"the body is not valid JSON: {exc}") from exc
        if isinstance(data, list):
            if not data:
                raise IntakeError("empty_batch", "the JSON array holds no events")
            return Body(list(enumerate(data)), True, [])
        return Body([(0, data)], False, [])
    items: list[tuple[int, Json]] = []
    broken: list[Rejection] = []
    index = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            items.append((index, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            broken.append(Rejection(index, None, "invalid_json", f"line is not valid JSON: {exc}", channel))
        index += 1
    if index == 0:
        raise IntakeError("empty_batch", "the NDJSON body holds no events")
    return Body(items, True, broken)


def adapter_for(source: SourceInfo, requested: str | None) -> Adapter:
    if not requested:
        return source.adapter
    try:
        return Adapter(requested)
    except ValueError:
        known = ", ".join(a.value for a in Adapter)
        raise IntakeError("unknown_adapter", f"adapter {requested!r} is not one of: {known}") from None


def prepare(
    body: Body, *, source: SourceInfo, adapter: Adapter, received_at: datetime, max_future: timedelta
) -> tuple[list[Record], list[Rejection]]:
    """Run every item through the adapter and validation; a foreign `source` refuses the whole request."""
    adapt: AdaptFn
    if adapter == Adapter.mapping:
        if not source.mapping:
            raise IntakeError("no_mapping", f"source {source.name!r} has no mapping for the mapping adapter")
        adapt = functools.partial(mapping.adapt, mapping=dict(source.mapping))
    else:
        adapt = ADAPTERS[adapter]
    records: list[Record] = []
    rejections = list(body.broken)
    channel = source.channel.value
    for index, payload in body.items:
        try:
            canonicals = adapt(payload)
        except AdapterError as exc:
            rejections.append(Rejection(index, None, exc.reason, exc.detail, channel))
            continue
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
            # A vendor payload whose fields have shapes the adapter does not know: the sender's data, not a bug here.
            detail = f"the {adapter.value} adapter does not understand this payload ({type(exc).__name__})"
            rejections.append(Rejection(index, None, "unsupported_payload", detail, channel))
            continue
        multi = len(canonicals) > 1
        for part, canonical in enumerate(canonicals):
            where = part if multi else None
            try:
                records.append(_record(canonical, index, where, source, received_at, max_future))
            except AdapterError as exc:
                rejections.append(Rejection(index, where, exc.reason, exc.detail, _channel_of(canonical, channel)))
    rejections.sort(key=lambda r: (r.index, r.part or 0))
    return records, rejections


def _channel_of(canonical: Canonical, default: str) -> str:
    value = canonical.get("channel")
    return value if isinstance(value, str) and value in _CHANNELS else default


def _record(
    canonical: Canonical, index: int, part: int | None, source: SourceInfo, now: datetime, max_future: timedelta
) -> Record:
    claimed = canonical.pop("source", None)
    if claimed is not None and claimed != source.name:
        raise IntakeError(
            "forbidden_source", f"this key belongs to source {source.name!r}; it cannot post for {str(claimed)[:64]!r}",
            index=index,
        )  # fmt: skip
    external_id = canonical.get("external_id")
    if external_id is not None and (not isinstance(external_id, str) or not external_id.strip()):
        raise AdapterError("invalid_field", "external_id: must be a non-empty string")
    if isinstance(external_id, str) and len(external_id) > MAX_ID_CHARS:
        raise AdapterError("invalid_field", f"external_id: at most {MAX_ID_CHARS} characters")
    if canonical.get("channel") is None:
        canonical["channel"] = source.channel
    if canonical.get("occurred_at") is None:
        canonical["occurred_at"] = now
    canonical["id"] = stable_event_id(source.name, external_id) if external_id else str(uuid.uuid4())
    canonical["source"], canonical["received_at"] = source.name, now
    try:
        feedback = Feedback.model_validate(canonical)
    except ValidationError as exc:
        raise AdapterError(*_explain(exc)) from None
    _check_limits(feedback, now, max_future)
    if source.redact and feedback.text:
        redacted = redact(feedback.text)
        if redacted.counts:
            feedback.text = redacted.text
            for kind, n in redacted.counts.items():
                metrics.REDACTED.labels(source.name, kind).inc(n)
    customer_id = feedback.customer.id
    try:
        # Pydantic writes the JSON itself (in Rust); orjson embeds those bytes as they are.
        data = orjson.Fragment(feedback.model_dump_json())
    except ValueError:  # pydantic refuses an unpaired surrogate when encoding
        raise AdapterError("invalid_utf8", "a string holds an unpaired surrogate (\\ud800-\\udfff escape)") from None
    event = CloudEvent(
        id=feedback.id,
        source=f"/sources/{source.name}",
        type=_RECEIVED,
        data=data,
        time=feedback.occurred_at,
        subject=customer_id,
    )
    try:
        headers, value = encode(event)
        key = (customer_id or feedback.id).encode()
    except (orjson.JSONEncodeError, UnicodeEncodeError):
        raise AdapterError("invalid_utf8", "a string holds an unpaired surrogate (\\ud800-\\udfff escape)") from None
    return Record(index, part, feedback.id, feedback.channel.value, key, headers, value)


def _check_limits(feedback: Feedback, now: datetime, max_future: timedelta) -> None:
    if feedback.occurred_at > now + max_future:
        raise AdapterError("invalid_timestamp", f"occurred_at: {feedback.occurred_at.isoformat()} is in the future")
    if feedback.occurred_at < EARLIEST:
        raise AdapterError("invalid_timestamp", f"occurred_at: {feedback.occurred_at.isoformat()} is before 2000")
    if len(feedback.metadata) > MAX_METADATA_ENTRIES:
        raise AdapterError("invalid_field", f"metadata: at most {MAX_METADATA_ENTRIES} entries")
    for name, value in feedback.metadata.items():
        if len(name) > MAX_METADATA_KEY or len(value) > MAX_METADATA_VALUE:
            raise AdapterError(
                "invalid_field",
                f"metadata: keys up to {MAX_METADATA_KEY}, values up to {MAX_METADATA_VALUE} characters",
            )
    if feedback.stage_hint is not None and len(feedback.stage_hint) > MAX_ID_CHARS:
        raise AdapterError("invalid_field", f"stage_hint: at most {MAX_ID_CHARS} characters")


def _explain(exc: ValidationError) -> tuple[str, str]:
    """A bounded reason code and a readable detail from pydantic's errors."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ())]
    kind = first.get("type", "")
    if kind == "extra_forbidden":
        reason = "unknown_field"
    elif kind == "missing":
        reason = "missing_field"
    elif loc and loc[0] == "scores":
        reason = "score_out_of_range" if kind in _RANGE_ERRORS else "invalid_field"
    elif loc and loc[0] == "text" and kind == "string_too_long":
        reason = "text_too_long"
    elif loc and loc[0] == "occurred_at":
        reason = "invalid_timestamp"
    else:
        reason = "invalid_field"
    detail = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())) or 'event'}: {e.get('msg', 'invalid')}" for e in errors[:3]
    )
    return reason, detail


def count_by(items: Iterable[Record | Rejection]) -> dict[tuple[str, str], int]:
    """(channel, reason) -> count, so metrics are incremented once per label set, not per event."""
    counts: dict[tuple[str, str], int] = {}
    for item in items:
        label = (item.channel, item.reason if isinstance(item, Rejection) else "")
        counts[label] = counts.get(label, 0) + 1
    return counts


_CHANNELS = frozenset({"call", "chat", "email", "social", "review", "survey", "app", "other"})
